"""The delivery engine: claim due deliveries in batches, send them concurrently, record the
outcomes in one transaction, and ring for more.

Work is pulled from the database, per integration. A Celery message only rings a doorbell:
"integration X may have due deliveries". The `drain` that answers holds one of X's drain slots
(PostgreSQL advisory locks, WEBHOOKS_DRAIN_SLOTS of them), so one endpoint is drained by at most
that many tasks at a time, in any processes or hosts, with at most WEBHOOKS_ENDPOINT_CONCURRENCY
requests in flight between them: a dead endpoint ties up its own drains and those few sender
threads, never everyone else's. Each batch costs a handful of queries however
large it is (claim, load, insert attempts, update deliveries, update the integration).
"""
import atexit
import datetime as dt
import logging
import os
import queue
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from . import alerts, metrics, pacing, rows, transport
from .conf import setting
from .kinds import masked_url
from .models import Alert, Attempt, Delivery, Event, Integration
from .payloads import delivery_body
from .retry import Outcome, Verdict, decide, parse_retry_after
from .rows import insert_rows
from .signing import signature_for_payload, standard_signature

logger = logging.getLogger(__name__)
Status = Delivery.Status


# --- Sending ---------------------------------------------------------------------------------


def delivery_headers(*, event_type: str, delivery_id, timestamp: int, signature: str = "", standard_signature: str = "") -> dict:
    """The headers of one attempt: the documented ones (the signature only when the hook has a
    secret), and the Standard Webhooks ones beside them over the same bytes."""
    headers = {
        "Content-Type": "application/json",
        "X-InboundFlow-Event": event_type,
        "X-InboundFlow-Delivery-Id": str(delivery_id),
        "X-InboundFlow-Timestamp": str(timestamp),
        "User-Agent": transport.USER_AGENT,
        "webhook-id": str(delivery_id),
        "webhook-timestamp": str(timestamp),
    }
    if signature:
        headers["X-InboundFlow-Signature"] = signature
    if standard_signature:
        headers["webhook-signature"] = standard_signature
    return headers


def send(*, integration: Integration, event: Event, delivery_id) -> tuple[transport.TransportResult, dict]:
    """POST one delivery; returns what happened and the headers that were sent."""
    body = delivery_body(event=event, delivery_id=delivery_id)
    timestamp = int(time.time())
    documented, standard = integration.signing_secrets(timestamp)
    headers = delivery_headers(
        event_type=event.event_type, delivery_id=delivery_id, timestamp=timestamp,
        signature=signature_for_payload(secret=documented, timestamp=timestamp, body=body) if documented else "",
        standard_signature=standard_signature(secrets=standard, message_id=str(delivery_id), timestamp=timestamp, body=body),
    )
    return transport.post(integration.target_url, body=body, headers=headers), headers


_senders: ThreadPoolExecutor | None = None


def _sender_pool() -> ThreadPoolExecutor:
    """Threads that wait on receivers (created in the worker process, never before a fork)."""
    global _senders
    if _senders is None:
        _senders = ThreadPoolExecutor(max_workers=setting("SEND_THREADS"), thread_name_prefix="webhooks-send")
    return _senders


def _send_one(delivery: Delivery) -> tuple[Delivery, transport.TransportResult, dt.datetime, dict]:
    started_at = timezone.now()
    result, headers = send(integration=delivery.integration, event=delivery.event, delivery_id=delivery.id)
    return delivery, result, started_at, headers


def _send_in_turn(deliveries: list[Delivery]) -> list:
    return [_send_one(delivery) for delivery in deliveries]


class _Flight:
    """A batch on the wire: its sends started on the sender threads, their results not yet
    awaited, so that the drain can do its own SQL meanwhile. At most `lanes` requests are in
    flight at once: a larger batch is dealt into that many lanes, each sent in turn."""

    def __init__(self, deliveries: list[Delivery], lanes: int):
        self._lanes = max(1, min(lanes, len(deliveries)))
        self._futures = [
            _sender_pool().submit(_send_in_turn, deliveries[lane:: self._lanes]) for lane in range(self._lanes)
        ]

    def land(self) -> list:
        """Wait for every send of the batch (each ends within the transport's deadline); the
        results in the batch's order."""
        by_lane = [future.result() for future in self._futures]
        landed = [None] * sum(len(results) for results in by_lane)
        for lane, results in enumerate(by_lane):
            landed[lane:: self._lanes] = results
        return landed


