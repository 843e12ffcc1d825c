"""The app's settings: one place for their defaults and meaning.

`inboundflow/settings.py` reads each `WEBHOOKS_*` variable from the environment through
`from_environment`; code reads them at call time through `setting`, so tests can override them.
"""
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Switch event emission off entirely (benchmarks compare against this).
    "ENABLED": True,
    # Development and tests only: allow http:// URLs and loopback destinations.
    "ALLOW_HTTP": False,
    "ALLOW_LOOPBACK": False,
    # Fernet keys for signing secrets at rest; the first encrypts, all decrypt. Empty: a key
    # derived from DJANGO_SECRET_KEY.
    "SECRET_KEYS": [],
    # A CA bundle to verify receivers' certificates with, instead of certifi's (tests use it).
    "CA_BUNDLE": "",
    # Total time an attempt may take: connect, TLS, send, the whole response.
    "TIMEOUT": 10.0,
    # Delay before each attempt, in seconds; its length is the number of attempts.
    "RETRY_SCHEDULE": [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0],
    # Each delay is spread by up to this fraction either way.
    "RETRY_JITTER": 0.1,
    # The longest Retry-After we honour, in seconds.
    "RETRY_AFTER_MAX": 6 * 3600.0,
    # Consecutive failed deliveries that disable an integration.
    "DISABLE_AFTER": 10,
    # Consecutive failed deliveries after which the organization is told its hook is failing.
    "FAILING_AFTER": 3,
    # How often the sweep looks for due deliveries, in seconds.
    "SWEEP_INTERVAL": 5.0,
    # A delivery enqueued this long ago and still not attempted is enqueued again.
    "ENQUEUE_GRACE": 30.0,
    # How long a worker holds a delivery while attempting it (longer than TIMEOUT).
    "LEASE_SECONDS": 60.0,
    # Retries due sooner than this go to the broker with a countdown; later ones wait for
    # the sweep. Must stay below the broker's visibility timeout.
    "MAX_COUNTDOWN": 60.0,
    # Publish a save's doorbell from a background thread, so saves never wait on the broker.
    "RING_IN_BACKGROUND": True,
    # Requests in flight at once to one integration, in all (split between its drain slots).
    "ENDPOINT_CONCURRENCY": 16,
    # Drains that may work on one integration at once, in any worker processes or hosts: each
    # has ENDPOINT_CONCURRENCY // DRAIN_SLOTS requests in flight and claims up to twice that (at
    # most ENDPOINT_CONCURRENCY). A drain that finds a full batch rings for the next slot, so a
    # quiet integration costs one drain and a busy one spreads over two worker processes.
    "DRAIN_SLOTS": 2,
    # Threads per worker process that wait on receivers, shared by all integrations.
    "SEND_THREADS": 64,
    # How long one drain task works on one integration before it yields its slot.
    "DRAIN_SECONDS": 20.0,
    # How much of a response body we read, and how much of it we store.
    "RESPONSE_READ_MAX": 64 * 1024,
    "RESPONSE_EXCERPT_MAX": 1024,
    # After a signing secret is rotated, how long the previous one stays valid, in seconds.
    "SECRET_OVERLAP": 24 * 3600.0,
    # Finished deliveries older than this many days are deleted by the hourly prune.
    "RETENTION_DAYS": 30,
    # Show the "simulate a call" button (the run command's demo sets it).
    "DEMO": False,
    # Where customers reach this InboundFlow (its API), for links inside payloads: a body cut to
    # fit 100 KB links to the full text at {PUBLIC_URL}/api/calls/<call_id>/.
    "PUBLIC_URL": "http://localhost:8000",
    # /metrics is closed unless one of these is set: a token to send as `Authorization: Bearer`,
    # and/or the networks (CIDR, comma-separated) whose addresses may scrape. Both: both needed.
    "METRICS_TOKEN": "",
    "METRICS_NETWORKS": [],
    # /readyz fails when no sweep has run for this many seconds (beat or every worker is down).
    "READY_SWEEP_AGE": 60.0,
}

# List settings of text (the others are lists of seconds).
_TEXT_LISTS = {"SECRET_KEYS", "METRICS_NETWORKS"}


def setting(name: str) -> Any:
    return getattr(settings, f"WEBHOOKS_{name}", DEFAULTS[name])


def from_environment(env) -> dict[str, Any]:
    """The `WEBHOOKS_*` settings as django-environ reads them, typed like their defaults."""
    values = {}
    for name, default in DEFAULTS.items():
        key = f"WEBHOOKS_{name}"
        if isinstance(default, bool):
            values[key] = env.bool(key, default=default)
        elif isinstance(default, int):
            values[key] = env.int(key, default=default)
        elif isinstance(default, float):
            values[key] = env.float(key, default=default)
        elif isinstance(default, str):
            values[key] = env.str(key, default=default)
        elif name in _TEXT_LISTS:
            values[key] = env.list(key, default=default)
        else:
            values[key] = env.list(key, cast=float, default=default)
    return values
