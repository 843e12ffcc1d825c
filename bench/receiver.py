"""A fast loopback webhook receiver for the benchmark: several processes on one port
(SO_REUSEPORT), keep-alive, every signature verified, every receipt written down.

Each process appends "receipt_time delivery_id verified" lines to its own file; the benchmark
reads them all to count receipts, duplicates and failed verifications. A raw asyncio protocol
keeps the per-request cost near the minimum Python allows, so that the receiver is not the
bottleneck (the benchmark reports its CPU time next to the figures to show it).
"""
import asyncio
import signal
import socket
import sys
import time

from webhooks.signing import signature_is_valid

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


class Protocol(asyncio.Protocol):
    def __init__(self, server):
        self.server = server
        self.buffer = b""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            headers = {}
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            self.server.record(headers, body)
            if self.server.mode == "ok":
                self.transport.write(RESPONSE)
            # mode "silent": read the request, never answer


class Server:
    def __init__(self, out_path: str, secret: str, mode: str):
        self.out = open(out_path, "a", buffering=1 << 16)
        self.secret = secret
        self.mode = mode

    def record(self, headers, body):
        timestamp = headers.get("x-inboundflow-timestamp", "")
        verified = timestamp.isdigit() and signature_is_valid(
            secret=self.secret, timestamp=timestamp, body=body, signature=headers.get("x-inboundflow-signature", "")
        )
        self.out.write(f"{time.time():.6f} {headers.get('x-inboundflow-delivery-id', '-')} {int(verified)}\n")

    def flush(self):
        self.out.flush()


async def serve(port: int, out_path: str, secret: str, mode: str):
    server = Server(out_path, secret, mode)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await loop.create_server(lambda: Protocol(server), sock=sock)

    async def flusher():
        while True:
            await asyncio.sleep(0.1)
            server.flush()

    task = asyncio.create_task(flusher())
    await stop.wait()
    task.cancel()
    server.flush()


if __name__ == "__main__":
    port, out_path, secret, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    asyncio.run(serve(port, out_path, secret, mode))
