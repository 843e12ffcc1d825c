"""What changes webhook state on behalf of a save or a person: emit, test, redeliver, enable,
disable, release held, prune. Attempts themselves are the engine's (engine.py).

Services take keyword-only arguments. Network I/O never happens inside a database transaction.
"""
import datetime as dt
import json
import logging
import uuid
import weakref
from functools import partial

from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.translation import gettext as _

from . import alerts, engine, transport
from .conf import setting
from .events import EventType, build_data, sample_data
from .models import Attempt, Delivery, Event, Integration
from .payloads import canonical_json, data_json
from .rows import insert_rows

logger = logging.getLogger(__name__)

Status = Delivery.Status


class ServiceError(Exception):
    """An action that cannot be done, with a message meant for the person who asked."""


class IntegrationDisabledError(ServiceError):
    """The action would only hold what it sends: the integration must be enabled first."""


def _ring_after_commit(integration_ids, *, force: bool = False) -> None:
    integration_ids = sorted(set(integration_ids), key=str)
    if not integration_ids:
        return
    if setting("RING_IN_BACKGROUND") and not force:
        transaction.on_commit(partial(engine.ringer.submit, integration_ids), robust=True)
    else:
        transaction.on_commit(partial(engine.ring, integration_ids, force=force), robust=True)


# --- Emitting ---------------------------------------------------------------------------


def event_emit(*, event_type: str, source) -> Event | None:
    """Write the event and one delivery per subscribed integration; ring after commit.

    Runs inside the transaction that saved `source` (or opens one). Does nothing when no
    integration of the organization subscribes, and nothing when this event was already
    emitted for `source`. It is on the path of every save, so it is plain SQL, and on
    PostgreSQL as few round trips as the organization allows:
    - an organization with subscribers (this process has seen them): one statement asks who
      subscribes and writes the event and a delivery per subscriber (rows made in SQL);
    - otherwise (most organizations have none): first who subscribes, one cheap query, and
      nothing is built when nobody does; if somebody does, that same statement.
    The hint only chooses between two correct ways (the statement re-reads the subscribers);
    elsewhere (SQLite) two INSERTs after the query.
    """
    if not setting("ENABLED"):
        return None
    postgresql = connection.vendor == "postgresql"
    hint = (source.organization_id, event_type)
    if postgresql and hint in _SUBSCRIBED:
        event = _emit_in_one_statement(event_type, source)
        if event is None:
            _SUBSCRIBED.discard(hint)  # nobody any more (or already emitted): ask first next time
        return event
    subscribers = _subscribers(source.organization_id, event_type)
    if not subscribers:
        return None
    if postgresql:
        if len(_SUBSCRIBED) >= _SUBSCRIBED_MAX:
            _SUBSCRIBED.clear()
        _SUBSCRIBED.add(hint)
        return _emit_in_one_statement(event_type, source)
    now = timezone.now()
    event = _new_event(event_type, source, now)
    deliveries = [_new_delivery(event, integration_id, active, now) for integration_id, active in subscribers]
    with transaction.atomic(savepoint=False):
        if not _insert_event_and_deliveries(event, deliveries):
            logger.info("%s for %s was already emitted", event_type, source.pk)
            return None
    _ring_after_commit(d.integration_id for d in deliveries if d.status == Status.PENDING)
    return event


# (organization id, event type) seen with subscribers by this process: a hint, never a truth.
_SUBSCRIBED: set = set()
_SUBSCRIBED_MAX = 10_000


def _new_event(event_type: str, source, now: dt.datetime) -> Event:
    data = build_data(event_type, source)
    full_text_url = f"{setting('PUBLIC_URL').rstrip('/')}/api/calls/{data['call_id']}/"
    return Event(
        organization_id=source.organization_id,
        event_type=event_type,
        occurred_at=now,
        data=data_json(event_type, data, full_text_url=full_text_url),
        source_id=source.pk,
    )


