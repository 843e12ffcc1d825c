"""The engine's own promises: a per-endpoint cap, one drain per integration, fair turns."""
import threading
import time

import pytest
from django.db import connections

from webhooks import engine
from webhooks.models import Delivery

from .conftest import completed_call

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


def test_a_drain_sends_at_most_the_endpoint_concurrency_at_once(settings, organization, make_integration, receiver):
    # given: 24 due deliveries for one endpoint that answers slowly
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 4
    receiver.responder = counter = InFlight(0.2)
    hook = make_integration(receiver.url)
    for _ in range(24):
        completed_call(organization)
    # when
    sent = engine.drain(integration_id=hook.id)
    # then: all sent, never more than 4 at once (and the cap was reached)
    assert sent == 24 and Delivery.objects.filter(status="succeeded").count() == 24
    assert counter.most == 4


def test_one_drain_per_integration_at_a_time(settings, organization, make_integration, receiver):
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 2
    receiver.responder = InFlight(0.3)
    hook = make_integration(receiver.url)
    for _ in range(6):
        completed_call(organization)
    results = {}

    def run(name):
        try:
            results[name] = engine.drain(integration_id=hook.id)
        finally:
            connections.close_all()

    first = threading.Thread(target=run, args=("first",))
    first.start()
    assert receiver.wait_for(1, timeout=10)  # the first holds the advisory lock and is sending
    run("second")
    first.join(30)
    assert results == {"second": 0, "first": 6}


def test_a_drain_out_of_time_rings_again_and_yields(settings, organization, make_integration, receiver, no_broker):
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 1
    settings.WEBHOOKS_DRAIN_SECONDS = 0.3
    receiver.responder = InFlight(0.2)
    hook = make_integration(receiver.url)
    for _ in range(5):
        completed_call(organization)
    no_broker.reset_mock()
    sent = engine.drain(integration_id=hook.id)
    assert 1 <= sent < 5
    no_broker.assert_called_once_with(args=[str(hook.id)], countdown=None)
