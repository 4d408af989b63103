"""The `crm` console script run inside the test process: the same entry point (``crm.cli.main``,
which turns every error into one line on stderr and an exit code) with its own stdin, stdout,
stderr, environment and working folder, without starting a Python interpreter per command (a
subprocess costs about a second of CPU: the imports and the app). What only a real process shows
(the script is installed, its exit status) is checked once, in tests marked slow."""

import contextvars
import os
import subprocess

from click.testing import CliRunner


def run_crm(*args, env: dict, cwd=None, input: str | None = None) -> subprocess.CompletedProcess:
    """``crm *args`` with ``env`` (overrides of the environment), as ``subprocess.run`` answers."""
    from crm.cli import main

    code = 0

    def call():
        nonlocal code
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)

    here = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with CliRunner().isolation(input=input, env=env) as (out, err, _):
            # main() sets context variables (write intent): they stay in this copy
            contextvars.copy_context().run(call)
            stdout, stderr = out.getvalue(), err.getvalue()
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["crm", *args], code, stdout.decode("utf-8", "replace"),
                                       stderr.decode("utf-8", "replace"))
