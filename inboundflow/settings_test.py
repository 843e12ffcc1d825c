"""Test settings: the real services on this machine, loopback receivers allowed, short retries.

The Celery worker processes that integration tests start use this module too, so the test
process and the workers agree. Every value can still be overridden from the environment.
"""
import os

for key, value in {
    "DJANGO_SECRET_KEY": "test-only-secret-key",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/inboundflow",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15",
    "DATABASE_CONN_MAX_AGE": "0",  # no connection outlives a live-server request
    "WEBHOOKS_ALLOW_HTTP": "1",
    "WEBHOOKS_ALLOW_LOOPBACK": "1",
    "WEBHOOKS_RETRY_SCHEDULE": "0,0.3",
    "WEBHOOKS_RETRY_JITTER": "0",
    "WEBHOOKS_SWEEP_INTERVAL": "1",
    "WEBHOOKS_ENQUEUE_GRACE": "3",
}.items():
    os.environ.setdefault(key, value)

from .settings import *  # noqa: E402,F401,F403
SILENCED_SYSTEM_CHECKS = ["webhooks.W001", "webhooks.W002", "webhooks.W003"]  # loopback and http are what the tests need
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user fixtures
