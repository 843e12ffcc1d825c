"""The HTTP edge: one POST under a total deadline, through requests' HTTPAdapter.

`post` never raises: every outcome, a response or an error, comes back as a `TransportResult`.

- SSRF: the host is resolved once, every address is checked by the rules of
  destinations.py (the same as at save time), and the connection goes to the checked address
  while TLS is still verified against the hostname (requests-hardened's pinning design). The
  request goes to the adapter itself, never through a Session: there is no code path that
  follows a redirect, and no cookie jar shared between deliveries.
- Total deadline: requests only knows per-operation timeouts, so a server trickling a byte a
  second would never time out. A watchdog (one reaper thread per process) shuts the attempt's
  sockets down when the deadline passes, whatever phase the request is in.
- Bounded read: at most WEBHOOKS_RESPONSE_READ_MAX bytes of the body are read.
"""
import heapq
import os
import re
import socket
import threading
import time
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError

from .conf import setting
from .destinations import DestinationError, resolve, url_parts


@dataclass(frozen=True)
class TransportResult:
    status_code: int | None
    error_class: str  # "" when a response came back; else timeout / connection / tls / dns / refused
    error_message: str
    excerpt: str
    duration_ms: int
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _Deadline:
    """Shuts down every socket of one attempt once the attempt's time is up."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expires = time.monotonic() + seconds
        self.expired = False
        self.finished = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return max(0.001, self.expires - time.monotonic())

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self.expired:
                _shutdown(sock)
            else:
                self._sockets.append(sock)

    def expire(self) -> None:
        with self._lock:
            if self.finished:
                return
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)

    def __enter__(self) -> "_Deadline":
        _local.deadline = self
        _reaper.add(self)
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            self.finished = True
            self._sockets.clear()
        _local.deadline = None


class _Reaper:
    """One thread per process that expires deadlines in time order (no thread per attempt)."""

    def __init__(self):
        self._heap: list = []
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = None

    def add(self, deadline: _Deadline) -> None:
        with self._condition:
            if self._pid != os.getpid():  # first use in this process (or after a fork)
                self._heap, self._pid = [], os.getpid()
                self._thread = threading.Thread(target=self._run, name="webhooks-deadlines", daemon=True)
                self._thread.start()
            # Wake the thread only when this deadline comes first: it already sleeps until the
            # earliest one (every attempt has the same length, so that is almost never).
            earliest = not self._heap or deadline.expires < self._heap[0][0]
            heapq.heappush(self._heap, (deadline.expires, id(deadline), deadline))
            if earliest:
                self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap:
                    self._condition.wait()
                expires, _, deadline = self._heap[0]
                wait = expires - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                heapq.heappop(self._heap)
            deadline.expire()


_reaper = _Reaper()


def _shutdown(sock: socket.socket) -> None:
    try:
        # The plain socket's shutdown, also for an SSL socket: it unblocks a pending read.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


_local = threading.local()


def _watch(sock) -> None:
    deadline = getattr(_local, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


class _WatchedConnectionMixin:
    """Hands every socket this connection uses, new or kept alive, to the current deadline.

    The TLS handshake needs no watchdog: CPython runs the whole handshake against the socket
    timeout, which requests sets to the time left (tests/test_transport.py proves it).
    """

    def _new_conn(self):
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def connect(self):
        super().connect()
        _watch(self.sock)

    def request(self, *args, **kwargs):
        _watch(self.sock)
        return super().request(*args, **kwargs)


class _HTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _HTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    """Pins each request to an address checked by destinations.resolve.

    The pool is keyed by the checked IP; the Host header, SNI and certificate check keep the
    hostname, so TLS is verified against the name the customer typed.
    """

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        hostname, port = host_params["host"], host_params["port"]
        deadline = getattr(_local, "deadline", None)
        default_port = 443 if host_params["scheme"] == "https" else 80
        ip = resolve(hostname, port or default_port, timeout=deadline.remaining() if deadline else 10.0)[0]
        request.headers = CaseInsensitiveDict(request.headers or {})
        host_header = f"[{hostname}]" if ":" in hostname else hostname
        request.headers["Host"] = host_header if port is None else f"{host_header}:{port}"
        if host_params["scheme"] == "https":
            pool_kwargs["assert_hostname"] = hostname
            pool_kwargs["server_hostname"] = hostname
        host_params["host"] = f"[{ip}]" if ip.version == 6 else str(ip)
        return host_params, pool_kwargs


USER_AGENT = "InboundFlow-Webhook/1.0"


def _adapter() -> _GuardedAdapter:
    """One adapter (its keep-alive pools) per thread.

    Requests go straight to the adapter, not through a `requests.Session`: a session would
    follow redirects unless told not to, replay cookies that one receiver set to the next
    delivery for the same host (another customer's hook on hooks.zapier.com, say), read proxy
    and netrc settings from the environment, and merge its defaults into every request — work
    and risk that a webhook sender needs none of. The adapter cannot follow a redirect at all.
    """
    adapter = getattr(_local, "adapter", None)
    if adapter is None:
        adapter = _local.adapter = _GuardedAdapter()
    return adapter


def _prepared(url: str, body: bytes, headers: dict[str, str]) -> requests.PreparedRequest:
    request = requests.PreparedRequest()
    request.prepare(method="POST", url=url, headers=headers, data=body)
    return request


def _read_bounded(response: requests.Response, limit: int) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=8192):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def _excerpt(raw: bytes) -> str:
    text = raw[: setting("RESPONSE_EXCERPT_MAX")].decode("utf-8", errors="replace")
    return text.replace("\x00", "\ufffd")


_DESTINATION_ERROR_CLASS = {"dns_timeout": "timeout", "unresolvable": "dns"}


def _error_class(exc: Exception, deadline: _Deadline) -> str:
    if isinstance(exc, DestinationError):
        return _DESTINATION_ERROR_CLASS.get(exc.code, "refused")
    if deadline.expired or isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.SSLError):
        return "tls"
    if isinstance(exc, requests.exceptions.InvalidURL):
        return "refused"
    cause = exc
    while cause is not None:
        if isinstance(cause, (NameResolutionError, socket.gaierror)):
            return "dns"
        cause = cause.__cause__ or cause.__context__
    if "resolve" in str(exc):
        return "dns"
    return "connection"


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float | None = None) -> TransportResult:
    """POST `body` to `url` and say what happened, within `timeout` seconds in all."""
    started = time.monotonic()
    seconds = timeout if timeout is not None else float(setting("TIMEOUT"))

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        url_parts(url)
    except DestinationError as refusal:
        return TransportResult(None, "refused", str(refusal), "", elapsed_ms())

    headers = {**headers, "User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    with _Deadline(seconds) as deadline:
        try:
            response = _adapter().send(
                _prepared(url, body, headers),
                stream=True,
                timeout=(deadline.remaining(), deadline.remaining()),
                verify=setting("CA_BUNDLE") or True,
            )
            try:
                raw = _read_bounded(response, setting("RESPONSE_READ_MAX"))
            finally:
                response.close()
        except Exception as exc:  # noqa: BLE001 - the transport never raises
            error_class = _error_class(exc, deadline)
            message = f"no response within {seconds:g} s" if error_class == "timeout" else _describe(exc)
            return TransportResult(None, error_class, message, "", elapsed_ms())
        if deadline.expired:
            # Cut mid-response: what was read may look complete (EOF ends the headers).
            return TransportResult(None, "timeout", f"no complete response within {seconds:g} s", "", elapsed_ms())
    return TransportResult(
        status_code=response.status_code,
        error_class="",
        error_message=_status_message(response),
        excerpt=_excerpt(raw),
        duration_ms=elapsed_ms(),
        retry_after=response.headers.get("Retry-After"),
    )


def _status_message(response: requests.Response) -> str:
    if 200 <= response.status_code < 300:
        return ""
    return f"HTTP {response.status_code} {response.reason or ''}".strip()[:500]


# urllib3 puts the request path in its messages; hook paths are credentials.
_URL_IN_MESSAGE = re.compile(r"(with url|url): \S+")


def _describe(exc: Exception) -> str:
    if isinstance(exc, DestinationError):
        return str(exc)
    return _URL_IN_MESSAGE.sub(r"\1: <hidden>", f"{type(exc).__name__}: {exc}")[:500]
