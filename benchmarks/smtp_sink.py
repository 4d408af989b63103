"""A local SMTP server for the benchmarks, in a process of its own (as a real mail server is: in
the benchmark's own process its threads would take turns with the app's for the interpreter).

    python benchmarks/smtp_sink.py PORT COUNT_FILE

Accepts every message and appends one line per message to COUNT_FILE; runs until killed.
"""

import signal
import sys
import threading
from pathlib import Path

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, count_file: Path):
        self.count_file = count_file

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        with self.count_file.open("a") as out:
            out.write("1\n")
        return "250 OK"


def main() -> None:
    port, count_file = int(sys.argv[1]), Path(sys.argv[2])
    controller = Controller(Sink(count_file), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
