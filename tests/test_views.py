"""Settings → Integrations pages and the REST API: the set-up flow, clear errors, tenancy."""
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from inboundflow.models import User
from webhooks.models import Delivery, Integration

from .conftest import completed_call

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]



@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client



@pytest.fixture
def theirs(other_organization, make_integration, receiver):
    """An integration of another organization, with a delivery."""
    hook = make_integration(receiver.url, organization=other_organization, secret="their-secret")
    completed_call(other_organization)
    return hook


def form_data(url, **extra):
    return {"kind": "custom", "name": "My CRM", "target_url": url, "event_types": ["call.completed", "lead.created"], "secret": "s3cret", **extra}


def test_login_is_required(client):
    response = client.get(reverse("webhooks:integration-list"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_connect_test_then_save(browser, receiver, organization):
    url = reverse("webhooks:integration-create") + "?kind=custom"
    # "Test webhook" before saving: sent, shown, nothing saved
    response = browser.post(url, {**form_data(receiver.url), "test": "1"})
    assert response.status_code == 200 and "Test delivered" in response.content.decode()
    assert receiver.received[0].problems == [] and Integration.objects.count() == 0
    # the page that shows the outcome still holds the typed secret, so Save keeps it
    assert 'name="secret" value="s3cret"' in response.content.decode()
    # Save
    response = browser.post(url, {**form_data(receiver.url), "save": "1"})
    hook = Integration.objects.get()
    assert response.status_code == 302 and hook.organization == organization
    assert hook.event_types == ["call.completed", "lead.created"] and hook.secret == "s3cret"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"target_url": "http://8.8.8.8/hook"}, "must use HTTPS"),
        ({"target_url": "https://10.1.2.3/hook"}, "private network"),
        ({"target_url": "https://169.254.169.254/"}, "link-local"),
        ({"target_url": "not a url"}, "Enter a valid URL"),
        ({"event_types": []}, "Choose at least one event"),
        ({"event_types": ["call.ended"]}, "not one of the available choices"),
        ({"name": "x" * 101}, "at most 100 characters"),
        ({"name": "bad\x07name"}, "printable characters"),
    ],
)
def test_bad_input_is_a_clear_error_and_saves_nothing(browser, settings, changes, message):
    settings.WEBHOOKS_ALLOW_HTTP = False
    response = browser.post(reverse("webhooks:integration-create"), {**form_data("https://8.8.8.8/hook"), **changes})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Integration.objects.count() == 0


def test_the_secret_is_never_shown(browser, make_integration, receiver):
    hook = make_integration(receiver.url, secret="do-not-show-me")
    for url in [reverse("webhooks:integration-list"), reverse("webhooks:integration-detail", args=[hook.pk])]:
        assert "do-not-show-me" not in browser.get(url).content.decode()


def test_editing_with_a_blank_secret_keeps_it(browser, make_integration, receiver):
    hook = make_integration(receiver.url, secret="keep-me")
    browser.post(reverse("webhooks:integration-detail", args=[hook.pk]), {**form_data(receiver.url), "secret": ""})
    hook.refresh_from_db()
    assert hook.secret == "keep-me" and hook.name == "My CRM"


def test_send_test_from_the_detail_page(browser, make_integration, receiver):
    hook = make_integration(receiver.url)
    response = browser.post(reverse("webhooks:integration-test", args=[hook.pk]), {"event_type": "appointment.booked"}, follow=True)
    assert "Test delivered" in response.content.decode()
    assert receiver.received[0].json["event"] == "appointment.booked"
    assert Delivery.objects.get().event.is_test


def test_reenable_with_held_from_the_page(browser, organization, make_integration, receiver):
    hook = make_integration(receiver.url, state="disabled", disabled_at=timezone.now())
    completed_call(organization)
    browser.post(reverse("webhooks:integration-enable", args=[hook.pk]), {"send_held": "on"})
    hook.refresh_from_db()
    assert hook.is_active and Delivery.objects.get().status == "pending"


