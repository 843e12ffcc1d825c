"""Raw TCP servers on 127.0.0.1 whose behaviour a test writes as a function of the connection."""
import socket
import threading
import time


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