# --- Claiming ------------------------------------------------------------------------------


_CLAIM_SQL = """
UPDATE webhooks_delivery SET locked_until = %s
WHERE id IN (
    SELECT id FROM webhooks_delivery
    WHERE {where} AND status = 'pending' AND next_attempt_at <= %s
      AND (locked_until IS NULL OR locked_until < %s)
    ORDER BY next_attempt_at LIMIT %s {lock}
)
RETURNING {columns}
"""


def claim(*, limit: int, integration_id=None, delivery_ids=None) -> list[Delivery]:
    """Lease up to `limit` due pending deliveries (of one integration, or among `delivery_ids`),
    with their events and integrations: three plain queries, each integration loaded once."""
    now = timezone.now()
    lease = now + dt.timedelta(seconds=setting("LEASE_SECONDS"))
    if integration_id is not None:
        where, params = "integration_id = %s", [_db_uuid(integration_id)]
    else:
        ids = [_db_uuid(pk) for pk in delivery_ids]
        where, params = f"id IN ({', '.join(['%s'] * len(ids))})", ids
    lock = "FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    sql = _CLAIM_SQL.format(where=where, lock=lock, columns=rows.columns(Delivery))
    at = connection.ops.adapt_datetimefield_value  # the column's own format (SQLite stores text)
    with connection.cursor() as cursor:  # the leased rows themselves, read back by the UPDATE
        cursor.execute(sql, [at(lease), *params, at(now), at(now), limit])
        deliveries = rows.instances(Delivery, cursor.fetchall())
    if not deliveries:
        return []
    events = _by_id(Event, {delivery.event_id for delivery in deliveries})
    integrations = _by_id(Integration, {delivery.integration_id for delivery in deliveries})
    for delivery in deliveries:
        delivery.event, delivery.integration = events[delivery.event_id], integrations[delivery.integration_id]
    return deliveries


def _by_id(model, ids: set) -> dict:
    """{id: instance}, read with plain SQL (this runs for every batch)."""
    sql = f"SELECT {rows.columns(model)} FROM {model._meta.db_table} WHERE id IN ({', '.join(['%s'] * len(ids))})"
    with connection.cursor() as cursor:
        cursor.execute(sql, [_db_uuid(pk) for pk in ids])
        return {instance.pk: instance for instance in rows.instances(model, cursor.fetchall())}


def _db_uuid(value):
    value = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return value if connection.vendor == "postgresql" else value.hex


# --- Attempting and recording --------------------------------------------------------------


def attempt_batch(deliveries: list[Delivery]) -> list[Attempt]:
    """Send claimed deliveries (holding those of disabled integrations) and record the outcomes."""
    to_send = _hold_disabled(deliveries)
    if not to_send:
        return []
    if len(to_send) == 1:  # "Test webhook", a resend: no thread handoff
        return _record_landed([_send_one(to_send[0])])
    return _record_landed(_Flight(to_send, lanes=len(to_send)).land())


def _hold_disabled(deliveries: list[Delivery]) -> list[Delivery]:
    """Hold the deliveries of disabled integrations (tests excepted); returns the others."""
    held = [d for d in deliveries if not d.integration.is_active and not d.event.is_test]
    if held:
        Delivery.objects.filter(pk__in=[d.pk for d in held]).update(
            status=Status.HELD, locked_until=None, next_attempt_at=None, enqueued_at=None
        )
    return [d for d in deliveries if d not in held]


def _record_landed(results: list) -> list[Attempt]:
    # The requests were made: losing their record would send them again.
    return _with_reconnect(partial(_record, results, timezone.now()))


