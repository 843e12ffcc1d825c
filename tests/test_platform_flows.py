"""Each automation platform's flow, end to end on real parts: HTTP requests to the live server
with an API key, as Zapier's REST Hook trigger, Make's instant trigger and n8n's trigger node
make them; deliveries by a real Celery worker to a real receiver on 127.0.0.1."""
import time

import pytest
import requests

from webhooks import api_keys
from webhooks.devtools.receiver import Receiver
from webhooks.models import Delivery, Integration

from .conftest import completed_call, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


class Platform:
    """What a platform's trigger does over HTTP, step by step."""

    def __init__(self, base_url: str, key: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Api-Key {key}"

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.base_url + path, timeout=10, **kwargs)


def _zapier(platform: Platform, url: str) -> str:
    # subscribe: one event per trigger, the hook id kept in the Zap's bundle
    response = platform.call("POST", "/api/hooks/", json={"target_url": url, "event": "call.completed", "kind": "zapier"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _make(platform: Platform, url: str) -> str:
    # attach: the scenario's webhook, its events as a list, a secret to check signatures with
    body = {"target_url": url, "events": ["call.completed"], "kind": "make", "secret": "s3cret"}
    response = platform.call("POST", "/api/hooks/", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _n8n(platform: Platform, url: str) -> str:
    # checkExists with the id n8n remembers (none yet) → create; n8n's address tells the kind
    assert platform.call("GET", "/api/hooks/00000000-0000-0000-0000-000000000000/").status_code == 404
    response = platform.call("POST", "/api/hooks/", json={"target_url": url, "events": ["call.completed"], "secret": "s3cret"})
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == "n8n"
    hook_id = response.json()["id"]
    assert platform.call("GET", f"/api/hooks/{hook_id}/").status_code == 200  # checkExists, now yes
    return hook_id


FLOWS = {"zapier": (_zapier, None, "/hooks/catch/123/abc/"), "make": (_make, "s3cret", "/abc123"),
         "n8n": (_n8n, "s3cret", "/webhook/5f0c2a9e")}


@pytest.mark.parametrize("name", FLOWS)
def test_a_platform_connects_receives_and_disconnects(name, live_server, organization):
    subscribe, secret, path = FLOWS[name]
    _api_key, key = api_keys.api_key_create(organization_id=organization.pk, name=name)
    platform = Platform(live_server.url, key)
    with Receiver(secret=secret) as receiver:
        url = receiver.url.rsplit("/", 1)[0] + path
        # test authentication
        me = platform.call("GET", "/api/me/")
        assert me.status_code == 200 and me.json()["name"] == "Main Street Auto"
        # the user turns the Zap / scenario / workflow on
        hook_id = subscribe(platform, url)
        # while they map fields: samples (none delivered yet: the documentation's example)
        samples = platform.call("GET", "/api/event-types/call.completed/samples/?limit=3")
        assert samples.status_code == 200 and samples.json()[0]["data"]["caller_name"] == "Dave"
        # a call ends: delivered to the subscribed URL, verified as the documentation says
        call = completed_call(organization, caller_name=f"Caller for {name}")
        received = receiver.wait_for(1)
        assert len(received) == 1 and received[0].problems == []
        assert received[0].json["data"]["call_id"] == str(call.pk)
        # the samples now are that very body
        assert wait_until(lambda: Delivery.objects.filter(status="succeeded").exists())
        samples = platform.call("GET", "/api/event-types/call.completed/samples/?limit=3")
        assert samples.content == b"[" + received[0].body + b"]"
        # the user turns it off: unsubscribe; the next call is not delivered
        assert platform.call("DELETE", f"/api/hooks/{hook_id}/").status_code == 204
        assert platform.call("GET", f"/api/hooks/{hook_id}/").status_code == 404
        completed_call(organization, caller_name="After unsubscribing")
        time.sleep(2)  # a delivery would arrive within ~100 ms with a live worker
        assert len(receiver.received) == 1 and not Integration.objects.exists()


def test_a_target_answering_410_ends_the_subscription(live_server, organization):
    _api_key, key = api_keys.api_key_create(organization_id=organization.pk, name="Zapier")
    platform = Platform(live_server.url, key)
    with Receiver(responder=lambda received: (410, b"", {})) as receiver:
        hook_id = _zapier(platform, receiver.url)
        completed_call(organization)
        assert len(receiver.wait_for(1)) == 1
        assert wait_until(lambda: Integration.objects.get().disabled_cause == "gone")
        # gone from the platform's view: checkExists says no, and nothing more is sent
        assert platform.call("GET", f"/api/hooks/{hook_id}/").status_code == 404
        assert platform.call("GET", "/api/hooks/").json()["results"] == []
        completed_call(organization)
        time.sleep(2)
        assert len(receiver.received) == 1 and Delivery.objects.filter(status="held").count() == 1
