"""Bad input: each gets a clear error (or, for the AI pipeline's text, a safe repair), and
nothing is half-written. The README's table lists these cases."""
import datetime as dt
import json

import pytest
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone

from inboundflow.models import Appointment, Call, Lead
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


def _deliver_one(receiver):
    services.delivery_attempt(delivery_id=Delivery.objects.get().id)
    [received] = receiver.received
    assert received.problems == []
    return received.json["data"]


def test_a_call_whose_ai_fields_are_missing_is_kept_and_delivered_with_nulls(organization, make_integration, receiver):
    # given: the AI pipeline produced no name, summary, email, intent, transcript or urgency
    make_integration(receiver.url, events=["call.completed"])
    # when
    call = completed_call(
        organization, caller_name=None, summary=None, caller_email=None, intent=None, transcript=None,
        urgency=None, recording_url=None, caller_phone=None,
    )
    # then: the call is stored and its event carries every key, as null
    assert Call.objects.filter(pk=call.pk).exists()
    data = _deliver_one(receiver)
    for key in ("caller_name", "summary", "caller_email", "intent", "transcript", "urgency", "recording_url", "caller_phone"):
        assert key in data and data[key] is None, key


def test_a_lead_and_an_appointment_with_missing_fields_are_kept(organization, make_integration, receiver):
    make_integration(receiver.url, events=["lead.created", "appointment.booked"])
    call = completed_call(organization)
    lead = Lead.objects.create(
        organization=organization, call=call, caller_phone=None, caller_name=None, caller_email=None,
        intent=None, urgency=None, interest=None,
    )
    appointment = Appointment.objects.create(
        organization=organization, call=call, appointment_date=dt.date(2026, 2, 25),
        time_start=timezone.now(), time_end=None, service_type=None, calendar_event_id=None, calendar_event_link=None,
    )
    assert Lead.objects.filter(pk=lead.pk).exists() and Appointment.objects.filter(pk=appointment.pk).exists()
    bodies = [json.loads(e.data) for e in Event.objects.order_by("event_type")]
    assert bodies[0]["service_type"] is None and bodies[0]["appointment_time_end"] is None
    assert bodies[1]["interest"] is None and bodies[1]["urgency"] is None


@pytest.mark.parametrize(
    "said, stored",
    [
        ("URGENT!", "high"), ("High", "high"), (" medium ", "medium"), ("Emergency", "high"),
        ("normal", "medium"), ("low", "low"), ("routine", "low"), ("whenever, no rush at all", ""),
        ("", ""), (None, ""), ("ÉLEVÉE", ""),
    ],
)
def test_urgency_outside_the_vocabulary_is_normalised_or_nulled(organization, make_integration, receiver, said, stored):
    make_integration(receiver.url, events=["call.completed"])
    call = completed_call(organization, urgency=said)
    assert Call.objects.get(pk=call.pk).urgency == stored
    assert _deliver_one(receiver)["urgency"] == (stored or None)


def test_ai_text_longer_than_its_column_is_cut_not_refused(organization, make_integration, receiver):
    make_integration(receiver.url, events=["call.completed"])
    call = completed_call(organization, caller_name="N" * 500, intent="i" * 300, recording_url="https://r.example/" + "a" * 3000)
    stored = Call.objects.get(pk=call.pk)
    assert stored.caller_name == "N" * 200 and stored.intent == "i" * 200
    assert stored.recording_url == ""  # a cut URL would be a different URL: dropped, delivered as null
    assert _deliver_one(receiver)["recording_url"] is None


# --- The API never answers bad input with a server error or a non-JSON page -------------------


def _assert_json_4xx(response, status=None, says=None):
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    assert status is None or response.status_code == status, response.status_code
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert says is None or says in json.dumps(body, ensure_ascii=False), body
    return body


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/api/integrations/"),
        ("put", "/api/integrations/{hook}/"),
        ("patch", "/api/integrations/{hook}/"),
        ("post", "/api/integrations/{hook}/test/"),
        ("post", "/api/integrations/{hook}/enable/"),
    ],
)
def test_api_json_nested_too_deeply(api, make_integration, receiver, method, path):
    hook = make_integration(receiver.url)
    body = "[" * 1000 + "]" * 1000
    response = getattr(api, method)(path.format(hook=hook.pk), body, content_type="application/json")
    _assert_json_4xx(response, 400, "nested")


@pytest.mark.parametrize("body", ["[]", '"x"', "3", "null"])
@pytest.mark.parametrize("action", ["test", "enable"])
def test_api_actions_with_a_body_that_is_not_an_object(api, make_integration, receiver, body, action):
    hook = make_integration(receiver.url)
    response = api.post(f"/api/integrations/{hook.pk}/{action}/", body, content_type="application/json")
    _assert_json_4xx(response, 400, "Expected a JSON object")
    assert receiver.received == []


@pytest.mark.parametrize("path", ["/api/integrations/", "/api/deliveries/"])
@pytest.mark.parametrize("query", ["limit=99999999999999999999", "offset=99999999999999999999", "limit=-5&offset=-1", "limit=abc"])
def test_api_lists_with_absurd_paging(api, make_integration, receiver, organization, path, query):
    make_integration(receiver.url)
    completed_call(organization)
    response = api.get(f"{path}?{query}")
    if response.status_code == 200:
        assert response.json()["results"] is not None
    else:
        _assert_json_4xx(response, 400, "offset")


def test_api_body_over_the_size_limit(api):
    response = api.post("/api/integrations/", b'{"name": "' + b"x" * (20 * 1024 * 1024) + b'"}', content_type="application/json")
    _assert_json_4xx(response, 413, "too large")
    assert Integration.objects.count() == 0


def test_api_unknown_route_is_json(api):
    _assert_json_4xx(api.get("/api/nothing-here/"), 404)


def test_api_errors_speak_french_to_a_french_client(api, make_integration, receiver):
    hook = make_integration(receiver.url)
    response = api.post(f"/api/integrations/{hook.pk}/test/", "[]", content_type="application/json", HTTP_ACCEPT_LANGUAGE="fr")
    _assert_json_4xx(response, 400, "Le corps de la requête doit être un objet JSON.")
    _assert_json_4xx(api.get("/api/nothing-here/", HTTP_ACCEPT_LANGUAGE="fr"), 404, "Introuvable.")
