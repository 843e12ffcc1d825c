"""Replay since a time (issue 12): what failed or was held since T is sent again — the same
delivery_ids, new attempts, through the engine — from the service, the API, the command and
the French dashboard in a real Chromium; counted first."""
import datetime as dt
import zoneinfo
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from playwright.sync_api import expect

from webhooks import engine, services
from webhooks.devtools.receiver import always
from webhooks.models import Attempt, Delivery

from .conftest import completed_call
from .test_browser import SCREENSHOTS, _log_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def outage(settings, organization, make_integration, receiver, no_broker):
    """A hook whose receiver was down for four calls (each failed, one attempt), one call before
    that (delivered), and a call held while the hook was disabled, then re-enabled."""
    settings.WEBHOOKS_RETRY_SCHEDULE = [0.0]
    hook = make_integration(receiver.url, events=["call.completed"])
    completed_call(organization, caller_name="Before")
    engine.drain(integration_id=hook.id)
    Delivery.objects.update(created_at=timezone.now() - dt.timedelta(hours=3))
    receiver.responder = always(503)
    for index in range(4):
        completed_call(organization, caller_name=f"During {index}")
    engine.drain(integration_id=hook.id)
    services.integration_disable(integration=hook, by="owner")
    completed_call(organization, caller_name="While disabled")
    services.integration_enable(integration=hook)
    services.integration_send_test(integration=hook)  # a failed test: never replayed
    receiver.responder = always(200)
    receiver.received.clear()
    hook.refresh_from_db()
    return hook


