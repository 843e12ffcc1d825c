"""Bad input: each gets a clear error (or, for the AI pipeline's text, a safe repair), and
nothing is half-written. The README's table lists these cases."""

import pytest
from django.db import IntegrityError
from django.urls import reverse

from inboundflow.models import Call
from webhooks import services
from webhooks.models import Delivery, Event, Integration

from .conftest import completed_call

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]




def valid(**changes):
    return {"kind": "custom", "name": "CRM", "target_url": "https://8.8.8.8/hook", "event_types": ["call.completed"], **changes}


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"target_url": "https://8.8.8.8/" + "a" * 2000}, "target_url", "no more than 2000 characters"),
        ({"name": "n" * 101}, "name", "no more than 100 characters"),
        ({"secret": "s" * 201}, "secret", "no more than 200 characters"),
        ({"kind": "slack"}, "kind", "not a valid choice"),
        ({"event_types": "call.completed"}, "event_types", "Expected a list"),
        ({"name": "tab\there"}, "name", "printable characters"),
        ({"name": "bad \ufffd bytes"}, "name", "not valid UTF-8"),
    ],
)
def test_api_overlong_and_malformed_fields(api, changes, field, message):
    response = api.post("/api/integrations/", valid(**changes), format="json")
    assert response.status_code == 400
    assert message in str(response.json()[field])
    assert Integration.objects.count() == 0


def test_api_body_that_is_not_utf8(api):
    response = api.post("/api/integrations/", b'{"name": "caf\xe9"}', content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]
    assert Integration.objects.count() == 0


def test_api_body_that_is_not_json(api):
    response = api.post("/api/integrations/", b"name=x", content_type="application/json")
    assert response.status_code == 400
    assert Integration.objects.count() == 0


def test_form_with_invalid_utf8_bytes_in_the_name(client, user):
    client.force_login(user)
    body = (
        b"kind=custom&name=caf%E9&target_url=https%3A%2F%2F8.8.8.8%2Fhook&event_types=call.completed"
    )
    response = client.post(reverse("webhooks:integration-create"), body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and "not valid UTF-8" in response.content.decode()
    assert Integration.objects.count() == 0


def test_an_invalid_change_leaves_the_integration_as_it_was(api, make_integration, receiver):
    hook = make_integration(receiver.url, name="Before")
    response = api.patch(f"/api/integrations/{hook.pk}/", {"name": "After", "target_url": "https://10.0.0.1/"}, format="json")
    assert response.status_code == 400
    hook.refresh_from_db()
    assert (hook.name, hook.target_url) == ("Before", receiver.url)


def test_a_transcript_with_nul_and_broken_characters_is_kept_and_delivered(organization, make_integration, receiver):
    # given: text from the AI pipeline with a NUL byte and a lone surrogate
    make_integration(receiver.url)
    # when
    call = completed_call(organization, summary="brakes\x00 squeal \ud800!", transcript="AI: hi\x00\nCaller: \udcff")
    # then: the call is kept (repaired), the event goes out and verifies
    stored = Call.objects.get(pk=call.pk)
    assert stored.summary == "brakes squeal \ufffd!" and stored.transcript == "AI: hi\nCaller: \ufffd"
    services.delivery_attempt(delivery_id=Delivery.objects.get().id)
    [received] = receiver.received
    assert received.problems == []
    assert received.json["data"]["summary"] == "brakes squeal \ufffd!"


def test_a_call_that_cannot_be_saved_writes_no_event(organization, make_integration, receiver):
    make_integration(receiver.url)
    with pytest.raises(IntegrityError):
        completed_call(organization, ended_at=None)  # completed without an end time: refused by the database
    assert (Call.objects.count(), Event.objects.count(), Delivery.objects.count()) == (0, 0, 0)
