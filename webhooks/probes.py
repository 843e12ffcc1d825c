"""`/healthz`, `/readyz` and `/metrics`, answered before any other middleware.

Load balancers, Docker and Prometheus reach a process by its address (`127.0.0.1:8000`,
`10.0.3.7:8000`), which is not among the public host names that ALLOWED_HOSTS lists, and over
plain HTTP inside the network, which the HTTPS redirect would turn away. These answers build no
URL and show no customer data, so they are given before host validation and the redirect.
`/metrics` is still closed unless a token or a network allow-list is set
(WEBHOOKS_METRICS_TOKEN, WEBHOOKS_METRICS_NETWORKS), and never public by default.
"""
import hmac
import ipaddress
import time

from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse

from .conf import setting


class ProbeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.routes = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics}

    def __call__(self, request):
        answer = self.routes.get(request.path_info.rstrip("/") or "/")
        if answer is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse({"detail": "Only GET is allowed here."}, status=405)
            response["Allow"] = "GET, HEAD"
            return response
        return answer(request)


def healthz(request) -> HttpResponse:
    """The process is up and answering: nothing else is checked (a liveness probe)."""
    return JsonResponse({"status": "ok"})


def readyz(request) -> HttpResponse:
    """Ready to do the work: the database answers, the broker answers, and a sweep ran recently
    (somewhere: beat and a worker are alive). 503 with the failing checks otherwise."""
    checks = {"database": _database(), "broker": _broker()}
    checks["sweep"] = _sweep() if checks["database"] == "ok" else "not checked: no database"
    ready = all(value == "ok" or value.startswith("ok,") for value in checks.values())
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503)


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - the answer is the report
        connection.close()
        return f"unreachable ({type(exc).__name__})"


def _broker() -> str:
    from inboundflow.celery import app

    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=2)
        return "ok"
    except Exception as exc:  # noqa: BLE001 - the answer is the report (never the URL: it may hold a password)
        return f"unreachable ({type(exc).__name__})"


def _sweep() -> str:
    from .metrics import last_sweep_at

    try:
        last = last_sweep_at()
    except Exception as exc:  # noqa: BLE001 - a table not migrated yet, say
        return f"unknown ({type(exc).__name__})"
    if last is None:
        return "never ran: is beat running, and a worker?"
    age = time.time() - last
    if age > setting("READY_SWEEP_AGE"):
        return f"last ran {age:.0f} s ago (more than {setting('READY_SWEEP_AGE'):.0f} s): is beat running, and a worker?"
    return f"ok, {age:.0f} s ago"


def metrics(request) -> HttpResponse:
    token, networks = setting("METRICS_TOKEN"), setting("METRICS_NETWORKS")
    if not token and not networks:
        return _plain(
            "Metrics are off. Set WEBHOOKS_METRICS_TOKEN (scrape with Authorization: Bearer <token>) "
            "or WEBHOOKS_METRICS_NETWORKS (addresses allowed to scrape).", 404,
        )
    if networks and not _address_allowed(request.META.get("REMOTE_ADDR", ""), networks):
        return _plain("This address may not read the metrics (WEBHOOKS_METRICS_NETWORKS).", 403)
    if token:
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            response = _plain("Send Authorization: Bearer <WEBHOOKS_METRICS_TOKEN>.", 401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    from .metrics import exposition

    try:
        body, content_type = exposition(request.META.get("HTTP_ACCEPT", ""))
    except DatabaseError as exc:  # the counters live there: say so, as /readyz would
        connection.close()
        return _plain(f"The database is unreachable ({type(exc).__name__}): no metrics until it is back.", 503)
    return HttpResponse(body, content_type=content_type)


def _address_allowed(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def _plain(text: str, status: int) -> HttpResponse:
    return HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")

