"""Services against real PostgreSQL and a real loopback receiver, called in-process."""
import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inboundflow.models import Appointment, Call, Lead
from webhooks import engine, services
from webhooks.devtools.receiver import always
from webhooks.models import Attempt, Delivery, Event, Integration

from .conftest import completed_call

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(no_broker):
    return no_broker


# --- Emitting -------------------------------------------------------------------------------


def test_no_subscriber_builds_nothing(organization, make_integration, receiver, django_assert_num_queries):
    make_integration(receiver.url, events=["lead.created"])
    completed_call(organization)
    assert Event.objects.count() == 0


def test_another_organizations_hook_gets_nothing(organization, other_organization, make_integration, receiver):
    make_integration(receiver.url, organization=other_organization)
    completed_call(organization)
    assert Delivery.objects.count() == 0


def test_completion_emits_once_and_enqueues_after_commit(
    organization, make_integration, receiver, enqueued, django_capture_on_commit_callbacks
):
    hook = make_integration(receiver.url)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call = completed_call(organization)
    # nothing published before the commit
    enqueued.assert_not_called()
    delivery = Delivery.objects.get()
    assert (delivery.integration, delivery.event.event_type, delivery.status) == (hook, "call.completed", "pending")
    assert delivery.event.source_id == call.id
    for callback in callbacks:
        callback()
    enqueued.assert_called_once_with(args=[str(hook.id)], countdown=None)


def test_each_transition_fires_once(organization, make_integration, receiver):
    make_integration(receiver.url)
    call = Call.objects.create(organization=organization, started_at=timezone.now())
    assert Event.objects.count() == 0
    call.state, call.transferred_at = Call.State.TRANSFERRED, timezone.now()
    call.transferred_to_label = "Manager"
    call.save()
    call.save()  # nothing new
    call.state, call.ended_at = Call.State.COMPLETED, timezone.now()
    call.save()
    Call.objects.get(pk=call.pk).save()  # re-saving a completed call, freshly loaded
    assert sorted(Event.objects.values_list("event_type", flat=True)) == ["call.completed", "call.transferred"]


def test_a_second_emission_for_the_same_object_is_impossible(organization, make_integration, receiver):
    make_integration(receiver.url)
    call = completed_call(organization)
    assert services.event_emit(event_type="call.completed", source=call) is None
    assert Event.objects.filter(event_type="call.completed").count() == 1


def test_appointments_and_leads_fire_on_creation_only(organization, make_integration, receiver):
    make_integration(receiver.url)
    call = Call.objects.create(organization=organization, started_at=timezone.now())
    appointment = Appointment.objects.create(
        organization=organization, call=call, appointment_date=dt.date(2026, 3, 1),
        time_start=timezone.now() + dt.timedelta(days=1),
    )
    lead = Lead.objects.create(organization=organization, call=call, caller_name="Sarah")
    appointment.save()
    lead.save()
    assert sorted(Event.objects.values_list("event_type", flat=True)) == ["appointment.booked", "lead.created"]


def test_a_rolled_back_save_leaves_no_trace(organization, make_integration, receiver, enqueued):
    make_integration(receiver.url)
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            completed_call(organization)
            raise RuntimeError("the caller's transaction fails")
    assert (Call.objects.count(), Event.objects.count(), Delivery.objects.count()) == (0, 0, 0)
    enqueued.assert_not_called()


def test_a_disabled_integration_gets_held_deliveries(organization, make_integration, receiver, enqueued):
    make_integration(receiver.url, state=Integration.State.DISABLED, disabled_at=timezone.now())
    completed_call(organization)
    assert Delivery.objects.get().status == Delivery.Status.HELD


def test_switching_webhooks_off_emits_nothing(settings, organization, make_integration, receiver):
    settings.WEBHOOKS_ENABLED = False
    make_integration(receiver.url)
    completed_call(organization)
    assert Event.objects.count() == 0


# --- Attempting -------------------------------------------------------------------------------


