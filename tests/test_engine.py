"""The engine's own promises: a per-endpoint cap shared by an integration's drain slots, fair
turns, and no retry before its time."""
import datetime as dt
import os
import subprocess
import sys
import threading
import time

from unittest import mock

import pytest
import redis
from django.db import connections
from kombu.exceptions import OperationalError

from webhooks import engine
from webhooks.models import Delivery

from .conftest import ROOT, completed_call, worker_database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_broker")]


class InFlight:
    """A responder that counts how many requests are being answered at once."""

    def __init__(self, seconds: float):
        self.seconds, self.now, self.most = seconds, 0, 0
        self.lock = threading.Lock()

    def __call__(self, received):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(self.seconds)
        with self.lock:
            self.now -= 1
        return 200, b"", {}


def test_a_drain_sends_at_most_its_share_of_the_endpoint_concurrency_at_once(settings, organization, make_integration, receiver):
    # given: 24 due deliveries for one endpoint that answers slowly, 4 in flight over 2 slots
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY, settings.WEBHOOKS_DRAIN_SLOTS = 4, 2
    receiver.responder = counter = InFlight(0.2)
    hook = make_integration(receiver.url)
    for _ in range(24):
        completed_call(organization)
    claimed = []
    claim = engine.claim

    def claim_counted(**kwargs):
        batch = claim(**kwargs)
        claimed.append(len(batch))
        return batch

    # when: one drain works alone
    with mock.patch.object(engine, "claim", claim_counted):
        sent = engine.drain(integration_id=hook.id)
    # then: all sent, never more than its half at once (and that was reached), from batches
    # twice that size (a batch per request in flight would cost each delivery more)
    assert sent == 24 and Delivery.objects.filter(status="succeeded").count() == 24
    assert counter.most == 2
    assert max(claimed) == 4 and sum(claimed) == 24


def _drains_at_once(hook, count: int) -> list[int]:
    results, start = [], threading.Barrier(count)

    def run():
        try:
            start.wait()
            # threads of this test stand for worker processes: a drain told it was passed on
            # enough stays where it landed (engine.PASS_ON_MAX)
            results.append(engine.drain(integration_id=hook.id, hops=engine.PASS_ON_MAX))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(results)


def test_drains_of_one_integration_share_its_concurrency_and_its_slots(settings, organization, make_integration, receiver):
    # given: 3 drains started together on an integration with 2 slots and 4 requests in flight
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY, settings.WEBHOOKS_DRAIN_SLOTS = 4, 2
    receiver.responder = counter = InFlight(0.2)
    hook = make_integration(receiver.url)
    for _ in range(24):
        completed_call(organization)
    # when
    results = _drains_at_once(hook, 3)
    # then: two worked (sharing the 24), the third found no slot; never more than 4 at once,
    # and each delivery was sent once
    assert results[0] == 0 and results[1] > 0 and sum(results) == 24
    assert counter.most == 4
    assert sorted(r.delivery_id for r in receiver.received) == sorted(str(pk) for pk in Delivery.objects.values_list("id", flat=True))


def test_an_endpoint_allowed_one_request_at_a_time_gets_one_whatever_the_slots(settings, organization, make_integration, receiver):
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY, settings.WEBHOOKS_DRAIN_SLOTS = 1, 2
    receiver.responder = counter = InFlight(0.1)
    hook = make_integration(receiver.url)
    for _ in range(6):
        completed_call(organization)
    results = _drains_at_once(hook, 2)
    assert results == [0, 6] and counter.most == 1


def _drain_into(results: dict, name: str, hook) -> None:
    """A drain as a worker thread runs one: its count under `name`, its connection closed after."""
    try:
        results[name] = engine.drain(integration_id=hook.id)
    finally:
        connections.close_all()


def _first_drain_sending(results: dict, hook, receiver) -> threading.Thread:
    """A drain started in a thread (counted under "first"), returned once its first request is on
    the wire."""
    thread = threading.Thread(target=_drain_into, args=(results, "first", hook))
    thread.start()
    assert receiver.wait_for(1, timeout=10)
    return thread