def test_why_it_was_disabled_reads_in_the_person_s_language(browser, user, make_integration, receiver):
    hook = make_integration(receiver.url)
    browser.post(reverse("webhooks:integration-disable", args=[hook.pk]))
    page = browser.get(reverse("webhooks:integration-detail", args=[hook.pk]), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert f"Désactivée par {user.get_username()}." in page and "Disabled by" not in page
    Integration.objects.filter(pk=hook.pk).update(disabled_cause="gone", disabled_reason="The endpoint answered 410 Gone (the hook was removed).")
    page = browser.get(reverse("webhooks:integration-detail", args=[hook.pk])).content.decode()
    assert "a répondu 410 Gone : le hook a été supprimé de son côté" in page and "(the hook was removed)" not in page


def test_integrations_disabled_before_the_cause_was_kept_get_it_from_their_reason(make_integration, receiver):
    from importlib import import_module

    from django.apps import apps

    backfill = import_module("webhooks.migrations.0006_integration_disabled_cause").cause_from_reason
    reasons = {
        "Disabled automatically after 10 consecutive failed deliveries. Last error: HTTP 500": ("failures", ""),
        "The endpoint answered 410 Gone (the hook was removed).": ("gone", ""),
        "Disabled by marie.": ("person", "marie"),
        "something else": ("", ""),
    }
    for reason in reasons:
        make_integration(receiver.url, name=reason[:20], state="disabled", disabled_at=timezone.now(), disabled_reason=reason)
    backfill(apps, None)
    assert {i.disabled_reason: (i.disabled_cause, i.disabled_by) for i in Integration.objects.all()} == reasons


@pytest.mark.parametrize("name", ["integration-detail", "integration-test", "integration-enable", "integration-disable", "integration-send-held", "integration-delete"])
def test_another_organizations_integration_is_not_found(browser, theirs, name):
    method = browser.get if name == "integration-detail" else browser.post
    assert method(reverse(f"webhooks:{name}", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.is_active


@pytest.mark.parametrize("name", ["delivery-detail", "delivery-redeliver"])
def test_another_organizations_delivery_is_not_found(browser, theirs, name):
    delivery = Delivery.objects.get(integration=theirs)
    method = browser.get if name == "delivery-detail" else browser.post
    assert method(reverse(f"webhooks:{name}", args=[delivery.pk])).status_code == 404


def test_a_user_without_organization_gets_a_404_not_a_500(client, db):
    client.force_login(User.objects.create_user("staffer", password="x"))
    assert client.get(reverse("webhooks:integration-list")).status_code == 404


# --- API ----------------------------------------------------------------------------------------


def test_api_create_and_list_hide_the_secret(api, receiver, organization):
    response = api.post("/api/integrations/", form_data(receiver.url), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert "secret" not in body and body["has_secret"] is True
    listed = api.get("/api/integrations/").json()["results"]
    assert [item["id"] for item in listed] == [body["id"]]
    assert "s3cret" not in json.dumps(listed)


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"target_url": "http://8.8.8.8/"}, "target_url", "HTTPS"),
        ({"target_url": "https://[::ffff:10.0.0.1]/"}, "target_url", "private"),
        ({"event_types": []}, "event_types", "empty"),
        ({"event_types": ["nope"]}, "event_types", "not a valid choice"),
        ({"name": ""}, "name", "blank"),
    ],
)
def test_api_bad_input(api, settings, changes, field, message):
    settings.WEBHOOKS_ALLOW_HTTP = False
    response = api.post("/api/integrations/", {**form_data("https://8.8.8.8/"), **changes}, format="json")
    assert response.status_code == 400
    assert message in json.dumps(response.json()[field])
    assert Integration.objects.count() == 0