def _refresh_states(deliveries: list[Delivery]) -> None:
    """Read again whether these deliveries' integrations are active (a batch recorded after they
    were claimed may have disabled one)."""
    integrations = {d.integration_id: d.integration for d in deliveries}
    for pk, state in Integration.objects.filter(pk__in=list(integrations)).values_list("pk", "state"):
        integrations[pk].state = state


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


def _outcome(delivery: Delivery, result: transport.TransportResult, now: dt.datetime) -> Outcome:
    outcome = decide(
        result,
        attempts_in_round=delivery.attempts + 1 - delivery.round_start,
        schedule=setting("RETRY_SCHEDULE"),
        jitter=setting("RETRY_JITTER"),
        retry_after_max=setting("RETRY_AFTER_MAX"),
        now=now,
    )
    if delivery.event.is_test and outcome.verdict is Verdict.RETRY:
        return Outcome(Verdict.FAILED)  # a test shows its one outcome, right away
    return outcome


def _record(results: list, now: dt.datetime) -> list[Attempt]:
    attempts, succeeded, changed, bells, counted = [], [], [], [], []
    per_integration: dict = {}
    for delivery, result, started_at, headers in results:
        outcome = _outcome(delivery, result, now)
        number = delivery.attempts + 1
        if logger.isEnabledFor(logging.INFO):  # on the hot path: mask the URL only when logged
            logger.info(
                "delivery %s attempt %s to %s: %s -> %s", delivery.id, number,
                masked_url(delivery.integration.target_url), result.status_code or result.error_class,
                outcome.verdict.value,
            )
        attempts.append(
            Attempt(
                delivery=delivery, number=number, started_at=started_at, duration_ms=result.duration_ms,
                succeeded=result.ok, status_code=result.status_code,
                error_class=result.error_class or ("" if result.ok else Attempt.ErrorClass.HTTP),
                error_message=result.error_message, response_excerpt=result.excerpt,
                # what the delivery page shows of the request: the rest of it follows from the row
                request_timestamp=int(headers["X-InboundFlow-Timestamp"]),
                signature=headers.get("X-InboundFlow-Signature", ""),
                standard_signature=headers.get("webhook-signature", ""),
            )
        )
        delivery.attempts, delivery.locked_until = number, None
        if outcome.verdict is Verdict.SUCCEEDED:
            delivery.status, delivery.completed_at, delivery.next_attempt_at, delivery.enqueued_at = Status.SUCCEEDED, now, None, None
            succeeded.append(delivery.pk)
        elif outcome.verdict is Verdict.RETRY:
            due = now + dt.timedelta(seconds=outcome.delay)
            short = outcome.delay <= setting("MAX_COUNTDOWN")
            delivery.next_attempt_at, delivery.enqueued_at = due, due if short else None
            changed.append(delivery)
            if short:
                bells.append((delivery.integration_id, outcome.delay))
        else:
            delivery.status, delivery.completed_at, delivery.next_attempt_at, delivery.enqueued_at = Status.FAILED, now, None, None
            changed.append(delivery)
        if not delivery.event.is_test:
            per_integration.setdefault(delivery.integration, []).append((result, outcome))
        counted.append((
            attempts[-1].error_class, result.duration_ms / 1000,
            _FINAL.get(outcome.verdict), delivery.event.event_type, delivery.event.is_test,
        ))
    with transaction.atomic():
        insert_rows(Attempt, _ATTEMPT_FIELDS, attempts)
        if succeeded:
            _mark_succeeded(succeeded, now)
        if changed:
            Delivery.objects.bulk_update(
                changed, ["status", "attempts", "locked_until", "next_attempt_at", "enqueued_at", "completed_at"]
            )
        for integration, outcomes in per_integration.items():
            _update_integration(integration, outcomes, now=now)
        for integration_id, delay in bells:
            transaction.on_commit(partial(ring, [integration_id], countdown=delay, force=True), robust=True)
        metrics.add(metrics.attempts_counted(counted))  # last: it takes no lock before a row above
    return attempts


_FINAL = {Verdict.SUCCEEDED: "succeeded", Verdict.FAILED: "failed"}  # a delivery's outcome, for /metrics