def test_one_drain_per_integration_at_a_time_with_one_slot(settings, organization, make_integration, receiver):
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY, settings.WEBHOOKS_DRAIN_SLOTS = 2, 1
    receiver.responder = InFlight(0.3)
    hook = make_integration(receiver.url)
    for _ in range(6):
        completed_call(organization)
    results = {}
    first = _first_drain_sending(results, hook, receiver)  # it holds the only slot
    _drain_into(results, "second", hook)
    first.join(30)
    assert results == {"second": 0, "first": 6}


def test_a_second_drain_in_the_same_process_passes_itself_on_then_stays(settings, organization, make_integration, receiver, no_broker):
    # given: two slots, and a drain of this integration already sending from this process
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY, settings.WEBHOOKS_DRAIN_SLOTS = 2, 2
    receiver.responder = InFlight(0.3)
    hook = make_integration(receiver.url)
    for _ in range(8):
        completed_call(organization)
    results = {}
    thread = _first_drain_sending(results, hook, receiver)
    no_broker.reset_mock()
    # when: a second drain of it lands here: it passes itself on (another process may take it)
    assert engine.drain(integration_id=hook.id) == 0
    assert no_broker.call_args.kwargs == {"args": [str(hook.id)], "kwargs": {"hops": 1}}
    # when: it was already passed on PASS_ON_MAX times: it stays and takes the second slot
    stayed = engine.drain(integration_id=hook.id, hops=engine.PASS_ON_MAX)
    connections.close_all()
    thread.join(30)
    assert stayed > 0 and stayed + results["first"] == 8


def test_a_busy_drain_asks_once_for_the_next_slot_s_help(settings, organization, make_integration, receiver, no_broker):
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY, settings.WEBHOOKS_DRAIN_SLOTS = 4, 2
    hook = make_integration(receiver.url)
    for _ in range(12):
        completed_call(organization)
    no_broker.reset_mock()
    assert engine.drain(integration_id=hook.id) == 12
    no_broker.assert_called_once_with(args=[str(hook.id)], countdown=None)  # one ring for help
    # a quiet integration (less than a batch waiting) costs one drain, no help
    for _ in range(1):
        completed_call(organization)
    no_broker.reset_mock()
    assert engine.drain(integration_id=hook.id) == 1
    no_broker.assert_not_called()


def test_a_drain_out_of_time_rings_again_and_yields(settings, organization, make_integration, receiver, no_broker):
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY, settings.WEBHOOKS_DRAIN_SLOTS = 1, 1
    settings.WEBHOOKS_DRAIN_SECONDS = 0.3
    receiver.responder = InFlight(0.2)
    hook = make_integration(receiver.url)
    for _ in range(5):
        completed_call(organization)
    no_broker.reset_mock()
    sent = engine.drain(integration_id=hook.id)
    assert 1 <= sent < 5
    no_broker.assert_called_once_with(args=[str(hook.id)], countdown=None)


def test_no_retry_starts_before_its_due_time(settings, organization, make_integration, receiver):
    # given: a 0, 1 s, 2 s schedule (no jitter) and an endpoint that always fails
    settings.WEBHOOKS_RETRY_SCHEDULE = [0, 1, 2]
    settings.WEBHOOKS_DISABLE_AFTER = 1000
    receiver.responder = lambda received: (500, b"", {})
    hook = make_integration(receiver.url)
    for _ in range(40):
        completed_call(organization)
    # when: the integration is drained until every delivery has used its three attempts
    deadline = time.monotonic() + 60
    while Delivery.objects.filter(status="pending").exists() and time.monotonic() < deadline:
        engine.drain(integration_id=hook.id)
    # then: each retry started no earlier than the previous attempt's end plus its delay
    assert Delivery.objects.filter(status="failed").count() == 40
    early = []
    for delivery in Delivery.objects.prefetch_related("attempt_set"):
        attempts = sorted(delivery.attempt_set.all(), key=lambda a: a.number)
        assert [a.number for a in attempts] == [1, 2, 3]
        for before, after, delay in zip(attempts, attempts[1:], [1, 2]):
            ended = before.started_at + dt.timedelta(milliseconds=before.duration_ms - 1)
            if after.started_at < ended + dt.timedelta(seconds=delay):
                early.append((after.started_at - ended).total_seconds())
    assert early == [], f"{len(early)} retries started early: {sorted(early)[:10]}"