def _one_delivery(organization, make_integration, url, **hook_fields) -> Delivery:
    make_integration(url, **hook_fields)
    completed_call(organization)
    return Delivery.objects.get()


def test_attempt_signs_posts_and_records(organization, make_integration, receiver):
    delivery = _one_delivery(organization, make_integration, receiver.url)
    attempt = services.delivery_attempt(delivery_id=delivery.id)
    [received] = receiver.received
    assert received.problems == []
    assert received.delivery_id == str(delivery.id)
    assert received.json["data"]["caller_name"] == "Dave"
    assert (attempt.number, attempt.succeeded, attempt.status_code) == (1, True, 200)
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 1 and delivery.completed_at
    assert Integration.objects.get().last_success_at is not None


def test_no_secret_no_signature(organization, make_integration, receiver):
    receiver.secret = None
    delivery = _one_delivery(organization, make_integration, receiver.url, secret="")
    services.delivery_attempt(delivery_id=delivery.id)
    assert receiver.received[0].problems == []
    assert "X-InboundFlow-Signature" not in receiver.received[0].headers


def test_a_held_lease_or_a_final_delivery_is_not_attempted(organization, make_integration, receiver):
    delivery = _one_delivery(organization, make_integration, receiver.url)
    Delivery.objects.filter(pk=delivery.pk).update(locked_until=timezone.now() + dt.timedelta(seconds=30))
    assert services.delivery_attempt(delivery_id=delivery.id) is None
    Delivery.objects.filter(pk=delivery.pk).update(locked_until=None, status="succeeded", next_attempt_at=None)
    assert services.delivery_attempt(delivery_id=delivery.id) is None
    assert receiver.received == []


def test_failure_then_retry_keeps_the_delivery_id_and_body(organization, make_integration, receiver, enqueued, settings):
    statuses = iter([500, 200])
    receiver.responder = lambda r: (next(statuses), b"", {})
    delivery = _one_delivery(organization, make_integration, receiver.url)
    first = services.delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert (first.status_code, first.error_class, delivery.status) == (500, "http", "pending")
    assert delivery.next_attempt_at > first.started_at
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    second = services.delivery_attempt(delivery_id=delivery.id)
    assert (second.number, second.succeeded) == (2, True)
    one, two = receiver.received
    assert one.delivery_id == two.delivery_id == str(delivery.id)
    assert one.body == two.body


def test_used_up_schedule_fails_the_delivery_and_counts(organization, make_integration, receiver, enqueued, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0]
    receiver.responder = always(503)
    delivery = _one_delivery(organization, make_integration, receiver.url)
    services.delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    hook = Integration.objects.get()
    assert delivery.status == "failed" and hook.consecutive_failures == 1
    assert "503" in hook.last_error and hook.is_active


def test_ten_failed_deliveries_disable_and_a_success_resets(organization, make_integration, receiver, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0]
    receiver.responder = always(500)
    hook = make_integration(receiver.url)
    for _ in range(9):
        completed_call(organization)
    for delivery in Delivery.objects.all():
        services.delivery_attempt(delivery_id=delivery.id)
    hook.refresh_from_db()
    assert hook.consecutive_failures == 9 and hook.is_active
    receiver.responder = always(200)
    services.delivery_attempt(delivery_id=Delivery.objects.get(event__source_id=completed_call(organization).id).id)
    hook.refresh_from_db()
    assert hook.consecutive_failures == 0
    receiver.responder = always(500)
    for _ in range(10):
        services.delivery_attempt(delivery_id=Delivery.objects.get(event__source_id=completed_call(organization).id).id)
    hook.refresh_from_db()
    assert hook.state == "disabled" and hook.consecutive_failures == 10
    assert "10 consecutive failed deliveries" in hook.disabled_reason and hook.disabled_at
    assert hook.disabled_cause == "failures"


def test_410_disables_at_once(organization, make_integration, receiver):
    receiver.responder = always(410)
    delivery = _one_delivery(organization, make_integration, receiver.url)
    services.delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    hook = Integration.objects.get()
    assert delivery.status == "failed" and hook.state == "disabled" and "410" in hook.disabled_reason
    assert hook.disabled_cause == "gone"