def test_api_test_enable_and_redeliver(api, organization, make_integration, receiver):
    hook = make_integration(receiver.url, state="disabled", disabled_at=timezone.now())
    completed_call(organization)
    assert api.post(f"/api/integrations/{hook.pk}/test/", {"event_type": "lead.created"}, format="json").json()["status_code"] == 200
    assert api.post(f"/api/integrations/{hook.pk}/test/", {"event_type": "bogus"}, format="json").status_code == 400
    enabled = api.post(f"/api/integrations/{hook.pk}/enable/", {"send_held": True}, format="json").json()
    assert enabled["state"] == "active" and enabled["released"] == 1
    delivery = Delivery.objects.get(event__is_test=False)
    assert api.post(f"/api/deliveries/{delivery.pk}/redeliver/").status_code == 409  # already pending
    listed = api.get("/api/deliveries/", {"status": "pending"}).json()["results"]
    assert [item["delivery_id"] for item in listed] == [str(delivery.pk)]
    assert api.get("/api/deliveries/", {"status": "bogus"}).status_code == 400


def test_api_tenancy(api, theirs):
    assert api.get(f"/api/integrations/{theirs.pk}/").status_code == 404
    assert api.patch(f"/api/integrations/{theirs.pk}/", {"name": "mine now"}, format="json").status_code == 404
    assert api.post(f"/api/integrations/{theirs.pk}/test/").status_code == 404
    assert api.post(f"/api/integrations/{theirs.pk}/enable/").status_code == 404
    delivery = Delivery.objects.get(integration=theirs)
    assert api.post(f"/api/deliveries/{delivery.pk}/redeliver/").status_code == 404
    assert api.get("/api/deliveries/").json()["results"] == []
    assert api.get("/api/integrations/").json()["results"] == []


# --- Watching failures: health at a glance, in the organization's time zone -----------------