def _since(hours: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(hours=hours)


def test_replay_sends_again_with_the_same_ids_and_new_attempts(outage, receiver, no_broker):
    failed = set(Delivery.objects.filter(status="failed", event__is_test=False).values_list("pk", flat=True))
    held = set(Delivery.objects.filter(status="held").values_list("pk", flat=True))
    assert (len(failed), len(held)) == (4, 1)
    # counted first: nothing changes
    assert services.integration_replay(integration=outage, since=_since(1), dry_run=True) == {"failed": 4, "held": 1}
    assert Delivery.objects.filter(status="pending").count() == 0
    # when
    assert services.integration_replay(integration=outage, since=_since(1)) == {"failed": 4, "held": 1}
    assert no_broker.call_count >= 1  # rung: the engine sends them, at the endpoint's pace
    assert engine.drain(integration_id=outage.id) == 5
    # then: the same delivery ids reached the receiver, each recorded as a new attempt
    assert {item.delivery_id for item in receiver.received} == {str(pk) for pk in failed | held}
    assert Delivery.objects.filter(pk__in=failed | held, status="succeeded").count() == 5
    for delivery in Delivery.objects.filter(pk__in=failed):
        assert list(delivery.attempt_set.order_by("number").values_list("number", "succeeded")) == [(1, False), (2, True)]
    # the delivery before the window, and the test, were left alone
    assert Delivery.objects.filter(event__data__contains="Before", status="succeeded").count() == 1
    assert Delivery.objects.filter(event__is_test=True, status="failed").count() == 1
    # and a second replay finds nothing left to send
    assert services.integration_replay(integration=outage, since=_since(1)) == {"failed": 0, "held": 0}


def test_replay_is_bounded_by_retention_and_the_present(settings, outage):
    settings.WEBHOOKS_RETENTION_DAYS = 30
    with pytest.raises(services.ServiceError, match="kept 30 days"):
        services.integration_replay(integration=outage, since=_since(31 * 24), dry_run=True)
    with pytest.raises(services.ServiceError, match="future"):
        services.integration_replay(integration=outage, since=_since(-1), dry_run=True)


def test_a_disabled_integration_is_counted_but_not_replayed(outage):
    services.integration_disable(integration=outage, by="owner")
    outage.refresh_from_db()
    assert services.integration_replay(integration=outage, since=_since(1), dry_run=True)["failed"] == 4
    with pytest.raises(services.IntegrationDisabledError):
        services.integration_replay(integration=outage, since=_since(1))
    assert Delivery.objects.filter(status="pending").count() == 0


# --- API ------------------------------------------------------------------------------------


def test_api_counts_then_replays(api, outage, other_organization, make_integration, receiver):
    url = f"/api/integrations/{outage.pk}/replay/"
    since = _since(1).isoformat()
    counted = api.post(url, {"since": since, "dry_run": True}, format="json")
    assert counted.status_code == 200
    assert counted.json() | {"since": None} == {"since": None, "dry_run": True, "failed": 4, "held": 1}
    assert Delivery.objects.filter(status="pending").count() == 0
    sent = api.post(url, {"since": since}, format="json")
    assert sent.status_code == 200 and sent.json()["failed"] == 4 and sent.json()["dry_run"] is False
    assert Delivery.objects.filter(status="pending").count() == 5
    # what is wrong is said, field by field
    for body, field in [({}, "since"), ({"since": "yesterday"}, "since"), ({"since": _since(24 * 400).isoformat()}, "since")]:
        refused = api.post(url, body, format="json")
        assert refused.status_code == 400 and field in refused.json(), refused.json()
    # another organization's integration does not exist for this caller
    theirs = make_integration(receiver.url, organization=other_organization)
    assert api.post(f"/api/integrations/{theirs.pk}/replay/", {"since": since}, format="json").status_code == 404


def test_api_replay_of_a_disabled_integration_is_a_conflict(api, outage):
    services.integration_disable(integration=outage, by="owner")
    refused = api.post(f"/api/integrations/{outage.pk}/replay/", {"since": _since(1).isoformat()}, format="json")
    assert refused.status_code == 409 and "re-enable" in refused.json()["detail"]


# --- Command --------------------------------------------------------------------------------


def _command(*args) -> str:
    out = StringIO()
    call_command("webhooks_replay", *args, stdout=out)
    return out.getvalue()


def test_command_counts_with_dry_run_then_sends(outage):
    counted = _command("--integration", str(outage.pk), "--since", "90m", "--dry-run")
    assert "4 failed and 1 held would be sent again" in counted
    assert Delivery.objects.filter(status="pending").count() == 0
    sent = _command("--integration", str(outage.pk), "--since", _since(1.5).isoformat())
    assert "4 failed and 1 held are being sent again" in sent
    assert Delivery.objects.filter(status="pending").count() == 5


@pytest.mark.parametrize("since, message", [
    ("last tuesday", "neither a time"),
    ("45d", "kept 30 days"),
    ("2099-01-01T00:00:00Z", "future"),
])
def test_command_says_what_is_wrong_with_since(outage, since, message):
    with pytest.raises(CommandError, match=message):
        _command("--integration", str(outage.pk), "--since", since)


def test_command_unknown_integration(db):
    with pytest.raises(CommandError, match="No integration has the id"):
        _command("--integration", "6f1c1d4e-0000-4000-8000-000000000000", "--since", "1h")


# --- Dashboard, in French -------------------------------------------------------------------


@pytest.mark.integration
def test_replay_from_the_french_dashboard(page_fr, live_server, organization, outage, receiver, settings):
    settings.WEBHOOKS_RING_IN_BACKGROUND = False
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    _log_in(page_fr, live_server, organization, heading="Se connecter")
    page_fr.goto(f"{live_server.url}/settings/integrations/{outage.pk}/")
    card = page_fr.locator("#replay")
    expect(card.locator("h2")).to_have_text("Renvoyer depuis une date")
    # when: the person picks a time an hour ago (the organization's time zone) and counts
    an_hour_ago = timezone.localtime(_since(1), timezone=zoneinfo.ZoneInfo(outage.organization.time_zone)).strftime("%Y-%m-%dT%H:%M")
    card.locator("input[name=replay-since]").fill(an_hour_ago)
    card.get_by_role("button", name="Compter").click()
    expect(page_fr.locator("#replay-count")).to_contain_text("échouées : 4, retenues : 1")
    assert Delivery.objects.filter(status="pending").count() == 0
    page_fr.screenshot(path=str(SCREENSHOTS / "fr-replay-counted.png"), full_page=True)
    # when: they send
    page_fr.locator("#replay").get_by_role("button", name="Renvoyer ces 5 livraisons").click()
    expect(page_fr.locator(".messages")).to_contain_text("5 livraisons sont de nouveau en route")
    # then: the engine delivers them with their ids
    engine.drain(integration_id=outage.id)
    assert len(receiver.wait_for(5)) == 5
    assert Attempt.objects.filter(succeeded=True, delivery__integration=outage).count() == 6  # 1 before + 5
