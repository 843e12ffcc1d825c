"""A webhook receiver that checks what the documentation promises, for tests and the demo.

It verifies every header and the signature the way the documented Node snippet does (the body
is a fixed point of JSON.parse/JSON.stringify, so hashing the raw bytes is equivalent; the
tests prove that equivalence with Node itself). Responses can be scripted per request.
"""
import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from webhooks.signing import signature_is_valid

USER_AGENT = "InboundFlow-Webhook/1.0"


@dataclass
class Received:
    headers: dict
    body: bytes
    problems: list
    at: float = field(default_factory=time.time)
    done_at: float | None = None  # when the response was sent

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def delivery_id(self) -> str:
        return self.headers.get("X-InboundFlow-Delivery-Id", "")


def contract_problems(headers: dict, body: bytes, secret: str | None, *, now: float | None = None) -> list[str]:
    """What in this request breaks the published contract (empty when nothing does)."""
    problems = []
    try:
        payload = json.loads(body)
    except ValueError as error:
        return [f"body is not JSON: {error}"]
    if headers.get("Content-Type") != "application/json":
        problems.append(f"Content-Type is {headers.get('Content-Type')!r}")
    if headers.get("User-Agent") != USER_AGENT:
        problems.append(f"User-Agent is {headers.get('User-Agent')!r}")
    if headers.get("X-InboundFlow-Event") != payload.get("event"):
        problems.append("X-InboundFlow-Event differs from the body's event")
    delivery_id = headers.get("X-InboundFlow-Delivery-Id", "")
    if delivery_id != payload.get("delivery_id"):
        problems.append("X-InboundFlow-Delivery-Id differs from the body's delivery_id")
    try:
        uuid.UUID(delivery_id)
    except ValueError:
        problems.append(f"delivery id {delivery_id!r} is not a UUID")
    timestamp = headers.get("X-InboundFlow-Timestamp", "")
    if not timestamp.isdigit() or abs(int(timestamp) - (now or time.time())) > 300:
        problems.append(f"X-InboundFlow-Timestamp {timestamp!r} is not the current unix time")
    signature = headers.get("X-InboundFlow-Signature")
    if secret:
        if not signature or not timestamp.isdigit():
            problems.append("signature missing")
        elif not signature_is_valid(secret=secret, timestamp=timestamp, body=body, signature=signature):
            problems.append("signature does not verify")
    elif signature is not None:
        problems.append("signature sent although no secret is set")
    if set(payload) != {"event", "timestamp", "organization_id", "delivery_id", "data"}:
        problems.append(f"envelope keys are {sorted(payload)}")
    return problems


# A responder gets the received request and returns (status, body, extra headers).
Responder = Callable[[Received], tuple[int, bytes, dict]]


def always(status: int = 200) -> Responder:
    return lambda received: (status, b'{"ok":true}', {})


class Receiver:
    """A threaded HTTP(S) server on 127.0.0.1 that records and checks what it receives."""

    def __init__(self, *, secret: str | None = None, responder: Responder | None = None,
                 ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1", port: int = 0):
        self.secret = secret
        self.responder = responder or always(200)
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if ssl_context else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host}:{port}/hook"

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Wait until `count` requests have arrived (or the timeout), and return them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        with self._lock:
            return list(self.received)

    def _record(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)

    def _handler_class(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the sender went away mid-request: nothing was delivered
                    self.close_connection = True
                    return
                headers = {key: value for key, value in self.headers.items()}
                received = Received(headers, body, contract_problems(headers, body, receiver.secret))
                receiver._record(received)
                try:
                    status, payload, extra = receiver.responder(received)
                    self.send_response(status)
                    for key, value in extra.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    received.done_at = time.time()

            def log_message(self, *args):
                pass

        return Handler
