"""What automation platforms use, through the API as they call it: API keys (401 with
WWW-Authenticate, revoked keys, tenancy), REST Hooks (subscribe, idempotence, check, unsubscribe,
a 410 ending the subscription), the event catalog and its samples."""
import datetime as dt
import json
from io import StringIO
from pathlib import Path

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from django.core.management import CommandError, call_command
from django.urls import reverse
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from webhooks import api_keys, services
from webhooks.catalog import DOCUMENTED_EXAMPLES, body_schema, example_body
from webhooks.devtools.receiver import always
from webhooks.events import EventType
from webhooks.kinds import kind_from_url
from webhooks.models import ApiKey, Delivery, Integration
from webhooks.payloads import delivery_body

from .conftest import completed_call

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


@pytest.fixture
def key(organization):
    _api_key, key = api_keys.api_key_create(organization_id=organization.pk, name="Zapier")
    return key


@pytest.fixture
def platform(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def subscribe(client, url, **body):
    return client.post("/api/hooks/", {"target_url": url, **body}, format="json")


# --- API keys ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/me/", "/api/integrations/", "/api/hooks/", "/api/event-types/"])
@pytest.mark.parametrize("authorization", [None, "Api-Key nope", "Api-Key AAAAAAAA." + "b" * 32, "Bearer x"])
def test_missing_or_bad_credentials_get_401_with_the_scheme_to_use(db, path, authorization):
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    response = client.get(path)
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == 'Api-Key realm="api"'
    assert "detail" in response.json()


def test_a_key_with_the_right_prefix_and_a_wrong_secret_is_refused(platform, key):
    client = APIClient()
    prefix = key.split(".")[0]
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {prefix}.{'x' * 32}")
    assert client.get("/api/me/").status_code == 401
    assert platform.get("/api/me/").status_code == 200


def test_the_key_acts_for_its_organization_and_is_marked_used(platform, organization):
    assert ApiKey.objects.get().last_used_at is None
    response = platform.get("/api/me/")
    assert response.status_code == 200
    assert response.json() == {
        "id": str(organization.pk), "name": "Main Street Auto",
        "api_key": {"name": "Zapier", "prefix": ApiKey.objects.get().prefix},
    }
    assert ApiKey.objects.get().last_used_at is not None


def test_a_revoked_key_no_longer_opens_the_api(platform):
    api_key = ApiKey.objects.get()
    api_keys.api_key_revoke(api_key=api_key)
    response = platform.get("/api/me/")
    assert response.status_code == 401 and "revoked" in response.json()["detail"]
    assert ApiKey.objects.get().revoked_at is not None


def test_the_key_is_stored_hashed_never_as_itself(key):
    stored = ApiKey.objects.get()
    assert key.startswith(stored.prefix + ".") and key not in (stored.hashed_key, stored.pk)
    assert stored.hashed_key.startswith("sha512$$")


def test_another_organization_s_hooks_are_not_found(platform, other_organization, receiver):
    theirs = Integration.objects.create(
        organization=other_organization, origin="rest_hook", name="Theirs", target_url=receiver.url,
        event_types=["call.completed"],
    )
    assert platform.get(f"/api/hooks/{theirs.pk}/").status_code == 404
    assert platform.delete(f"/api/hooks/{theirs.pk}/").status_code == 404
    assert platform.get(f"/api/integrations/{theirs.pk}/").status_code == 404
    assert Integration.objects.filter(pk=theirs.pk).exists()


def test_api_key_create_prints_the_key_alone_on_its_last_line(organization):
    out = StringIO()
    call_command("api_key_create", "--organization", str(organization.pk), "--name", "CRM sync", stdout=out)
    key = out.getvalue().splitlines()[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert client.get("/api/me/").json()["api_key"]["name"] == "CRM sync"


@pytest.mark.parametrize("args, message", [
    (["--organization", "not-a-uuid", "--name", "x"], "is not an organization id"),
    (["--organization", "00000000-0000-0000-0000-000000000000", "--name", "x"], "No organization has the id"),
    (["--name", "   "], "cannot be blank"),
    (["--name", "x" * 51], "at most 50 characters"),
    (["--name", "two\nlines"], "printable characters only"),
])
def test_api_key_create_says_what_is_wrong(organization, args, message):
    if "--organization" not in args:
        args = ["--organization", str(organization.pk), *args]
    with pytest.raises(CommandError, match=message):
        call_command("api_key_create", *args, stdout=StringIO())
    assert not ApiKey.objects.exists()


# --- REST Hooks ----------------------------------------------------------------------------


def test_subscribe_answers_201_with_the_hook_and_it_is_an_ordinary_integration(platform, receiver, organization):
    response = subscribe(platform, receiver.url, event="call.completed", kind="zapier", secret="s3cret")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["target_url"] == receiver.url and body["events"] == ["call.completed"] and body["kind"] == "zapier"
    assert "secret" not in body
    hook = Integration.objects.get(pk=body["id"])
    assert (hook.origin, hook.secret, hook.organization_id, hook.name) == (
        "rest_hook", "s3cret", organization.pk, "Zapier · call.completed"
    )
    completed_call(organization)
    assert Delivery.objects.get().integration_id == hook.pk


def test_subscribing_the_same_url_and_events_twice_gives_the_same_hook(platform, receiver):
    first = subscribe(platform, receiver.url, events=["lead.created", "call.completed"])
    again = subscribe(platform, receiver.url, events=["call.completed", "lead.created"])
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and Integration.objects.count() == 1
    assert again.json()["events"] == ["call.completed", "lead.created"]  # the catalogue's order
    other_events = subscribe(platform, receiver.url, event="lead.created")
    assert other_events.status_code == 201 and Integration.objects.count() == 2


def test_a_hook_made_on_the_settings_page_is_not_the_platform_s(platform, receiver, make_integration):
    mine = make_integration(receiver.url, events=["call.completed"])
    response = subscribe(platform, receiver.url, event="call.completed")
    assert response.status_code == 201 and response.json()["id"] != str(mine.pk)
    assert platform.get(f"/api/hooks/{mine.pk}/").status_code == 404


@pytest.mark.parametrize("body, field, message", [
    ({"event": "call.completed", "events": ["lead.created"]}, "event", "not both"),
    ({}, "events", "Choose at least one event"),
    ({"event": "call.started"}, "event", "is not a valid choice"),
    ({"events": ["call.completed", "call.completed"]}, "events", "listed twice"),
    ({"events": []}, "events", "may not be empty"),
    ({"event": "call.completed", "kind": "ifttt"}, "kind", "is not a valid choice"),
])
def test_bad_subscriptions_say_what_is_wrong_and_make_nothing(platform, receiver, body, field, message):
    response = subscribe(platform, receiver.url, **body)
    assert response.status_code == 400 and message in str(response.json()[field]), response.json()
    assert not Integration.objects.exists()


@pytest.mark.parametrize("url, message", [
    ("http://example.com/hook", "must use https"),
    ("https://10.0.0.7/hook", "private network address"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
])
def test_hook_urls_follow_the_same_rules_with_the_same_words(platform, api, settings, url, message):
    settings.WEBHOOKS_ALLOW_HTTP = False  # as in production
    hook = subscribe(platform, url, event="call.completed")
    integration = api.post("/api/integrations/", {"name": "x", "target_url": url, "event_types": ["call.completed"]}, format="json")
    assert hook.status_code == integration.status_code == 400
    assert hook.json()["target_url"] == integration.json()["target_url"]
    assert message in hook.json()["target_url"][0].lower()


def test_check_then_unsubscribe(platform, receiver, organization):
    hook_id = subscribe(platform, receiver.url, event="call.completed").json()["id"]
    assert platform.get(f"/api/hooks/{hook_id}/").json()["id"] == hook_id
    assert [hook["id"] for hook in platform.get("/api/hooks/").json()["results"]] == [hook_id]
    response = platform.delete(f"/api/hooks/{hook_id}/")
    assert response.status_code == 204
    assert platform.get(f"/api/hooks/{hook_id}/").status_code == 404
    completed_call(organization)
    assert not Delivery.objects.exists()


def test_a_410_ends_the_subscription_and_subscribing_again_revives_the_same_hook(platform, receiver, organization):
    receiver.responder = always(410)
    hook_id = subscribe(platform, receiver.url, event="call.completed", secret="s3cret").json()["id"]
    completed_call(organization)
    services.delivery_attempt(delivery_id=Delivery.objects.get().id)
    assert Integration.objects.get().disabled_cause == "gone"
    assert platform.get(f"/api/hooks/{hook_id}/").status_code == 404
    assert platform.get("/api/hooks/").json()["results"] == []
    again = subscribe(platform, receiver.url, event="call.completed")
    assert again.status_code == 200 and again.json()["id"] == hook_id and again.json()["state"] == "active"


@pytest.mark.parametrize("url, kind", [
    ("https://hooks.zapier.com/hooks/catch/123456/abcdef/", "zapier"),
    ("https://hook.eu1.make.com/abc123", "make"),
    ("https://hook.us2.make.com/abc123", "make"),
    ("https://hook.integromat.com/abc123", "make"),
    ("https://acme.app.n8n.cloud/webhook/5f0c", "n8n"),
    ("https://n8n.garage.example/webhook/5f0c", "n8n"),
    ("https://n8n.garage.example/webhook-test/5f0c", "n8n"),
    ("https://example.com/inboundflow/webhook", "custom"),
    ("https://zapier.com.evil.example/hooks/catch/1/", "custom"),
])
def test_the_platform_is_known_by_the_addresses_it_hands_out(url, kind):
    assert kind_from_url(url) == kind


def test_the_dashboard_says_which_platform_subscribed(platform, receiver, client, user):
    subscribe(platform, receiver.url, event="call.completed", kind="make")
    client.force_login(user)
    page = client.get(reverse("webhooks:integration-list"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Abonnée par Make (Integromat)" in page


# --- The event catalog and samples ---------------------------------------------------------


def test_the_catalog_lists_the_four_types_in_both_languages_with_their_schemas(platform):
    entries = platform.get("/api/event-types/").json()
    assert [entry["type"] for entry in entries] == ["call.completed", "call.transferred", "appointment.booked", "lead.created"]
    assert entries[0]["label"] == {"fr": "Chaque appel terminé", "en": "Every completed call"}
    assert entries[3]["description"]["fr"] == "Se déclenche lorsqu'un nouveau prospect est créé à partir d'un appel"
    for entry in entries:
        Draft202012Validator.check_schema(entry["schema"])
        assert entry["schema"]["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert platform.get("/api/event-types/lead.created/").json() == entries[3]
    assert platform.get("/api/event-types/call.started/").status_code == 404


def test_samples_before_any_delivery_are_the_documentation_s_example(platform):
    response = platform.get("/api/event-types/appointment.booked/samples/")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json() == [example_body("appointment.booked")]
    assert response.json()[0]["data"]["caller_name"] == "Sarah"


def test_samples_are_the_bodies_as_delivered_newest_first(platform, organization, receiver, make_integration):
    receiver.responder = always(200)
    make_integration(receiver.url, events=["call.completed"])
    make_integration(receiver.url, events=["call.completed"], name="A second hook")  # one sample per event
    names = ["Ann", "Bob", "Chloé 🚗", "Dan"]
    for name in names:
        completed_call(organization, caller_name=name)
    for delivery in Delivery.objects.all():
        services.delivery_attempt(delivery_id=delivery.id)
    completed_call(organization, caller_name="Not sent yet")  # pending: never delivered, not a sample
    sent = {received.delivery_id: received.body for received in receiver.received}
    response = platform.get("/api/event-types/call.completed/samples/?limit=3")
    bodies = json.loads(response.content)
    assert [body["data"]["caller_name"] for body in bodies] == ["Dan", "Chloé 🚗", "Bob"]
    # byte for byte what the hook received
    assert response.content == b"[" + b",".join(sent[body["delivery_id"]] for body in bodies) + b"]"
    assert platform.get("/api/event-types/lead.created/samples/").json() == [example_body("lead.created")]


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1"])
def test_samples_limit_is_checked(platform, limit):
    response = platform.get(f"/api/event-types/call.completed/samples/?limit={limit}")
    assert response.status_code == 400 and "limit" in response.json()


def _published_examples() -> dict:
    """The JSON bodies of the published documentation (a copy of it is kept in tests/spec)."""
    text = (Path(__file__).parent / "spec" / "webhooks-doc.fr.txt").read_text()
    decoder, examples, index = json.JSONDecoder(), {}, 0
    while (index := text.find("JSON\n{", index)) != -1:
        body, index = decoder.raw_decode(text, index + len("JSON\n"))
        examples[body["event"]] = body
    return examples


def test_the_documentation_s_examples_are_ours_and_validate():
    published = _published_examples()
    assert published == DOCUMENTED_EXAMPLES and len(published) == 4
    for event_type, body in published.items():
        Draft202012Validator(body_schema(event_type)).validate(body)
        Draft202012Validator(body_schema(event_type)).validate(example_body(event_type))
        assert set(example_body(event_type)["data"]) == set(body["data"]) | ({"transcript"} if event_type == "call.completed" else set())


def test_the_schema_refuses_what_we_must_never_send():
    validator = Draft202012Validator(body_schema("call.completed"), format_checker=Draft202012Validator.FORMAT_CHECKER)
    good = example_body("call.completed")
    good.update(organization_id="3f1c2b7e-9a51-4a7e-8d4b-2f9a6c1e0b42", delivery_id="0b6f3d1e-5c2a-4f7b-9e1d-7a8c6b5d4e3f")
    good["data"]["call_id"] = "7b2652f5-b9e3-4c3c-8565-d7fc903c5fdd"
    validator.validate(good)
    for path, value in [
        (("data", "urgency"), "urgent"), (("data", "duration_seconds"), 5.5), (("data", "started_at"), "2026-02-24 20:59"),
        (("timestamp",), "2026-02-24T21:00:00Z"), (("delivery_id",), "unique-uuid"), (("data", "surprise"), 1),
    ]:
        bad = json.loads(json.dumps(good))
        target = bad
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        assert not validator.is_valid(bad), path
    missing = json.loads(json.dumps(good))
    del missing["data"]["caller_phone"]
    assert not validator.is_valid(missing)


# Any code point, surrogates and controls included (the AI writes what it hears).
hostile = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=300)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=hostile, summary=hostile, transcript=hostile, reason=hostile, service=hostile, interest=hostile,
       urgency=st.sampled_from(["", "HIGH", "Urgent!", "low", "médium", "\x00"]), long_text=st.integers(0, 130_000))
def test_every_body_the_sender_builds_validates_against_its_schema(
    organization, make_integration, receiver, name, summary, transcript, reason, service, interest, urgency, long_text
):
    from inboundflow.models import Appointment, Lead

    if not Integration.objects.exists():
        make_integration(receiver.url)
    call = completed_call(
        organization, caller_name=name[:200], summary=summary, transcript=transcript + "t" * long_text, urgency=urgency,
        transfer_reason=reason, transferred_to_label=name[:200], transferred_at=timezone.now(),
        recording_url="https://example.com/r.mp3" if long_text % 2 else "",
    )
    Appointment.objects.create(
        organization=organization, call=call, appointment_date=dt.date(2026, 2, 25), time_start=timezone.now(),
        service_type=service[:200], calendar_event_id=interest[:500],
    )
    Lead.objects.create(organization=organization, call=call, caller_name=name[:200], interest=interest[:500], urgency=urgency)
    deliveries = Delivery.objects.filter(event__source_id__in=[call.pk, *call.appointments.values_list("pk", flat=True),
                                                                *call.leads.values_list("pk", flat=True)])
    assert {d.event.event_type for d in deliveries.select_related("event")} == set(EventType.values)
    for delivery in deliveries.select_related("event"):
        body = json.loads(delivery_body(event=delivery.event, delivery_id=delivery.id))
        VALIDATORS[delivery.event.event_type].validate(body)


VALIDATORS = {
    event_type: Draft202012Validator(body_schema(event_type), format_checker=Draft202012Validator.FORMAT_CHECKER)
    for event_type in EventType.values
}


def test_editing_a_subscription_into_another_s_url_and_events_is_a_clear_400(platform, api, receiver, client, user):
    one = subscribe(platform, receiver.url, events=["call.completed", "lead.created"]).json()["id"]
    other = subscribe(platform, receiver.url, event="call.completed").json()["id"]
    # through the API, in another order: same set, same subscription
    response = api.patch(f"/api/integrations/{other}/", {"event_types": ["lead.created", "call.completed"]}, format="json")
    assert response.status_code == 400 and "already has a subscription" in response.json()["event_types"][0]
    # on the settings page
    client.force_login(user)
    page = client.post(reverse("webhooks:integration-detail", args=[other]), {
        "kind": "custom", "name": "Renamed", "target_url": receiver.url, "event_types": ["call.completed", "lead.created"],
    })
    assert page.status_code == 200 and "already has a subscription" in page.content.decode()
    assert Integration.objects.get(pk=other).event_types == ["call.completed"]
    assert Integration.objects.get(pk=one).event_types == ["call.completed", "lead.created"]
    # an edit that keeps them apart is fine, and kept in the catalogue's order
    response = api.patch(f"/api/integrations/{other}/", {"event_types": ["lead.created", "call.transferred"]}, format="json")
    assert response.status_code == 200 and response.json()["event_types"] == ["call.transferred", "lead.created"]
