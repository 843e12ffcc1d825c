"""Everything that changes webhook state: emit, attempt, retry, disable, enable, redeliver.

Services take keyword-only arguments and are the only writers of Event, Delivery and Attempt
rows. Network I/O never happens inside a database transaction: an attempt claims its delivery
with a lease (one UPDATE), sends, then records the outcome in one short transaction.
"""
import datetime as dt
import logging
import time
import uuid
from functools import partial

from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import transport
from .conf import setting
from .events import EventType, build_data, sample_data
from .kinds import masked_url
from .models import Attempt, Delivery, Event, Integration
from .payloads import canonical_json, delivery_body
from .retry import Outcome, Verdict, decide
from .signing import signature_for_payload

logger = logging.getLogger(__name__)

Status = Delivery.Status


class ServiceError(Exception):
    """An action that cannot be done, with a message meant for the person who asked."""


def _enqueue_after_commit(delivery_ids: list, countdown: float | None = None) -> None:
    from .tasks import enqueue_deliveries

    if delivery_ids:
        transaction.on_commit(partial(enqueue_deliveries, delivery_ids, countdown=countdown), robust=True)


# --- Emitting ---------------------------------------------------------------------------


def event_emit(*, event_type: str, source) -> Event | None:
    """Write the event and one delivery per subscribed integration; enqueue after commit.

    Runs inside the transaction that saved `source`. Does nothing when no integration of the
    organization subscribes, and nothing when this event was already emitted for `source`.
    """
    if not setting("ENABLED"):
        return None
    integrations = [
        integration
        for integration in Integration.objects.filter(organization_id=source.organization_id)
        if integration.subscribes_to(event_type)
    ]
    if not integrations:
        return None
    now = timezone.now()
    data = canonical_json(build_data(event_type, source))
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = Event.objects.create(
                    organization_id=source.organization_id,
                    event_type=event_type,
                    occurred_at=now,
                    data=data,
                    source_id=source.pk,
                )
        except IntegrityError:
            logger.info("%s for %s was already emitted", event_type, source.pk)
            return None
        deliveries = Delivery.objects.bulk_create(
            [_new_delivery(event, integration, now) for integration in integrations]
        )
    _enqueue_after_commit([d.id for d in deliveries if d.status == Status.PENDING])
    return event


def _new_delivery(event: Event, integration: Integration, now: dt.datetime) -> Delivery:
    if integration.is_active:
        return Delivery(event=event, integration=integration, next_attempt_at=now, enqueued_at=now)
    return Delivery(event=event, integration=integration, status=Status.HELD)


# --- Attempting -------------------------------------------------------------------------


def delivery_headers(*, event_type: str, delivery_id, timestamp: int, secret: str, body: bytes) -> dict:
    headers = {
        "Content-Type": "application/json",
        "X-InboundFlow-Event": event_type,
        "X-InboundFlow-Delivery-Id": str(delivery_id),
        "X-InboundFlow-Timestamp": str(timestamp),
        "User-Agent": transport.USER_AGENT,
    }
    if secret:
        headers["X-InboundFlow-Signature"] = signature_for_payload(
            secret=secret, timestamp=timestamp, body=body
        )
    return headers


def _send(*, url: str, secret: str, event: Event, delivery_id) -> transport.TransportResult:
    body = delivery_body(event=event, delivery_id=delivery_id)
    headers = delivery_headers(
        event_type=event.event_type,
        delivery_id=delivery_id,
        timestamp=int(time.time()),
        secret=secret,
        body=body,
    )
    return transport.post(url, body=body, headers=headers)


def _claim(delivery_id, now: dt.datetime) -> bool:
    """Take the lease on a due, pending delivery; False when it is not ours to attempt."""
    lease = now + dt.timedelta(seconds=setting("LEASE_SECONDS"))
    return bool(
        Delivery.objects.filter(
            Q(locked_until__isnull=True) | Q(locked_until__lt=now),
            pk=delivery_id,
            status=Status.PENDING,
            next_attempt_at__lte=now + dt.timedelta(seconds=1),
        ).update(locked_until=lease)
    )


def delivery_attempt(*, delivery_id) -> Attempt | None:
    """Attempt one delivery if it is due and nobody else is attempting it."""
    if not _claim(delivery_id, timezone.now()):
        return None
    delivery = Delivery.objects.select_related("event", "integration").get(pk=delivery_id)
    if not delivery.integration.is_active and not delivery.event.is_test:
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Status.HELD, locked_until=None, next_attempt_at=None, enqueued_at=None
        )
        return None
    return _attempt(delivery)