def test_a_pending_delivery_of_a_disabled_hook_is_held_not_sent(organization, make_integration, receiver):
    delivery = _one_delivery(organization, make_integration, receiver.url)
    services.integration_disable(integration=delivery.integration, by="owner")
    hook = Integration.objects.get()
    assert (hook.disabled_cause, hook.disabled_by, hook.disabled_reason) == ("person", "owner", "Disabled by owner.")
    assert services.delivery_attempt(delivery_id=delivery.id) is None
    delivery.refresh_from_db()
    assert delivery.status == "held" and receiver.received == []


def test_enable_with_send_held_releases_them(organization, make_integration, receiver, enqueued):
    hook = make_integration(receiver.url, state="disabled", disabled_at=timezone.now(), consecutive_failures=10)
    completed_call(organization)
    completed_call(organization)
    released = services.integration_enable(integration=hook, send_held=True)
    hook.refresh_from_db()
    assert released == 2 and hook.is_active and hook.consecutive_failures == 0
    assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"}


# --- Tests, redelivery, sweeping, pruning -------------------------------------------------------


def test_send_test_is_recorded_as_a_test_and_never_counts(organization, make_integration, receiver):
    receiver.responder = always(500)
    hook = make_integration(receiver.url, events=["lead.created"])
    attempt = services.integration_send_test(integration=hook)
    assert attempt.delivery.event.is_test and attempt.delivery.event.event_type == "lead.created"
    assert attempt.status_code == 500 and attempt.delivery.status == "failed"
    assert receiver.received[0].problems == []
    hook.refresh_from_db()
    assert hook.consecutive_failures == 0 and hook.last_failure_at is None


def test_send_test_rejects_an_unknown_event_type(organization, make_integration, receiver):
    with pytest.raises(services.ServiceError):
        services.integration_send_test(integration=make_integration(receiver.url), event_type="call.ended")


def test_redeliver_starts_a_new_round_with_the_same_id(organization, make_integration, receiver, enqueued, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0]
    receiver.responder = always(500)
    delivery = _one_delivery(organization, make_integration, receiver.url)
    services.delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    receiver.responder = always(200)
    services.delivery_redeliver(delivery=delivery)
    with pytest.raises(services.ServiceError):
        services.delivery_redeliver(delivery=Delivery.objects.get())  # already pending
    services.delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 2
    assert list(Attempt.objects.values_list("number", "succeeded")) == [(1, False), (2, True)]
    assert receiver.received[0].delivery_id == receiver.received[1].delivery_id