def test_a_short_lived_process_publishes_its_rings_before_it_exits(organization, make_integration, receiver):
    # given: an integration, and a broker nobody consumes from
    broker_url = "redis://127.0.0.1:6379/11"
    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()
    make_integration(receiver.url)
    # when: `manage.py shell -c` completes a call and exits at once
    env = {**os.environ, "CELERY_BROKER_URL": broker_url, "DATABASE_URL": worker_database_url()}
    script = (
        "from inboundflow.models import Organization; from tests.conftest import completed_call; "
        f"completed_call(Organization.objects.get(pk='{organization.pk}'))"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # then: the drain was published before the process ended, not left to the sweep
    assert broker.llen("celery") == 1


def test_a_ring_the_broker_refuses_is_left_to_the_next_sweep(settings, organization, make_integration, receiver):
    # given: a broker that refuses every publish
    settings.WEBHOOKS_ENQUEUE_GRACE = 3600
    make_integration(receiver.url)
    with mock.patch("webhooks.tasks.drain.apply_async", side_effect=OperationalError("broker down")):
        completed_call(organization)
    # then: the delivery is not counted as enqueued, so the next sweep rings for it at once
    # instead of waiting out the grace
    assert Delivery.objects.get().enqueued_at is None
    with mock.patch("webhooks.tasks.drain.apply_async") as published:
        assert engine.sweep() == 1
    assert published.call_count == 1


def test_a_batch_that_disables_the_integration_holds_what_was_claimed_while_it_was_in_flight(settings, organization, make_integration, receiver):
    # given: batches of 2, and an endpoint that answers 410 Gone (one failure disables)
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY, settings.WEBHOOKS_DRAIN_SLOTS = 2, 1
    receiver.responder = lambda received: (time.sleep(0.1), (410, b"", {}))[1]
    hook = make_integration(receiver.url)
    for _ in range(6):
        completed_call(organization)
    # when: one drain works (it claims the next batch while the first is on the wire)
    engine.drain(integration_id=hook.id)
    # then: the first batch disabled the hook; nothing else reached the endpoint
    hook.refresh_from_db()
    assert hook.state == "disabled" and hook.disabled_cause == "gone"
    assert len(receiver.received) == 2
    assert Delivery.objects.filter(status="failed").count() == 2
    assert Delivery.objects.filter(status="held").count() == 4


def test_a_batch_on_the_wire_is_recorded_even_when_the_drain_fails_meanwhile(settings, organization, make_integration, receiver):
    # given: batches of 2 for an endpoint that answers slowly, and a database that fails the
    # drain's second claim (made while the first batch is in flight)
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY, settings.WEBHOOKS_DRAIN_SLOTS = 2, 1
    receiver.responder = InFlight(0.2)
    hook = make_integration(receiver.url)
    for _ in range(4):
        completed_call(organization)
    claims = []

    def claim_then_fail(**kwargs):
        claims.append(kwargs)
        if len(claims) == 2:
            raise RuntimeError("the database went away")
        return real_claim(**kwargs)

    real_claim = engine.claim
    # when: the drain fails
    with mock.patch.object(engine, "claim", side_effect=claim_then_fail), pytest.raises(RuntimeError):
        engine.drain(integration_id=hook.id)
    # then: the two requests made were recorded (not sent again later), the rest still pending
    assert len(receiver.received) == 2
    assert Delivery.objects.filter(status="succeeded").count() == 2
    assert Delivery.objects.filter(status="pending", attempts=0).count() == 2