_ATTEMPT_FIELDS = (
    "delivery_id", "number", "started_at", "duration_ms", "succeeded", "status_code", "error_class",
    "error_message", "response_excerpt", "request_timestamp", "signature", "standard_signature",
)


def _mark_succeeded(delivery_ids: list, now: dt.datetime) -> None:
    at = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE webhooks_delivery SET status = %s, attempts = attempts + 1, locked_until = NULL, "
            "next_attempt_at = NULL, enqueued_at = NULL, completed_at = %s "
            f"WHERE id IN ({', '.join(['%s'] * len(delivery_ids))})",
            [Status.SUCCEEDED, at(now), *map(_db_uuid, delivery_ids)],
        )


# last_success_at is kept to this resolution on the hot path (the dashboard shows minutes).
_SUCCESS_RESOLUTION = dt.timedelta(seconds=1)


def _update_integration(integration: Integration, outcomes: list, *, now: dt.datetime) -> None:
    hooks = Integration.objects.filter(pk=integration.pk)
    if all(outcome.verdict is Verdict.SUCCEEDED for _, outcome in outcomes):
        # `alerted` as claimed tells whether the organization was told of failures; the
        # conditional UPDATE decides, so that two batches cannot both announce the recovery.
        if integration.alerted == Integration.Alerted.FAILING and hooks.filter(
            alerted=Integration.Alerted.FAILING
        ).update(consecutive_failures=0, last_success_at=now, alerted=Integration.Alerted.OK):
            alerts.alert_raise(integration_id=integration.pk, kind=Alert.Kind.RECOVERED)
            return
        # Every successful batch: plain SQL, and a write only when the row would change by more
        # than a second of last_success_at (the row is not locked otherwise, so the drains of
        # one busy integration do not queue on it).
        at = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE webhooks_integration SET consecutive_failures = 0, last_success_at = %s "
                "WHERE id = %s AND (consecutive_failures <> 0 OR last_success_at IS NULL OR last_success_at < %s)",
                [at(now), _db_uuid(integration.pk), at(now - _SUCCESS_RESOLUTION)],
            )
        return
    # Failures: count them in the order they finished, under a row lock (no lost update).
    locked = hooks.select_for_update().get()
    limit = setting("DISABLE_AFTER")
    reason, cause, last_failure = "", "", None
    for result, outcome in outcomes:
        if outcome.verdict is Verdict.SUCCEEDED:
            locked.consecutive_failures, locked.last_success_at = 0, now
            continue
        last_failure = result
        locked.last_failure_at, locked.last_error = now, (result.error_message or result.error_class)[:500]
        if result.status_code in (429, 503):  # "slow down": the whole integration waits, as asked
            asked = parse_retry_after(result.retry_after, now=now)
            if asked:
                until = now + dt.timedelta(seconds=min(asked, setting("RETRY_AFTER_MAX")))
                locked.paused_until = max(until, locked.paused_until or until)
        if outcome.verdict is Verdict.FAILED:
            locked.consecutive_failures += 1
            if not reason and outcome.disable_reason:
                reason, cause = outcome.disable_reason, Integration.DisabledCause.GONE
            elif not reason and locked.consecutive_failures >= limit:
                reason = (
                    f"Disabled automatically after {limit} consecutive failed deliveries. "
                    f"Last error: {locked.last_error}"
                )
                cause = Integration.DisabledCause.FAILURES
    alert = None
    if reason and locked.is_active:
        locked.state, locked.disabled_at, locked.disabled_reason = Integration.State.DISABLED, now, reason[:500]
        locked.disabled_cause = cause
        logger.warning("integration %s disabled: %s", integration.pk, reason)
        alert, locked.alerted = Alert.Kind.DISABLED, Integration.Alerted.DISABLED
    elif locked.is_active and locked.alerted == Integration.Alerted.OK and locked.consecutive_failures >= setting("FAILING_AFTER"):
        alert, locked.alerted = Alert.Kind.FAILING, Integration.Alerted.FAILING
    elif locked.consecutive_failures == 0 and locked.alerted == Integration.Alerted.FAILING:
        alert, locked.alerted = Alert.Kind.RECOVERED, Integration.Alerted.OK
    locked.save(
        update_fields=[
            "consecutive_failures", "last_success_at", "last_failure_at", "last_error",
            "state", "disabled_at", "disabled_reason", "disabled_cause", "alerted", "paused_until", "updated_at",
        ]
    )
    if alert:
        alerts.alert_raise(integration_id=integration.pk, kind=alert, result=last_failure)


