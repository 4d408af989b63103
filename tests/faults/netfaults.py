"""Real network faults on loopback: a TCP proxy that can be severed, and misbehaving SMTP servers."""

import contextlib
import socket
import threading

from tests.mailserver import free_port  # noqa: F401 (the fault tests import it from here)


def _listen(port: int) -> socket.socket:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    listener.settimeout(0.05)
    return listener


def _hang_up(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class _Server:
    """Accept connections on a fixed loopback port in a thread, until ``stop``."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.connections: list[socket.socket] = []
        self.accepted = threading.Event()
        self._lock = threading.Lock()
        self._stopping: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None

    @property
    def running(self) -> bool:
        return self._listener is not None

    def start(self):
        self._listener = _listen(self.port)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop,
                                        args=(self._listener, self._stopping), daemon=True)
        self._thread.start()
        return self

    def _accept_loop(self, listener: socket.socket, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            with self._lock:
                self.connections.append(conn)
            self.accepted.set()
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Refuse new connections (the port is closed) and cut every open one."""
        if self._listener is None:
            return
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()
        self._listener = None
        with self._lock:
            connections, self.connections = self.connections, []
        for conn in connections:
            _hang_up(conn)


class TcpProxy(_Server):
    """Loopback TCP proxy to ``upstream``: ``stop`` severs it like a network outage or a server
    crash (connections refused, open ones cut), ``start`` mends it on the same port."""

    def __init__(self, upstream_host: str, upstream_port: int):
        super().__init__()
        self.upstream = (upstream_host, upstream_port)

    sever = _Server.stop
    restore = _Server.start

    def handle(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _hang_up(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self.connections.append(upstream)
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        self._pump(client, upstream)

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            _hang_up(source)
            _hang_up(target)


class SilentServer(_Server):
    """Accepts the connection and never says a word (a hung mail server)."""

    def handle(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                pass


class ScriptedSmtp(_Server):
    """Speaks just enough SMTP to fail in one chosen way.

    ``fail_at``: "connect" answers 421 instead of the greeting and hangs up; "ehlo" greets, then
    answers 421 to EHLO/HELO and hangs up; "data-stall" accepts the message and never answers
    after its final dot.
    """

    def __init__(self, fail_at: str, port: int | None = None):
        super().__init__(port)
        self.fail_at = fail_at
        self.messages_started = 0

    def handle(self, conn: socket.socket) -> None:
        try:
            reader = conn.makefile("rb")
            if self.fail_at == "connect":
                conn.sendall(b"421 4.3.2 Service not available, closing transmission channel\r\n")
                return
            conn.sendall(b"220 faults.test ESMTP\r\n")
            for raw in reader:
                verb = raw.strip().split(b" ")[0].upper()
                if verb in (b"EHLO", b"HELO") and self.fail_at == "ehlo":
                    conn.sendall(b"421 4.3.2 Service not available, closing transmission channel\r\n")
                    return
                if verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    self.messages_started += 1
                    for line in reader:
                        if line == b".\r\n":
                            break
                    # data-stall: the message is in, the answer never comes
                    while conn.recv(65536):
                        pass
                    return
                if verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                conn.sendall(b"250 ok\r\n")
        except OSError:
            pass
        finally:
            _hang_up(conn)