# Who subscribes (asked again: the rows are those this statement sees), the event (unless
# already emitted for this source: the unique index decides, even between two connections at
# once) and a delivery per subscriber, pending or held by the integration's state.
_EMIT_SQL = """
WITH s AS (
    SELECT id, state = 'active' AS active FROM webhooks_integration
    WHERE organization_id = %(organization)s AND event_types @> %(types)s::jsonb
), e AS (
    INSERT INTO webhooks_event (id, organization_id, event_type, occurred_at, data, source_id, is_test)
    SELECT %(id)s, %(organization)s, %(type)s, %(now)s, %(data)s, %(source)s, false WHERE EXISTS (SELECT FROM s)
    ON CONFLICT DO NOTHING RETURNING id
)
INSERT INTO webhooks_delivery
    (id, event_id, integration_id, status, attempts, round_start, next_attempt_at, enqueued_at, created_at)
SELECT gen_random_uuid(), e.id, s.id, CASE WHEN s.active THEN 'pending' ELSE 'held' END, 0, 0,
       CASE WHEN s.active THEN %(now)s END, CASE WHEN s.active THEN %(now)s END, %(now)s
FROM e, s
RETURNING integration_id, status
"""


# Planning that statement costs as much as running it, on every save: each connection prepares
# it once (a prepared statement outlives a rollback, and a new connection prepares again).
# Behind a pooler in transaction mode (PgBouncer: Django's DISABLE_SERVER_SIDE_CURSORS says so)
# the next transaction may run on another server connection, so it is sent whole.
_EMIT_PARAMETERS = (
    ("organization", "uuid"), ("types", "jsonb"), ("id", "uuid"), ("type", "varchar"),
    ("now", "timestamptz"), ("data", "text"), ("source", "uuid"),
)


def _numbered(sql: str) -> str:
    for number, (name, _kind) in enumerate(_EMIT_PARAMETERS, start=1):
        sql = sql.replace(f"%({name})s", f"${number}")
    return sql


_EMIT_PREPARE = f"PREPARE webhooks_emit ({', '.join(kind for _name, kind in _EMIT_PARAMETERS)}) AS {_numbered(_EMIT_SQL)}"
_EMIT_EXECUTE = "EXECUTE webhooks_emit ({})".format(", ".join(["%s"] * len(_EMIT_PARAMETERS)))
_PREPARED_ON = weakref.WeakSet()  # the driver's connections that hold webhooks_emit


def _emit_in_one_statement(event_type: str, source) -> Event | None:
    now = timezone.now()
    event = _new_event(event_type, source, now)
    values = {
        "organization": source.organization_id, "types": json.dumps([event_type]), "id": event.id,
        "type": event_type, "now": now, "data": event.data, "source": source.pk,
    }
    with connection.cursor() as cursor:
        if connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"):
            cursor.execute(_EMIT_SQL, values)
        else:
            if connection.connection not in _PREPARED_ON:
                cursor.execute(_EMIT_PREPARE)
                _PREPARED_ON.add(connection.connection)
            cursor.execute(_EMIT_EXECUTE, [values[name] for name, _kind in _EMIT_PARAMETERS])
        written = cursor.fetchall()
    if not written:  # already emitted (or its subscribers went away meanwhile)
        logger.info("%s for %s was already emitted", event_type, source.pk)
        return None
    event._state.adding, event._state.db = False, connection.alias
    _ring_after_commit(integration_id for integration_id, status in written if status == Status.PENDING)
    return event


def _insert_event_and_deliveries(event: Event, deliveries: list[Delivery]) -> bool:
    """Insert the event unless (event_type, source_id) is already there, and its deliveries
    (the portable path; PostgreSQL emits in one statement). ON CONFLICT DO NOTHING lets the
    unique index decide, with no savepoint."""
    if not insert_rows(Event, _EVENT_FIELDS, [event], suffix="ON CONFLICT DO NOTHING RETURNING id"):
        return False
    insert_rows(Delivery, _DELIVERY_FIELDS, deliveries)
    return True


