"""The receiver kits (examples/receivers/) against our real sender: genuine deliveries accepted,
retries and redeliveries handled once, the largest body we send accepted, a replayed old
delivery and a tampered one refused, a rotation verified with both secrets."""
import json
import time

import pytest
import requests

from examples.receivers.python import django_view
from examples.receivers.python.inboundflow_webhooks import Deduplicator, InvalidWebhook, verify
from webhooks import rotation, services
from webhooks.models import Delivery
from webhooks.payloads import MAX_BODY_BYTES

from .conftest import ROOT, completed_call
from .helpers.node import NodeProgram
from .test_body_limit import LONG

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_broker")]

NODE_KIT = ROOT / "examples" / "receivers" / "node"


class NodeKit(NodeProgram):
    """examples/receivers/node/server.js, run as its README says."""

    def __init__(self, secrets: str, tolerance: int = 300):
        env = {"PATH": "/usr/bin:/bin", "INBOUNDFLOW_SECRETS": secrets, "PORT": "0", "TOLERANCE_SECONDS": str(tolerance)}
        super().__init__(NODE_KIT / "server.js", env=env)
        self.url = f"http://127.0.0.1:{self.first['listening']}/webhooks/inboundflow"


@pytest.fixture
def node_kit():
    kit = NodeKit("s3cret", tolerance=2)
    yield kit
    kit.close()


def attempt_pending():
    delivery = Delivery.objects.filter(status="pending").order_by("created_at").first()
    attempt = services.delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    return delivery, attempt


def test_the_node_kit_accepts_handles_once_and_takes_our_largest_body(organization, make_integration, node_kit):
    make_integration(node_kit.url, events=["call.completed"])
    # a delivery: accepted (answered first), then handled
    completed_call(organization)
    delivery, attempt = attempt_pending()
    assert attempt.status_code == 200
    assert node_kit.next_line() == {"status": 200, "accepted": str(delivery.id), "bytes": node_kit_bytes(delivery)}
    assert node_kit.next_line() == {"handled": str(delivery.id), "event": "call.completed"}
    # the same delivery again (a redelivery keeps its id): answered 200, not handled twice
    services.delivery_redeliver(delivery=delivery)
    _, again = attempt_pending()
    assert again.status_code == 200 and node_kit.next_line() == {"status": 200, "duplicate": str(delivery.id)}
    # the largest body we send (texts cut to fit 100 KB) goes through
    completed_call(organization, transcript=LONG, summary=LONG)
    long_delivery, long_attempt = attempt_pending()
    line = node_kit.next_line()
    assert long_attempt.status_code == 200 and line["accepted"] == str(long_delivery.id)
    assert MAX_BODY_BYTES - 2000 < line["bytes"] <= MAX_BODY_BYTES


def node_kit_bytes(delivery) -> int:
    from webhooks.payloads import delivery_body

    return len(delivery_body(event=delivery.event, delivery_id=delivery.id))


def test_the_node_kit_refuses_a_replayed_old_delivery_and_a_tampered_one(organization, make_integration, receiver, node_kit):
    # given: a genuine request, captured as it was sent
    make_integration(receiver.url, events=["call.completed"])
    completed_call(organization)
    attempt_pending()
    sent = receiver.wait_for(1)[0]
    headers = {k: v for k, v in sent.headers.items() if k.lower() not in ("host", "content-length", "connection")}
    # when / then: sent on at once, it is accepted; replayed after the tolerance (2 s here), refused
    assert requests.post(node_kit.url, data=sent.body, headers=headers, timeout=5).status_code == 200
    assert node_kit.next_line()["accepted"] == sent.delivery_id
    node_kit.next_line()  # handled
    time.sleep(3.1)
    replay = requests.post(node_kit.url, data=sent.body, headers=headers, timeout=5)
    assert replay.status_code == 401 and "tolerance" in node_kit.next_line()["refused"]
    # a body changed on the way, with a fresh timestamp that the signature does not cover
    fresh = {**headers, "X-InboundFlow-Timestamp": str(int(time.time())), "webhook-timestamp": str(int(time.time()))}
    assert requests.post(node_kit.url, data=sent.body, headers=fresh, timeout=5).status_code == 401
    assert "does not match" in node_kit.next_line()["refused"]
    tampered = requests.post(node_kit.url, data=sent.body.replace(b"Dave", b"Eve!"), headers=headers, timeout=5)
    assert tampered.status_code == 401