def test_sweep_rings_for_lost_and_due_deliveries_only(organization, make_integration, receiver, enqueued, django_capture_on_commit_callbacks):
    hook = make_integration(receiver.url)
    fresh = Delivery.objects.get(event__source_id=completed_call(organization).id)
    lost = Delivery.objects.get(event__source_id=completed_call(organization).id)
    later = Delivery.objects.get(event__source_id=completed_call(organization).id)
    long_ago = timezone.now() - dt.timedelta(minutes=5)
    Delivery.objects.filter(pk=lost.pk).update(enqueued_at=long_ago, next_attempt_at=long_ago)
    Delivery.objects.filter(pk=later.pk).update(enqueued_at=None, next_attempt_at=timezone.now() + dt.timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert engine.sweep() == 1
    enqueued.assert_called_once_with(args=[str(hook.id)], countdown=None)
    assert Delivery.objects.get(pk=lost.pk).enqueued_at > long_ago
    assert fresh.id != lost.id


def test_prune_keeps_unfinished_deliveries(organization, make_integration, receiver, settings):
    settings.WEBHOOKS_RETENTION_DAYS = 30
    make_integration(receiver.url)
    old = Delivery.objects.get(event__source_id=completed_call(organization).id)
    held = Delivery.objects.get(event__source_id=completed_call(organization).id)
    months_ago = timezone.now() - dt.timedelta(days=60)
    services.delivery_attempt(delivery_id=old.pk)  # an attempt row, pruned with its delivery
    Delivery.objects.filter(pk=old.pk).update(status="succeeded", completed_at=months_ago, next_attempt_at=None)
    Event.objects.update(occurred_at=months_ago)
    Delivery.objects.filter(pk=held.pk).update(status="held", next_attempt_at=None)
    assert services.records_prune() == 1
    assert list(Delivery.objects.values_list("pk", flat=True)) == [held.pk]
    assert not Attempt.objects.exists()
    assert Event.objects.count() == 1


def test_subscriptions_that_come_and_go_are_followed_save_by_save(organization, make_integration, receiver, django_assert_num_queries):
    def written_for(call) -> list[str]:
        return sorted(Delivery.objects.filter(event__source_id=call.pk).values_list("integration__name", flat=True))

    # given: a hook; the first save asks who subscribes, then writes
    first = make_integration(receiver.url, events=["call.completed"])
    assert written_for(completed_call(organization)) == ["Test hook"]
    # then: the next saves of this organization write in one statement, and see a new hook at once
    with django_assert_num_queries(4) as known:  # savepoint, the call, one statement for the event, release
        call = completed_call(organization)
    assert [q["sql"].split()[0] for q in known.captured_queries] == ["SAVEPOINT", "INSERT", "EXECUTE", "RELEASE"]
    assert written_for(call) == ["Test hook"]
    second = make_integration(receiver.url, events=["call.completed"], name="Second")
    assert written_for(completed_call(organization)) == ["Second", "Test hook"]
    # when: both go away, nothing is written, and the saves after ask first again, building nothing
    Integration.objects.filter(pk__in=[first.pk, second.pk]).delete()
    gone = completed_call(organization)
    assert not Event.objects.filter(source_id=gone.pk).exists()
    with django_assert_num_queries(4) as nobody:  # savepoint, the call, the cheap question, release
        completed_call(organization)
    assert [q["sql"].split()[0] for q in nobody.captured_queries] == ["SAVEPOINT", "INSERT", "SELECT", "RELEASE"]
    # and a hook that comes back is found by the question
    make_integration(receiver.url, events=["call.completed"], name="Third")
    assert written_for(completed_call(organization)) == ["Third"]


def _prepared_here() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return [name for (name,) in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_the_emit_statement_is_prepared_once_per_connection_and_again_on_a_new_one(organization, make_integration, receiver):
    make_integration(receiver.url, events=["call.completed"])
    completed_call(organization)  # asks who subscribes, then prepares and runs
    assert _prepared_here() == ["webhooks_emit"]
    with CaptureQueriesContext(connection) as saved:
        completed_call(organization)
    assert [q["sql"].split()[0] for q in saved.captured_queries] == ["BEGIN", "INSERT", "EXECUTE", "COMMIT"]
    # a rolled-back save leaves the statement prepared for the next one
    with pytest.raises(RuntimeError), transaction.atomic():
        completed_call(organization)
        raise RuntimeError
    # when: the connection is replaced (CONN_MAX_AGE, a restarted database)
    connection.close()
    assert _prepared_here() == []
    second = completed_call(organization)
    assert _prepared_here() == ["webhooks_emit"]
    assert Delivery.objects.filter(event__source_id=second.pk).count() == 1
    assert Event.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_behind_a_transaction_pooler_the_emit_statement_is_sent_whole(organization, make_integration, receiver):
    # PgBouncer in transaction mode may run each transaction on another server connection:
    # Django's DISABLE_SERVER_SIDE_CURSORS is how a deployment says it sits behind one.
    connection.close()
    connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True
    try:
        make_integration(receiver.url, events=["call.completed"])
        completed_call(organization)
        with CaptureQueriesContext(connection) as saved:
            call = completed_call(organization)
        assert [q["sql"].split()[0] for q in saved.captured_queries] == ["BEGIN", "INSERT", "WITH", "COMMIT"]
        assert _prepared_here() == []
        assert Delivery.objects.filter(event__source_id=call.pk).count() == 1
    finally:
        del connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"]
