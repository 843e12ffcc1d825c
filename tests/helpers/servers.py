"""Raw TCP servers on 127.0.0.1 whose behaviour a test writes as a function of the connection."""
import signal
import socket
import subprocess
import threading
import time

import redis


class RawServer:
    """A listening socket on 127.0.0.1 whose connections are handled by `handle(conn)`."""

    def __init__(self, handle):
        self.handle = handle
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def port(self):
        return self.sock.getsockname()[1]

    def url(self, host="127.0.0.1", scheme="http"):
        return f"{scheme}://{host}:{self.port}/hook"

    def _serve(self):
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            self.handle(conn, self)
        except OSError:
            pass
        finally:
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed.set()
        self.sock.close()


def trickling(payload: bytes, interval: float):
    """A handler that reads the request, then sends `payload` one byte every `interval` seconds."""

    def handle(conn, server):
        conn.recv(65536)
        for byte in payload:
            if server.closed.is_set():
                return
            conn.send(bytes([byte]))
            time.sleep(interval)

    return handle


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server a test starts on a spare port, and can stop and start again."""

    def __init__(self, directory):
        self.port = free_port()
        self.directory = directory
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while not _pings(client):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: Redis shuts down cleanly; SIGKILL: it vanishes, sockets reset, as in a crash."""
        self.process.send_signal(sig)
        self.process.wait(timeout=10)


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.ConnectionError:
        return False