def test_the_node_kit_verifies_through_a_rotation_with_both_secrets(organization, make_integration):
    hook = make_integration("http://127.0.0.1:9/unused", events=["call.completed"])
    new = rotation.integration_secret_rotate(integration=hook)
    kit = NodeKit(f"{new},s3cret")
    try:
        hook.target_url = kit.url
        hook.save(update_fields=["target_url"])
        for switch in (False, True):  # before and after "use the new secret now"
            if switch:
                rotation.integration_secret_use_new(integration=hook)
            completed_call(organization)
            delivery, attempt = attempt_pending()
            assert attempt.status_code == 200 and kit.next_line()["accepted"] == str(delivery.id)
            kit.next_line()
    finally:
        kit.close()


# --- the Python kit ---------------------------------------------------------------------------


@pytest.fixture
def django_kit(settings, live_server):
    settings.ROOT_URLCONF = "tests.kit_urls"
    settings.INBOUNDFLOW_WEBHOOK_SECRETS = ["s3cret"]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "kit"}}
    handled = []
    original = django_view.handle_event
    django_view.handle_event = handled.append
    yield f"{live_server.url}/webhooks/inboundflow/", handled
    django_view.handle_event = original


def test_the_django_view_accepts_handles_once_and_takes_our_largest_body(organization, make_integration, django_kit):
    url, handled = django_kit
    make_integration(url, events=["call.completed"])
    completed_call(organization)
    delivery, attempt = attempt_pending()
    assert attempt.status_code == 200 and json.loads(attempt.response_excerpt) == {"ok": True}
    services.delivery_redeliver(delivery=delivery)
    _, again = attempt_pending()
    assert again.status_code == 200 and json.loads(again.response_excerpt) == {"ok": True, "duplicate": True}
    completed_call(organization, transcript=LONG, summary=LONG)
    _, long_attempt = attempt_pending()
    assert long_attempt.status_code == 200
    deadline = time.monotonic() + 5
    while len(handled) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [payload["delivery_id"] for payload in handled][:1] == [str(delivery.id)] and len(handled) == 2


def test_the_python_function_refuses_a_replay_and_a_tampered_body(organization, make_integration, receiver):
    # given: a genuine request, captured as it was sent, during a rotation
    hook = make_integration(receiver.url, events=["call.completed"])
    new = rotation.integration_secret_rotate(integration=hook)
    completed_call(organization)
    attempt_pending()
    sent = receiver.wait_for(1)[0]
    # then: verified with the new and the old secret together, or either alone
    for keys in ([new, "s3cret"], ["s3cret"]):
        assert verify(body=sent.body, headers=sent.headers, secrets=keys)["delivery_id"] == sent.delivery_id
    with pytest.raises(InvalidWebhook, match="X-InboundFlow-Signature does not match"):
        verify(body=sent.body, headers=sent.headers, secrets=[new])  # still on the old one until switched
    with pytest.raises(InvalidWebhook, match="tolerance"):
        verify(body=sent.body, headers=sent.headers, secrets=["s3cret"], now=time.time() + 301)
    with pytest.raises(InvalidWebhook, match="does not match"):
        verify(body=sent.body.replace(b"Dave", b"Eve!"), headers=sent.headers, secrets=["s3cret"])
    with pytest.raises(InvalidWebhook, match="raw body"):
        verify(body=json.loads(sent.body), headers=sent.headers, secrets=["s3cret"])
    seen = Deduplicator()
    assert seen.first_time(sent.delivery_id) and not seen.first_time(sent.delivery_id)