def _attempt(delivery: Delivery) -> Attempt:
    integration = delivery.integration
    started_at = timezone.now()
    result = _send(
        url=integration.target_url, secret=integration.secret, event=delivery.event, delivery_id=delivery.id
    )
    now = timezone.now()
    number = delivery.attempts + 1
    outcome = decide(
        result,
        attempts_in_round=number - delivery.round_start,
        schedule=setting("RETRY_SCHEDULE"),
        jitter=setting("RETRY_JITTER"),
        retry_after_max=setting("RETRY_AFTER_MAX"),
        now=now,
    )
    if delivery.event.is_test and outcome.verdict is Verdict.RETRY:
        outcome = Outcome(Verdict.FAILED)  # a test shows its one outcome, right away
    logger.info(
        "delivery %s attempt %s to %s: %s -> %s",
        delivery.id, number, masked_url(integration.target_url),
        result.status_code or result.error_class, outcome.verdict.value,
    )

    def record() -> Attempt:
        with transaction.atomic():
            attempt = Attempt.objects.create(
                delivery=delivery,
                number=number,
                started_at=started_at,
                duration_ms=result.duration_ms,
                succeeded=result.ok,
                status_code=result.status_code,
                error_class=result.error_class or ("" if result.ok else Attempt.ErrorClass.HTTP),
                error_message=result.error_message,
                response_excerpt=result.excerpt,
            )
            _apply_outcome(delivery, outcome, number=number, now=now)
            if not delivery.event.is_test:
                _update_integration(integration, result, outcome, now=now)
        return attempt

    # The request was made: losing its record would send it again. Survive a dropped connection.
    return _with_reconnect(record)


def _with_reconnect(work, tries: int = 4):
    for attempt_number in range(1, tries + 1):
        try:
            return work()
        except (OperationalError, InterfaceError):
            if attempt_number == tries:
                raise
            logger.warning("database connection lost while recording; reconnecting (%s/%s)", attempt_number, tries)
            connection.close()
            time.sleep(0.25 * attempt_number)


def _apply_outcome(delivery: Delivery, outcome: Outcome, *, number: int, now: dt.datetime) -> None:
    fields: dict = {"attempts": number, "locked_until": None}
    if outcome.verdict is Verdict.RETRY:
        due = now + dt.timedelta(seconds=outcome.delay)
        short = outcome.delay <= setting("MAX_COUNTDOWN")
        fields.update(next_attempt_at=due, enqueued_at=due if short else None)
        if short:
            _enqueue_after_commit([delivery.id], countdown=outcome.delay)
    else:
        status = Status.SUCCEEDED if outcome.verdict is Verdict.SUCCEEDED else Status.FAILED
        fields.update(status=status, completed_at=now, next_attempt_at=None, enqueued_at=None)
    Delivery.objects.filter(pk=delivery.pk).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)


def _update_integration(
    integration: Integration, result: transport.TransportResult, outcome: Outcome, *, now: dt.datetime
) -> None:
    hooks = Integration.objects.filter(pk=integration.pk)
    if outcome.verdict is Verdict.SUCCEEDED:
        hooks.update(consecutive_failures=0, last_success_at=now)
        return
    error = (result.error_message or result.error_class)[:500]
    if outcome.verdict is Verdict.RETRY:
        hooks.update(last_failure_at=now, last_error=error)
        return
    # A failed delivery: count it under a row lock so concurrent failures are all counted.
    locked = hooks.select_for_update().get()
    locked.consecutive_failures += 1
    locked.last_failure_at, locked.last_error = now, error
    reason = outcome.disable_reason
    limit = setting("DISABLE_AFTER")
    if not reason and locked.consecutive_failures >= limit:
        reason = f"Disabled automatically after {limit} consecutive failed deliveries. Last error: {error}"
    if reason and locked.is_active:
        locked.state, locked.disabled_at, locked.disabled_reason = Integration.State.DISABLED, now, reason[:500]
        logger.warning("integration %s disabled: %s", integration.pk, reason)
    locked.save(
        update_fields=[
            "consecutive_failures", "last_failure_at", "last_error",
            "state", "disabled_at", "disabled_reason", "updated_at",
        ]
    )


# --- Tests, redelivery, enabling ----------------------------------------------------------


def _test_event_type(integration: Integration, event_type: str | None) -> str:
    if event_type:
        if event_type not in EventType.values:
            raise ServiceError(f"Unknown event type {event_type!r}.")
        return event_type
    return integration.event_types[0] if integration.event_types else EventType.CALL_COMPLETED