# --- Draining and ringing ------------------------------------------------------------------


def _lock_key(integration_id, slot: int) -> int:
    return int.from_bytes(uuid.UUID(str(integration_id)).bytes[:8], "big", signed=True) ^ slot


def _slots() -> int:
    """How many drains may work on one integration at once: never more than the requests it may
    have in flight (each drain sends at least one). The embedded SQLite default has no advisory
    locks and one worker: one drain at a time."""
    if connection.vendor != "postgresql":
        return 1
    return max(1, min(setting("DRAIN_SLOTS"), setting("ENDPOINT_CONCURRENCY")))


def drain_shape(slots: int) -> tuple[int, int]:
    """(batch, lanes) of one drain: it claims up to `batch` deliveries at a time and has at most
    `lanes` requests in flight, its share of the endpoint's concurrency. A batch smaller than the
    whole concurrency costs each delivery more (one integration, one process: 16 a batch
    1,010 deliveries/s, 8 a batch 850/s), so a drain's batch stays up to two lanes deep; the lease
    covers a batch waiting for the one on the wire, then its own two turns (check E002)."""
    concurrency = setting("ENDPOINT_CONCURRENCY")
    lanes = max(1, concurrency // max(1, slots))
    return min(concurrency, 2 * lanes), lanes


def _take_slot(integration_id) -> int | None:
    """The first free drain slot of this integration, locked for this session; None when all are
    taken (in any process or host)."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        for slot in range(_slots()):
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(integration_id, slot)])
            if cursor.fetchone()[0]:
                return slot
    return None


def _release_slot(integration_id, slot: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(integration_id, slot)])


def _due(now: dt.datetime):
    """Pending deliveries whose time has come and that nobody holds (the claim's SQL says the same)."""
    return Delivery.objects.filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=now), status=Status.PENDING, next_attempt_at__lte=now
    )


def _has_due(integration_id) -> bool:
    return _due(timezone.now()).filter(integration_id=integration_id).exists()


# A drain that finds nothing due waits this long at most for a retry about to fall due, rather
# than leave it to a new ring: an attempt never starts before its time, and not much after.
NEAR_DUE_SECONDS = 1.0