def test_health_shows_failures_out_of_the_limit_and_what_is_retrying(browser, organization, make_integration, receiver):
    # given: an endpoint failing, three deliveries in their first round of retries
    receiver.responder = lambda received: (500, b"", {})
    hook = make_integration(receiver.url, events=["call.completed"])
    for _ in range(3):
        completed_call(organization)
        from webhooks import services
        services.delivery_attempt(delivery_id=Delivery.objects.filter(attempts=0).get().id)
    Integration.objects.filter(pk=hook.pk).update(consecutive_failures=3)
    # then: list and detail say how far from disabled it is, and what is retrying
    listing = browser.get(reverse("webhooks:integration-list"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "3 sur 10" in listing and "3, prochaine le" in listing
    detail = browser.get(reverse("webhooks:integration-detail", args=[hook.pk]), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "3 échecs de livraison consécutifs, sur les 10 qui la désactivent" in detail
    assert "3 livraisons en reprise, prochaine tentative le" in detail


def test_times_are_in_the_organization_s_zone_to_the_second_and_attempts_to_the_millisecond(
    browser, organization, make_integration, receiver
):
    import re

    organization.time_zone = "America/New_York"
    organization.save()
    hook = make_integration(receiver.url, events=["call.completed"])
    completed_call(organization)
    from webhooks import services
    delivery = Delivery.objects.get()
    services.delivery_attempt(delivery_id=delivery.id)
    detail = browser.get(reverse("webhooks:integration-detail", args=[hook.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert re.search(r"\d{1,2} \w+ \d{4}, \d{2}:\d{2}:\d{2} E[SD]T", detail), "created time with seconds and zone"
    page = browser.get(reverse("webhooks:delivery-detail", args=[delivery.pk]), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert re.search(r"\d{1,2} \w+ \d{4}, \d{2}:\d{2}:\d{2}\.\d{3} E[SD]T", page), "attempt time to the millisecond"


def test_deliveries_filter_by_status_event_and_day(browser, organization, make_integration, receiver):
    hook = make_integration(receiver.url)
    completed_call(organization)  # a call.completed, pending
    from inboundflow.models import Lead
    Lead.objects.create(organization=organization, call=completed_call(organization), caller_name="Zoé")
    Delivery.objects.filter(event__event_type="lead.created").update(status="failed", next_attempt_at=None)
    url = reverse("webhooks:integration-detail", args=[hook.pk])

    def rows(**query):
        page = browser.get(url, query).content.decode()
        table = page[page.index('<table id="deliveries">'):page.index("</table>")]
        return table.count('href="/settings/integrations/deliveries/')

    today = timezone.localdate().isoformat()
    assert rows() == 3
    assert rows(status="failed") == 1 and rows(event="call.completed") == 2
    assert rows(event="lead.created", status="pending") == 0
    assert rows(since=today, until=today) == 3 and rows(until="2020-01-01") == 0
    page = browser.get(url, {"since": "2026-12-02", "until": "2026-12-01"}).content.decode()
    assert "“From” must be on or before “To”." in page


def test_the_live_fragment_holds_only_the_regions_that_refresh(browser, organization, make_integration, receiver):
    hook = make_integration(receiver.url)
    completed_call(organization)
    fragment = browser.get(reverse("webhooks:integration-detail", args=[hook.pk]), {"fragment": "live"}).content.decode()
    assert 'id="live-status" data-live data-pending="true"' in fragment and 'id="live-deliveries"' in fragment
    assert "<html" not in fragment and 'name="target_url"' not in fragment  # never the form being edited


def test_a_delivery_finishing_while_the_fragment_is_built_keeps_the_page_refreshing(
    browser, organization, make_integration, receiver, monkeypatch
):
    # the race CI met: the worker delivered between the page reading the health and the
    # deliveries; the fragment said "nothing pending" beside a stale rate, and polling stopped
    from webhooks import services, views

    hook = make_integration(receiver.url)
    completed_call(organization)
    attach = views._attach_health

    def delivered_meanwhile(integrations):
        attach(integrations)  # the health as it was: nothing finished
        services.delivery_attempt(delivery_id=Delivery.objects.get().id)

    monkeypatch.setattr(views, "_attach_health", delivered_meanwhile)
    fragment = browser.get(reverse("webhooks:integration-detail", args=[hook.pk]), {"fragment": "live"}).content.decode()
    assert Delivery.objects.get().status == "succeeded"
    assert 'id="rate-24h">—' in fragment and "Succeeded" in fragment  # the two regions read different moments
    assert 'data-pending="true"' in fragment  # so the page asks again, and then shows the rate
    monkeypatch.setattr(views, "_attach_health", attach)
    fragment = browser.get(reverse("webhooks:integration-detail", args=[hook.pk]), {"fragment": "live"}).content.decode()
    assert 'data-pending="false"' in fragment and 'id="rate-24h">100\u00a0%' in fragment


def test_a_delivery_shows_the_headers_each_attempt_sent_signature_but_never_the_secret(browser, organization, make_integration, receiver):
    from webhooks import services

    make_integration(receiver.url, secret="never-shown-secret", events=["call.completed"])
    completed_call(organization)
    delivery = Delivery.objects.get()
    services.delivery_attempt(delivery_id=delivery.id)
    [received] = receiver.received
    page = browser.get(reverse("webhooks:delivery-detail", args=[delivery.pk]), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "En-têtes de requête envoyés" in page
    for name in (
        "X-InboundFlow-Event", "X-InboundFlow-Delivery-Id", "X-InboundFlow-Timestamp", "X-InboundFlow-Signature", "User-Agent",
        "webhook-id", "webhook-timestamp", "webhook-signature",
    ):
        assert f"{name}: {received.headers[name]}" in page, name  # exactly what the receiver got
    assert "never-shown-secret" not in page


def test_a_hook_without_a_secret_is_given_one_from_its_page_shown_once(browser, make_integration, receiver):
    hook = make_integration(receiver.url, secret="")
    page = browser.get(reverse("webhooks:integration-detail", args=[hook.pk]), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Générer un secret" in page and "data-confirm" not in page.split('id="signing-secret"')[1].split("</div>")[0]
    shown = browser.post(reverse("webhooks:integration-secret-rotate", args=[hook.pk]), follow=True, HTTP_ACCEPT_LANGUAGE="fr")
    hook.refresh_from_db()
    assert hook.secret and not hook.previous_secret  # nothing to keep valid: it signs at once
    assert hook.secret in shown.content.decode()
    again = browser.get(reverse("webhooks:integration-detail", args=[hook.pk])).content.decode()
    assert hook.secret not in again
