"""Holding an endpoint to its rate: a token bucket in the database, shared by every drain of the
integration in any worker process or host. (The pause a 429 or 503 with Retry-After asks for is
`Integration.paused_until`, set by engine._update_integration and read by the drain's `_Pace`.)

The bucket lives in PostgreSQL, not Redis: deliveries go on while Redis is down (a drain needs
only the database), and the rate must hold then too. Its clock is the database's
(`clock_timestamp()`), so hosts whose clocks disagree still share one rate. A drain takes tokens
before it claims, as many as it may send; what it cannot send yet stays due — waiting is not a
failure — and tokens it took but had nothing to spend on go back.

The bucket holds at most BURST_SECONDS of tokens: an idle endpoint is sent at most that many
requests at once, then the rate.
"""
import datetime as dt

from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Least
from django.utils import timezone

from .kinds import kind_info
from .models import Integration, RateBucket

BURST_SECONDS = 0.2


def rate_of(integration: Integration) -> float | None:
    """Requests per second at most: the integration's own, else its platform's default."""
    return integration.max_per_second or kind_info(integration.kind).max_per_second


def _now() -> dt.datetime:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0]
    return timezone.now()


def _capacity(rate: float) -> float:
    return max(1.0, rate * BURST_SECONDS)


def take(integration_id, *, rate: float, want: int) -> tuple[int, float]:
    """Take a batch of tokens — `want`, or as many as the bucket holds when full if fewer:
    (how many were granted, seconds until they may be spent).

    A full batch in the bucket is granted for now. Otherwise the batch is reserved: the balance
    goes below zero and the batch may be spent once it has refilled, so drains sharing the bucket
    are served in the order they asked (waiting for a batch to be there, the drain that asks at
    the right moment would take every batch and starve the others). One batch at most is
    reserved ahead: beyond that nothing is granted, and the wait says when to ask again.
    Waiting for a batch rather than a token keeps the drains of a slow endpoint from asking many
    times a second for one token each."""
    capacity = _capacity(rate)
    batch = min(want, int(capacity))
    with transaction.atomic():
        now = _now()
        bucket, _created = RateBucket.objects.select_for_update().get_or_create(
            integration_id=integration_id, defaults={"tokens": capacity, "updated_at": now}
        )
        elapsed = max(0.0, (now - bucket.updated_at).total_seconds())
        tokens = min(capacity, bucket.tokens + elapsed * rate)
        if tokens - batch >= -capacity:
            granted, wait = batch, max(0.0, (batch - tokens) / rate)
        else:
            granted, wait = 0, (batch - capacity - tokens) / rate
        bucket.tokens, bucket.updated_at = tokens - granted, now
        bucket.save(update_fields=["tokens", "updated_at"])
    return granted, wait


def give_back(integration_id, *, rate: float, tokens: int) -> None:
    """Tokens taken but not spent (fewer deliveries were due than were granted, or a reservation
    the drain will not wait for)."""
    if tokens > 0:
        RateBucket.objects.filter(integration_id=integration_id).update(
            tokens=Least(F("tokens") + tokens, Value(_capacity(rate)))
        )