def _seconds_until_next_due(integration_id) -> float | None:
    now = timezone.now()
    soonest = (
        Delivery.objects.filter(
            Q(locked_until__isnull=True) | Q(locked_until__lt=now), integration_id=integration_id, status=Status.PENDING
        )
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return None if soonest is None else max(0.0, (soonest - now).total_seconds())


# A drain that must wait for its endpoint's rate or pause sleeps this long at most; longer, it
# yields its slot and rings itself for when it may send again.
PACE_SLEEP_MAX = 1.0


class _Pace:
    """An integration's rate and pause, as its drain last read them."""

    def __init__(self, integration_id):
        self.integration_id = integration_id
        self.read()

    def read(self) -> None:
        integration = Integration.objects.only("kind", "max_per_second", "paused_until").get(pk=self.integration_id)
        self.rate, self.paused_until = pacing.rate_of(integration), integration.paused_until

    def paused_for(self) -> float:
        """Seconds the endpoint asked us to wait still (0: not paused)."""
        if self.paused_until is None:
            return 0.0
        return max(0.0, (self.paused_until - timezone.now()).total_seconds())

    def allowance(self, want: int) -> tuple[int, float]:
        """(how many may be sent, in how many seconds): granted now, reserved for later (see
        pacing.take), or (0, seconds to wait before asking again)."""
        if (wait := self.paused_for()) > 0:
            return 0, wait
        if self.rate is None:
            return want, 0.0
        return pacing.take(self.integration_id, rate=self.rate, want=want)

    def unused(self, allowed: int, used: int) -> None:
        if self.rate is not None and allowed > used:
            pacing.give_back(self.integration_id, rate=self.rate, tokens=allowed - used)


# Drains running in this process, by integration. A second slot of one integration is worth
# taking in another process (two processes, two interpreters): one that lands where the first
# already runs passes itself on, a few times at most, then stays (one worker process: it must).
_HERE: dict = {}
_HERE_LOCK = threading.Lock()
PASS_ON_MAX = 3


def _drains_here(integration_id, change: int) -> int:
    with _HERE_LOCK:
        count = _HERE.get(integration_id, 0) + change
        if count > 0:
            _HERE[integration_id] = count
        else:
            _HERE.pop(integration_id, None)
        return count


def _pass_on(integration_id, hops: int) -> None:
    from .tasks import drain as drain_task

    try:
        drain_task.apply_async(args=[str(integration_id)], kwargs={"hops": hops})
    except Exception as exc:  # noqa: BLE001 - the drain already running here sees the deliveries
        logger.warning("could not pass a drain on (%s)", type(exc).__name__)


def drain(*, integration_id, hops: int = 0) -> int:
    """Send what is due for one integration, batch after batch, for a bounded time.

    Up to WEBHOOKS_DRAIN_SLOTS drains work on one integration at once, in any worker process or
    host, each holding one slot (an advisory lock) and at most its share of the endpoint's
    concurrency in flight (`drain_shape`). A drain that finds a full batch waiting asks for the
    next slot's help once, so that a busy integration spreads over the workers and a quiet one
    costs one drain.

    The drain's own SQL runs while a batch is on the wire: it claims the next batch while one is
    in flight, and when every request of a batch succeeded, it sends the next before recording
    it. A batch with a failure is recorded before anything else is sent (it may disable the
    integration, which holds what was claimed meanwhile). One batch at a time is in flight.
    """
    integration_id = uuid.UUID(str(integration_id))
    if _slots() > 1 and hops < PASS_ON_MAX and _drains_here(integration_id, 0) > 0:
        _pass_on(integration_id, hops + 1)  # this process already drains it: let another help
        return 0
    slot = _take_slot(integration_id)
    if slot is None:
        return 0  # every slot is working on it; they will see our deliveries
    _drains_here(integration_id, +1)
    try:
        return _drain_in_slot(integration_id, slot)
    finally:
        _drains_here(integration_id, -1)


def _drain_in_slot(integration_id, slot: int) -> int:
    try:
        pace = _Pace(integration_id)
    except Integration.DoesNotExist:
        _release_slot(integration_id, slot)
        return 0  # removed meanwhile: its deliveries went with it
    sent, out_of_time, resting = 0, False, None
    stop_at = time.monotonic() + setting("DRAIN_SECONDS")
    slots = _slots()
    batch_size, lanes = drain_shape(slots)
    helped = slot + 1 >= slots
    hold_again_at = 0.0
    flight: _Flight | None = None
    try:
        while True:
            if time.monotonic() > stop_at:
                out_of_time = True
                break
            # While we drain, saves need not ring: keep the bell up (renewed well within its
            # hold). When nothing is left, take it down and look once more, so that a save
            # racing with our exit rings anew.
            if time.monotonic() >= hold_again_at:
                doorbell.hold(integration_id)
                hold_again_at = time.monotonic() + doorbell.HOLD_MS / 3000
            allowed, wait = pace.allowance(batch_size)
            if allowed and wait > 0:  # reserved: ours in `wait` s, after the drains that asked before
                if flight is None and wait <= PACE_SLEEP_MAX and time.monotonic() + wait <= stop_at:
                    time.sleep(wait)
                else:  # a flight to land first (then ask again), or too long to wait here
                    pace.unused(allowed, 0)
                    allowed = 0
            if not allowed:  # the endpoint's rate or pause: what is due waits, nothing fails
                if flight is not None:
                    landed, flight = flight.land(), None
                    sent += len(_record_landed(landed))
                    pace.read()  # that batch may have been told to slow down
                    continue
                if wait > PACE_SLEEP_MAX or time.monotonic() + wait > stop_at:
                    resting = wait
                    break
                time.sleep(wait)
                continue
            batch = claim(integration_id=integration_id, limit=allowed)
            if not batch and flight is not None:
                pace.unused(allowed, 0)
                landed, flight = flight.land(), None  # what it records may fall due again soon
                sent += len(_record_landed(landed))
                continue
            if not batch:
                doorbell.clear(integration_id)
                hold_again_at = 0.0  # if more came, the bell goes up again at once
                batch = claim(integration_id=integration_id, limit=allowed)
                if not batch:
                    pace.unused(allowed, 0)
                    wait = _seconds_until_next_due(integration_id)
                    if wait is None or wait > NEAR_DUE_SECONDS or time.monotonic() + wait > stop_at:
                        break
                    time.sleep(wait)
                    continue
            pace.unused(allowed, len(batch))
            if not helped and len(batch) == allowed:
                helped = True
                ring([integration_id], force=True)  # it took all it could: more is waiting, the next slot may help
            landed, flight = (flight.land() if flight is not None else None), None
            if landed is not None and not all(result.ok for _, result, _, _ in landed):
                sent += len(_record_landed(landed))
                landed = None
                _refresh_states(batch)
                pace.read()
                if (paused := pace.paused_for()) > 0:  # told to slow down: what we claimed waits too
                    Delivery.objects.filter(pk__in=[d.pk for d in batch]).update(locked_until=None)
                    resting = paused
                    break
            to_send = _hold_disabled(batch)
            if to_send:
                flight = _Flight(to_send, lanes)
            if landed is not None:
                sent += len(_record_landed(landed))
    finally:
        try:
            if flight is not None:
                sent += len(_record_landed(flight.land()))
        finally:
            _with_reconnect(partial(_release_slot, integration_id, slot))
    if resting is not None:  # back when the endpoint may be sent to again (later: the sweep)
        if resting <= setting("MAX_COUNTDOWN"):
            ring([integration_id], countdown=resting, force=True)
    # A delivery committed after our last claim may have rung while we held the lock.
    elif out_of_time or _has_due(integration_id):
        ring([integration_id], force=True)
    return sent


def ring(integration_ids, *, countdown: float | None = None, force: bool = False) -> None:
    """Ask a worker to drain these integrations. A failed publish is left to the sweep."""
    from .tasks import drain as drain_task

    integration_ids = list(integration_ids)
    for index, integration_id in enumerate(integration_ids):
        if not force and countdown is None and not doorbell.ring(integration_id):
            continue  # a drain is already on its way
        try:
            drain_task.apply_async(args=[str(integration_id)], countdown=countdown)
        except Exception as exc:  # noqa: BLE001 - the rows are committed; the sweep recovers
            logger.warning("could not publish a drain (%s); the sweep will", type(exc).__name__)
            _leave_to_sweep(integration_ids[index:])
            return


def _leave_to_sweep(integration_ids) -> None:
    """Mark these integrations' pending deliveries as not enqueued, so that the first sweep
    after the broker is back rings for them, instead of waiting out WEBHOOKS_ENQUEUE_GRACE."""
    try:
        Delivery.objects.filter(
            integration_id__in=integration_ids, status=Status.PENDING, enqueued_at__isnull=False
        ).update(enqueued_at=None)
    except Exception:  # noqa: BLE001 - then the grace applies: later, still not lost
        logger.warning("could not mark deliveries for the sweep; it will find them after the grace")


class _Doorbell:
    """Skips publishing a drain when one is already queued for the integration (Redis SET NX).

    Any doubt rings: without Redis, or with Redis unreachable, every commit publishes.
    """

    TTL_MS = 5000  # a queued drain's bell; a running drain holds it longer
    HOLD_MS = 30000

    def __init__(self):
        self._client = None

    def _redis(self):
        from django.conf import settings

        if self._client is None and settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
            import redis

            self._client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1, socket_connect_timeout=1)
        return self._client

    def ring(self, integration_id) -> bool:
        try:
            client = self._redis()
            return client is None or bool(client.set(f"webhooks:bell:{integration_id}", 1, nx=True, px=self.TTL_MS))
        except Exception:  # noqa: BLE001 - ring anyway
            return True

    def hold(self, integration_id) -> None:
        try:
            client = self._redis()
            if client is not None:
                client.set(f"webhooks:bell:{integration_id}", 1, px=self.HOLD_MS)
        except Exception:  # noqa: BLE001 - without the bell, saves ring: only more drains
            pass

    def clear(self, integration_id) -> None:
        try:
            client = self._redis()
            if client is not None:
                client.delete(f"webhooks:bell:{integration_id}")
        except Exception:  # noqa: BLE001 - a stale bell only delays to the TTL or the sweep
            pass