_EVENT_FIELDS = ("id", "organization_id", "event_type", "occurred_at", "data", "source_id", "is_test")
_DELIVERY_FIELDS = (
    "id", "event_id", "integration_id", "status", "attempts", "round_start", "next_attempt_at", "enqueued_at",
    "created_at",
)


def _subscribers(organization_id, event_type: str) -> list[tuple]:
    """(integration id, is active) of the organization's integrations subscribed to `event_type`."""
    table = Integration._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, state, event_types FROM {table} WHERE organization_id = %s",
            [Integration._meta.get_field("organization").get_db_prep_value(organization_id, connection)],
        )
        rows = cursor.fetchall()
    found = []
    for integration_id, state, event_types in rows:
        if event_type in (json.loads(event_types) if isinstance(event_types, str) else event_types):
            found.append((Integration._meta.pk.to_python(integration_id), state == Integration.State.ACTIVE))
    return found


def _new_delivery(event: Event, integration_id, active: bool, now: dt.datetime) -> Delivery:
    if active:
        return Delivery(
            event=event, integration_id=integration_id, next_attempt_at=now, enqueued_at=now, created_at=now
        )
    return Delivery(event=event, integration_id=integration_id, status=Status.HELD, created_at=now)


# --- Attempting ---------------------------------------------------------------------------


def delivery_attempt(*, delivery_id) -> Attempt | None:
    """Attempt one delivery now if it is due and nobody else is attempting it."""
    attempts = engine.attempt_batch(engine.claim(delivery_ids=[delivery_id], limit=1))
    return attempts[0] if attempts else None


# --- Tests, redelivery, enabling ----------------------------------------------------------


def _test_event_type(integration: Integration, event_type: str | None) -> str:
    if event_type:
        if event_type not in EventType.values:
            raise ServiceError(_("Unknown event type %(type)r.") % {"type": event_type})
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
    return engine.attempt_batch([delivery])[0]


def url_send_sample(*, organization_id, url: str, secret: str, event_type: str) -> transport.TransportResult:
    """"Test webhook" before the integration is saved: sent the same way, recorded nowhere."""
    event = Event(
        organization_id=organization_id,
        event_type=event_type,
        occurred_at=timezone.now(),
        data=canonical_json(sample_data(event_type)),
        is_test=True,
    )
    unsaved = Integration(organization_id=organization_id, target_url=url, secret=secret)
    result, _headers = engine.send(integration=unsaved, event=event, delivery_id=uuid.uuid4())
    return result


def _active_required(integration: Integration) -> None:
    if not integration.is_active:
        raise IntegrationDisabledError(_("The integration is disabled: re-enable it first."))


def _new_round(deliveries, now: dt.datetime) -> int:
    """Pending again and due now, a new round of attempts with the same delivery_id and body:
    what redelivering, sending held deliveries and replaying share. Returns how many."""
    return deliveries.update(
        status=Status.PENDING, round_start=F("attempts"), next_attempt_at=now, enqueued_at=now,
        completed_at=None, locked_until=None,
    )


def delivery_redeliver(*, delivery: Delivery) -> None:
    """Send a delivery again, with the same delivery_id and body, starting a new round."""
    if delivery.status == Status.PENDING:
        raise ServiceError(_("This delivery is already waiting to be sent."))
    _active_required(delivery.integration)
    with transaction.atomic():
        _new_round(Delivery.objects.filter(pk=delivery.pk), timezone.now())
        _ring_after_commit([delivery.integration_id], force=True)


def integration_release_held(*, integration: Integration) -> int:
    """Send the deliveries held while the integration was disabled. Returns how many."""
    now = timezone.now()
    with transaction.atomic():
        held = Delivery.objects.select_for_update().filter(integration=integration, status=Status.HELD)
        ids = list(held.values_list("id", flat=True))
        _new_round(Delivery.objects.filter(pk__in=ids), now)
        if ids:
            _ring_after_commit([integration.pk], force=True)
    return len(ids)