def integration_send_test(*, integration: Integration, event_type: str | None = None) -> Attempt:
    """Send a sample event now, record it as a test, and return the attempt."""
    event_type = _test_event_type(integration, event_type)
    now = timezone.now()
    with transaction.atomic():
        event = Event.objects.create(
            organization_id=integration.organization_id,
            event_type=event_type,
            occurred_at=now,
            data=canonical_json(sample_data(event_type)),
            is_test=True,
        )
        delivery = Delivery.objects.create(
            event=event,
            integration=integration,
            next_attempt_at=now,
            enqueued_at=now,
            locked_until=now + dt.timedelta(seconds=setting("LEASE_SECONDS")),
        )
    return _attempt(delivery)


def url_send_sample(*, organization_id, url: str, secret: str, event_type: str) -> transport.TransportResult:
    """"Test webhook" before the integration is saved: sent the same way, recorded nowhere."""
    event = Event(
        organization_id=organization_id,
        event_type=event_type,
        occurred_at=timezone.now(),
        data=canonical_json(sample_data(event_type)),
        is_test=True,
    )
    return _send(url=url, secret=secret, event=event, delivery_id=uuid.uuid4())


def delivery_redeliver(*, delivery: Delivery) -> None:
    """Send a delivery again, with the same delivery_id and body, starting a new round."""
    if delivery.status == Status.PENDING:
        raise ServiceError("This delivery is already waiting to be sent.")
    if not delivery.integration.is_active:
        raise ServiceError("The integration is disabled: re-enable it first.")
    now = timezone.now()
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Status.PENDING,
            round_start=F("attempts"),
            next_attempt_at=now,
            enqueued_at=now,
            completed_at=None,
            locked_until=None,
        )
        _enqueue_after_commit([delivery.pk])


def integration_release_held(*, integration: Integration) -> int:
    """Send the deliveries held while the integration was disabled. Returns how many."""
    now = timezone.now()
    with transaction.atomic():
        held = Delivery.objects.select_for_update().filter(integration=integration, status=Status.HELD)
        ids = list(held.values_list("id", flat=True))
        Delivery.objects.filter(pk__in=ids).update(
            status=Status.PENDING, round_start=F("attempts"), next_attempt_at=now, enqueued_at=now
        )
        _enqueue_after_commit(ids)
    return len(ids)


def integration_enable(*, integration: Integration, send_held: bool = False) -> int:
    """Re-enable; with `send_held`, also send what was held. Returns how many were released."""
    with transaction.atomic():
        Integration.objects.filter(pk=integration.pk).update(
            state=Integration.State.ACTIVE,
            disabled_at=None,
            disabled_reason="",
            consecutive_failures=0,
            updated_at=timezone.now(),
        )
        integration.refresh_from_db()
        released = integration_release_held(integration=integration) if send_held else 0
    logger.info("integration %s enabled, %s held deliveries released", integration.pk, released)
    return released


def integration_disable(*, integration: Integration, reason: str) -> None:
    now = timezone.now()
    Integration.objects.filter(pk=integration.pk, state=Integration.State.ACTIVE).update(
        state=Integration.State.DISABLED, disabled_at=now, disabled_reason=reason[:500], updated_at=now
    )
    integration.refresh_from_db()


# --- Housekeeping -------------------------------------------------------------------------


def deliveries_sweep(*, limit: int = 1000) -> int:
    """Enqueue due deliveries: retries whose time has come, and any whose enqueue was lost."""
    now = timezone.now()
    stale = now - dt.timedelta(seconds=setting("ENQUEUE_GRACE"))
    with transaction.atomic():
        due = (
            Delivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
            .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
            .order_by("next_attempt_at")
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[:limit])
        Delivery.objects.filter(pk__in=ids).update(enqueued_at=now)
        _enqueue_after_commit(ids)
    if ids:
        logger.info("sweep enqueued %s due deliveries", len(ids))
    return len(ids)


def records_prune(*, now: dt.datetime | None = None) -> int:
    """Delete finished deliveries (with their attempts) and events past the retention."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=setting("RETENTION_DAYS"))
    deleted, _ = Delivery.objects.filter(
        status__in=[Status.SUCCEEDED, Status.FAILED], completed_at__lt=cutoff
    ).delete()
    Event.objects.filter(occurred_at__lt=cutoff, deliveries__isnull=True).delete()
    return deleted