doorbell = _Doorbell()


class _Ringer:
    """Rings from a background thread, so that a save never waits on Redis (or on a Redis that
    is down). A process that exits normally (a command, a script) first sends what it queued,
    for a few seconds at most; rings lost with a process that dies are found by the sweep."""

    MAX_QUEUED = 10_000
    FLUSH_SECONDS = 5.0
    # After each ring the thread rests, and what was saved meanwhile rings together: a lone
    # save rings at once; a process saving hundreds of times a second rings at most 200 times a
    # second instead of once per save, each ring taking the interpreter lock from a save.
    PAUSE_SECONDS = 0.005

    def __init__(self):
        self._queue: queue.Queue | None = None
        self._pid = None
        self._lock = threading.Lock()

    def submit(self, integration_ids) -> None:
        with self._lock:
            if self._pid != os.getpid():  # first use in this process (or after a fork)
                self._queue, self._pid = queue.Queue(self.MAX_QUEUED), os.getpid()
                threading.Thread(target=self._run, name="webhooks-ringer", daemon=True).start()
                atexit.register(self.flush)
        try:
            self._queue.put_nowait(list(integration_ids))
        except queue.Full:
            logger.warning("ring queue full; the sweep will send these deliveries")

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued ring is published (True), or `timeout` passes (False)."""
        if self._queue is None or self._pid != os.getpid():
            return True
        deadline = time.monotonic() + (self.FLUSH_SECONDS if timeout is None else timeout)
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    logger.warning("exiting with rings unsent; the sweep will send those deliveries")
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            batches = [self._queue.get()]
            while True:  # coalesce what piled up meanwhile
                try:
                    batches.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                ring(sorted(set().union(*batches), key=str))
            except Exception:  # noqa: BLE001 - the sweep recovers
                logger.exception("ringing failed; the sweep will send these deliveries")
            finally:
                connection.close()  # opened only when a ring failed; this thread holds none
                for _ in batches:
                    self._queue.task_done()
            time.sleep(self.PAUSE_SECONDS)


ringer = _Ringer()


def sweep(*, limit: int = 1000) -> int:
    """Ring for due deliveries nobody rang for: retries whose time has come, lost publishes,
    leases left by a dead worker. Returns how many deliveries it found."""
    now = timezone.now()
    stale = now - dt.timedelta(seconds=setting("ENQUEUE_GRACE"))
    with transaction.atomic():
        due = _due(now).filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale)).order_by("next_attempt_at")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        rows = list(due.values_list("id", "integration_id")[:limit])
        Delivery.objects.filter(pk__in=[pk for pk, _ in rows]).update(enqueued_at=now)
        integrations = sorted({integration_id for _, integration_id in rows}, key=str)
        transaction.on_commit(partial(ring, integrations, force=True), robust=True)
        metrics.sweep_counted(len(rows))
    if rows:
        logger.info("sweep found %s due deliveries in %s integrations", len(rows), len(integrations))
    for alert_id in alerts.alerts_unsent(now=now):  # e-mails an SMTP or broker outage held back
        alerts.alert_publish(alert_id=alert_id)
    return len(rows)