def replay_since_checked(since: dt.datetime, *, now: dt.datetime | None = None) -> dt.datetime:
    """`since` if deliveries from then on are still kept; otherwise says what may be asked."""
    now = now or timezone.now()
    if timezone.is_naive(since):
        raise ServiceError(_("Give the time with its time zone, for example 2026-11-27T14:00:00+01:00."))
    if since > now:
        raise ServiceError(_("This time is in the future: nothing can have failed since."))
    kept_from = now - dt.timedelta(days=setting("RETENTION_DAYS"))
    if since < kept_from:
        raise ServiceError(
            _("Deliveries are kept %(days)s days: choose a time after %(oldest)s (UTC).")
            % {"days": setting("RETENTION_DAYS"), "oldest": kept_from.strftime("%Y-%m-%d %H:%M")}
        )
    return since


def integration_replay(*, integration: Integration, since: dt.datetime, dry_run: bool = False) -> dict[str, int]:
    """Send again what failed or was held since `since` (deliveries created from then on, tests
    excepted): the same delivery_ids and bodies, each a new round of attempts, recorded as new
    attempts. They go through the engine like any other due delivery, so the endpoint's
    concurrency holds whatever their number. `dry_run` only counts. Returns
    {"failed": n, "held": m} — what was (or would be) sent again."""
    now = timezone.now()
    replay_since_checked(since, now=now)
    if not dry_run:
        _active_required(integration)

    def chosen():
        return Delivery.objects.filter(
            integration=integration, status__in=[Status.FAILED, Status.HELD], created_at__gte=since,
            event__is_test=False,
        )

    with transaction.atomic():
        if not dry_run:  # what is counted is what is sent: nobody changes these rows meanwhile
            list(chosen().select_for_update(of=("self",)).values_list("pk"))
        counts = {"failed": 0, "held": 0}
        for status, number in chosen().values_list("status").annotate(number=Count("pk")).order_by():
            counts[status] = number
        if not dry_run and any(counts.values()):
            _new_round(chosen(), now)
            _ring_after_commit([integration.pk], force=True)
    if not dry_run:
        logger.info("integration %s: %s failed and %s held deliveries since %s sent again",
                    integration.pk, counts["failed"], counts["held"], since.isoformat())
    return counts


def integration_enable(*, integration: Integration, send_held: bool = False) -> int:
    """Re-enable; with `send_held`, also send what was held. Returns how many were released."""
    with transaction.atomic():
        Integration.objects.filter(pk=integration.pk).update(
            state=Integration.State.ACTIVE,
            disabled_at=None,
            disabled_reason="",
            disabled_cause="",
            disabled_by="",
            consecutive_failures=0,
            updated_at=timezone.now(),
        )
        integration.refresh_from_db()
        alerts.integration_recovered(integration=integration)
        released = integration_release_held(integration=integration) if send_held else 0
    logger.info("integration %s enabled, %s held deliveries released", integration.pk, released)
    return released


def integration_disable(*, integration: Integration, by: str) -> None:
    """A person (by username) disables the integration: new events are held."""
    now = timezone.now()
    Integration.objects.filter(pk=integration.pk, state=Integration.State.ACTIVE).update(
        state=Integration.State.DISABLED,
        disabled_at=now,
        disabled_reason=f"Disabled by {by}."[:500],
        disabled_cause=Integration.DisabledCause.PERSON,
        disabled_by=by[:150],
        updated_at=now,
    )
    integration.refresh_from_db()


# --- Housekeeping -------------------------------------------------------------------------


def records_prune(*, now: dt.datetime | None = None) -> int:
    """Delete finished deliveries (with their attempts) and events past the retention.
    Returns how many deliveries went (not counting their attempts)."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=setting("RETENTION_DAYS"))
    _, per_model = Delivery.objects.filter(
        status__in=[Status.SUCCEEDED, Status.FAILED], completed_at__lt=cutoff
    ).delete()
    Event.objects.filter(occurred_at__lt=cutoff, deliveries__isnull=True).delete()
    return per_model.get(Delivery._meta.label, 0)
