"""The `crm` console script run inside the test process: the same entry point (``crm.cli.main``,
which turns every error into one line on stderr and an exit code) with its own stdin, stdout,
stderr, environment and working folder, without starting a Python interpreter per command (a
subprocess costs about a second of CPU: the imports and the app). What only a real process shows
(the script is installed, its exit status) is checked once, in tests marked slow."""

import contextlib
import contextvars
import os
import subprocess
import sys

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
        with CliRunner().isolation(input=input, env=env) as (out, err, _), _alembic_to_stdout():
            # main() sets context variables (write intent): they stay in this copy
            contextvars.copy_context().run(call)
            sys.stdout.flush()  # what was written without click.echo (which flushes)
            sys.stderr.flush()
            stdout, stderr = out.getvalue(), err.getvalue()
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["crm", *args], code, stdout.decode("utf-8", "replace"),
                                       stderr.decode("utf-8", "replace"))


@contextlib.contextmanager
def _alembic_to_stdout():
    """Alembic's Config writes to the ``sys.stdout`` of when it was imported (a default argument):
    here it writes to the command's stdout, as in a process of its own."""
    from alembic.config import Config

    init = Config.__init__

    def with_stdout(self, *args, **kwargs):
        kwargs.setdefault("stdout", sys.stdout)
        init(self, *args, **kwargs)

    Config.__init__ = with_stdout
    try:
        yield
    finally:
        Config.__init__ = init
