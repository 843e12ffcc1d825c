"""End to end: real PostgreSQL, real Redis, a real `celery worker -B` process, and loopback
receivers that check every header and signature. Saves happen here; the worker delivers."""
import datetime as dt
import time
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from inboundflow.models import Appointment, Call, Lead
from webhooks.devtools.receiver import always
from webhooks.models import Attempt, Delivery, Integration

from .conftest import completed_call, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def _statuses(integration):
    return list(Delivery.objects.filter(integration=integration).values_list("status", flat=True))


def test_each_event_arrives_once_signed_with_the_right_body(organization, make_integration, receiver):
    # given
    hook = make_integration(receiver.url)
    start = timezone.now() - dt.timedelta(seconds=47)
    # when: a call is answered, books, is captured as a lead, is transferred, then ends
    call = Call.objects.create(organization=organization, started_at=start, caller_name="Zoë", caller_phone="+33612345678")
    Appointment.objects.create(
        organization=organization, call=call, appointment_date=dt.date(2026, 2, 25),
        time_start=dt.datetime(2026, 2, 25, 11, tzinfo=dt.timezone.utc), service_type="Révision 🚗",
    )
    Lead.objects.create(organization=organization, call=call, caller_name="Zoë", interest="carrosserie")
    call.state, call.transferred_at, call.transferred_to_label = Call.State.TRANSFERRED, timezone.now(), "Manager"
    call.save()
    call.state, call.ended_at, call.summary = Call.State.COMPLETED, timezone.now(), "Résumé « complet »\n— fin"
    call.save()
    call.save()
    # then
    received = receiver.wait_for(4)
    time.sleep(4)  # longer than the sweep's grace: nothing more may arrive
    assert len(receiver.received) == 4
    assert [r.problems for r in received] == [[], [], [], []]
    by_event = {r.json["event"]: r.json for r in received}
    assert set(by_event) == {"appointment.booked", "lead.created", "call.transferred", "call.completed"}
    assert by_event["appointment.booked"]["data"]["service_type"] == "Révision 🚗"
    assert by_event["call.completed"]["data"]["summary"] == "Résumé « complet »\n— fin"
    assert by_event["call.completed"]["data"]["call_id"] == str(call.id)
    assert all(body["organization_id"] == str(organization.id) for body in by_event.values())
    assert wait_until(lambda: _statuses(hook) == ["succeeded"] * 4)


def test_a_rolled_back_save_sends_nothing(organization, make_integration, receiver):
    make_integration(receiver.url)
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            completed_call(organization)
            raise RuntimeError("rollback")
    completed_call(organization, caller_name="After")  # a committed save, as a witness
    [witness] = receiver.wait_for(1)
    time.sleep(1.5)
    assert len(receiver.received) == 1 and witness.json["data"]["caller_name"] == "After"


def test_500_then_200_is_two_attempts_with_one_delivery_id(organization, make_integration, receiver):
    statuses = iter([500, 200])
    receiver.responder = lambda r: (next(statuses, 200), b"", {})
    make_integration(receiver.url)
    completed_call(organization)
    first, second = receiver.wait_for(2)
    assert first.delivery_id == second.delivery_id and first.body == second.body
    assert first.headers["X-InboundFlow-Signature"] and second.problems == []
    delivery = wait_until(lambda: Delivery.objects.filter(status="succeeded").first())
    assert str(delivery.id) == first.delivery_id
    assert list(delivery.attempt_set.values_list("number", "status_code")) == [(1, 500), (2, 200)]


def test_ten_failed_deliveries_disable_then_the_command_sends_what_was_held(organization, make_integration, receiver):
    # given: an endpoint that always fails; each delivery has 2 attempts in the tests' schedule
    receiver.responder = always(500)
    hook = make_integration(receiver.url)
    for _ in range(10):
        completed_call(organization)
    # then: ten failed deliveries disable it
    assert wait_until(lambda: Integration.objects.get(pk=hook.pk).state == "disabled", timeout=60)
    hook.refresh_from_db()
    assert hook.consecutive_failures == 10 and "10 consecutive" in hook.disabled_reason
    assert len(receiver.received) == 20
    # when: events keep happening while it is disabled
    completed_call(organization, caller_name="Held 1")
    completed_call(organization, caller_name="Held 2")
    time.sleep(1.5)
    assert len(receiver.received) == 20
    assert Delivery.objects.filter(status="held").count() == 2
    # when: the endpoint is fixed and the command re-enables with --send-held
    receiver.responder = always(200)
    out = StringIO()
    call_command("webhooks_reenable", "--integration", str(hook.pk), "--send-held", stdout=out)
    # then
    assert "sending 2 held" in out.getvalue()
    held = receiver.wait_for(22)[20:]
    assert sorted(r.json["data"]["caller_name"] for r in held) == ["Held 1", "Held 2"]
    assert wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 2)
    hook.refresh_from_db()
    assert hook.is_active and hook.consecutive_failures == 0


def test_a_receiver_slower_than_10_s_is_cut_at_10_s(organization, make_integration, receiver):
    def slow_then_fine(received):
        if len(receiver.received) == 1:
            time.sleep(14)
        return 200, b"", {}

    receiver.responder = slow_then_fine
    make_integration(receiver.url)
    completed_call(organization)
    attempt = wait_until(lambda: Attempt.objects.filter(number=1).first(), timeout=30)
    assert attempt.error_class == "timeout" and not attempt.succeeded
    assert 9_900 <= attempt.duration_ms < 12_000
    assert wait_until(lambda: Delivery.objects.filter(status="succeeded").exists(), timeout=30)


def test_the_sweep_sends_what_could_not_be_enqueued(settings, organization, make_integration, receiver):
    # given: the broker refuses the publish at commit time (as when Redis is down); published in
    # the foreground so that it happens while the broker is "down"
    settings.WEBHOOKS_RING_IN_BACKGROUND = False
    make_integration(receiver.url)
    with mock.patch("webhooks.tasks.drain.apply_async", side_effect=ConnectionError("broker down")) as publish:
        completed_call(organization)
    assert publish.called and Delivery.objects.get().status == "pending"
    # then: the worker's periodic sweep finds it once the grace has passed
    [received] = receiver.wait_for(1, timeout=30)
    assert received.problems == []
    assert wait_until(lambda: Delivery.objects.get().status == "succeeded")
