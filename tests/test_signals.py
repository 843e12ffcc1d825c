"""Signals: exactly one event per committed transition, whatever the sequence of saves,
rollbacks and instances."""
import pytest
from django.db import transaction
from django.utils import timezone

from inboundflow.models import Call
from webhooks.models import Event

from .conftest import completed_call

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_broker")]


class Boom(Exception):
    pass


def _events(call, event_type="call.completed") -> int:
    return Event.objects.filter(source_id=call.pk, event_type=event_type).count()


def _complete(call: Call) -> None:
    call.state, call.ended_at = Call.State.COMPLETED, timezone.now()


@pytest.fixture
def subscribed(make_integration, receiver):
    return make_integration(receiver.url)


def test_a_transition_rolled_back_is_emitted_by_the_next_committed_save(organization, subscribed):
    # given: a call in progress
    call = Call.objects.create(organization=organization, started_at=timezone.now())
    # when: it is completed in a transaction that rolls back, then the same instance is saved
    with pytest.raises(Boom), transaction.atomic():
        _complete(call)
        call.save()
        raise Boom
    assert _events(call) == 0
    call.save()
    # then: the committed transition is emitted, once
    assert _events(call) == 1
    call.save()
    assert _events(call) == 1


def test_a_transition_rolled_back_in_a_savepoint_is_emitted_later(organization, subscribed):
    call = Call.objects.create(organization=organization, started_at=timezone.now())
    with transaction.atomic():
        with pytest.raises(Boom), transaction.atomic():
            _complete(call)
            call.save()
            raise Boom
        call.transferred_at = timezone.now()
        call.save()
    assert (_events(call), _events(call, "call.transferred")) == (1, 1)


def test_a_call_created_in_a_rolled_back_transaction_emits_when_created_again(organization, subscribed):
    call = Call(organization=organization, started_at=timezone.now())
    _complete(call)
    with pytest.raises(Boom), transaction.atomic():
        call.save()
        raise Boom
    call.save()
    assert Call.objects.filter(pk=call.pk).exists() and _events(call) == 1


def test_two_instances_of_one_call_emit_once(organization, subscribed):
    call = Call.objects.create(organization=organization, started_at=timezone.now())
    first, second = Call.objects.get(pk=call.pk), Call.objects.get(pk=call.pk)
    _complete(first)
    first.save()
    _complete(second)
    second.save()
    assert _events(call) == 1


def test_a_committed_completion_saved_again_emits_nothing_more(organization, subscribed):
    call = completed_call(organization)
    call.summary = "edited after the call"
    call.save()
    Call.objects.get(pk=call.pk).save()
    assert _events(call) == 1
