"""The settings page in a real headless Chromium: log in, connect, test, save, simulate a call,
and watch the deliveries succeed — served by the live server, delivered by a real worker."""
import datetime as dt
import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from django.utils import timezone

from inboundflow.models import User
from webhooks.models import Attempt, Delivery, Integration
from webhooks.signing import standard_secret

from .conftest import completed_call, wait_until

SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/inboundflow-screenshots"))

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def _log_in(page, live_server, organization, screenshot: str = "", heading: str = "Log in") -> None:
    User.objects.create_user("owner", password="pw-owner-123", organization=organization)
    page.goto(live_server.url + "/")
    expect(page.locator("h1")).to_have_text(heading)
    if screenshot:
        page.screenshot(path=str(SCREENSHOTS / screenshot), full_page=True)
    page.fill("#id_username", "owner")
    page.fill("#id_password", "pw-owner-123")
    page.click("button[type=submit]")


def test_connect_test_save_and_watch_deliveries(page, live_server, settings, organization, receiver):
    settings.WEBHOOKS_DEMO = True
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    _log_in(page, live_server, organization, screenshot="en-login.png")
    expect(page.locator("h1")).to_have_text("Settings → Integrations")

    # connect → paste URL → choose events → test → save
    page.click("a[data-kind=custom]")
    page.fill("#id_name", "Shop CRM " + "x" * 120)  # pasted too long: not cut by the browser
    page.fill("#id_target_url", "https://10.0.0.7/hook")
    page.check("input[value='call.completed']")
    page.click("button[name=save]")
    expect(page.locator(".errorlist").first).to_contain_text("at most 100 characters")
    expect(page.locator(".errorlist").nth(1)).to_contain_text("private network address")
    page.fill("#id_name", "Shop CRM")
    page.fill("#id_target_url", receiver.url)
    page.check("input[value='call.completed']")
    page.check("input[value='lead.created']")
    page.fill("#id_secret", "s3cret")
    page.click("button[name=test]")
    expect(page.locator("#test-result")).to_contain_text("Test delivered")
    assert Integration.objects.count() == 0
    page.click("button[name=save]")  # as documented: nothing is typed again
    expect(page.locator("#state")).to_have_text("Active")
    hook = Integration.objects.get()
    assert hook.event_types == ["call.completed", "lead.created"] and hook.secret == "s3cret"
    # the secret just typed, once, as Standard Webhooks libraries take it
    expect(page.locator("#new-secret-standard")).to_have_text(standard_secret("s3cret"))
    page.reload()
    expect(page.locator("#new-secret-standard")).to_have_count(0)

    # a call happens; the worker delivers; the page shows it
    page.click("text=← Integrations")
    page.click("#simulate-call")
    expect(page.locator(".messages")).to_contain_text("demo call was completed")
    received = receiver.wait_for(3)  # the test sample, then lead.created and call.completed
    assert [r.problems for r in received] == [[], [], []]
    assert wait_until(lambda: Delivery.objects.filter(status="succeeded", event__is_test=False).count() == 2)
    page.goto(f"{live_server.url}/settings/integrations/{hook.pk}/")
    expect(page.locator("#deliveries tbody tr")).to_have_count(2)
    expect(page.locator("#deliveries")).to_contain_text("Succeeded")
    page.screenshot(path=str(SCREENSHOTS / "integration-detail.png"), full_page=True)

    # the delivery page shows its attempt
    page.click("#deliveries tbody tr >> nth=0 >> a")
    expect(page.locator("#attempts")).to_contain_text("HTTP 200")


def test_the_documented_six_steps_in_french(page_fr, live_server, organization, receiver):
    """The customer documentation, step by step, with its own words, in a French browser."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    _log_in(page_fr, live_server, organization, screenshot="fr-login.png", heading="Se connecter")
    # 1. Paramètres → Intégrations
    expect(page_fr.locator("html")).to_have_attribute("lang", "fr")
    expect(page_fr.locator("h1")).to_have_text("Paramètres → Intégrations")
    expect(page_fr.locator(".kinds")).to_contain_text("Webhook Personnalisé")
    page_fr.screenshot(path=str(SCREENSHOTS / "fr-integrations.png"), full_page=True)
    # 2. « Connecter » sur Webhook Personnalisé
    page_fr.locator("a[data-kind=custom]").click()
    expect(page_fr.locator("h1")).to_have_text("Connecter Webhook Personnalisé")
    # 3. l'URL du webhook (doit être HTTPS) — an http:// address is refused, in French
    expect(page_fr.locator("label[for=id_target_url]")).to_have_text("URL du webhook (doit être HTTPS)")
    page_fr.fill("#id_name", "CRM du garage")
    page_fr.fill("#id_target_url", "https://10.0.0.7/hook")
    # 4. les événements à recevoir
    page_fr.get_by_label("Chaque appel terminé").check()
    page_fr.get_by_label("Nouveau prospect capturé").check()
    page_fr.fill("#id_secret", "s3cret")
    page_fr.get_by_role("button", name="Enregistrer").click()
    expect(page_fr.locator(".errorlist")).to_contain_text("adresse de réseau privé")
    page_fr.fill("#id_target_url", receiver.url)
    # 5. « Tester le Webhook »
    page_fr.get_by_role("button", name="Tester le Webhook").click()
    expect(page_fr.locator("#test-result")).to_contain_text("Test livré")
    page_fr.screenshot(path=str(SCREENSHOTS / "fr-connect-tested.png"), full_page=True)
    # 6. Enregistrer — nothing typed again
    page_fr.get_by_role("button", name="Enregistrer").click()
    expect(page_fr.locator("#state")).to_have_text("Active")
    hook = Integration.objects.get()
    assert hook.secret == "s3cret" and hook.event_types == ["call.completed", "lead.created"]
    assert [r.problems for r in receiver.received] == [[]]
    page_fr.screenshot(path=str(SCREENSHOTS / "fr-integration-detail.png"), full_page=True)
    # the switcher turns the same page English, and the account remembers it
    page_fr.select_option("#language-select", "en")
    expect(page_fr.locator("html")).to_have_attribute("lang", "en")
    expect(page_fr.locator("h2").first).to_have_text("Settings")
    page_fr.screenshot(path=str(SCREENSHOTS / "en-integration-detail.png"), full_page=True)
    assert User.objects.get(username="owner").language == "en"
    page_fr.goto(f"{live_server.url}/settings/integrations/")
    expect(page_fr.locator("h1")).to_have_text("Settings → Integrations")  # the account's choice wins
    page_fr.screenshot(path=str(SCREENSHOTS / "en-integrations.png"), full_page=True)
    page_fr.locator("a[data-kind=zapier]").click()
    expect(page_fr.locator("h1")).to_have_text("Connect Zapier")
    page_fr.screenshot(path=str(SCREENSHOTS / "en-connect.png"), full_page=True)


def test_a_failing_integration_s_health_changes_live_and_polling_stops(page, live_server, organization, receiver):
    # given: an integration whose endpoint fails, and a delivery waiting for its retry
    receiver.responder = lambda received: (503, b"", {})
    hook = Integration.objects.create(
        organization=organization, name="Flaky CRM", target_url=receiver.url, secret="s3cret",
        event_types=["call.completed"],
    )
    call = completed_call(organization)
    assert wait_until(lambda: Attempt.objects.filter(delivery__integration=hook).count() >= 2)  # 2 attempts: failed
    receiver.responder = lambda received: (200, b"", {})
    retry_at = timezone.now() + dt.timedelta(seconds=4)
    # as a longer schedule would leave it: failed twice, its third attempt due in 4 s
    Delivery.objects.update(status="pending", completed_at=None, next_attempt_at=retry_at, enqueued_at=None)
    polls = []
    page.on("request", lambda request: polls.append(request.url) if "fragment=live" in request.url else None)
    # when: the customer watches the integration's page
    _log_in(page, live_server, organization)
    page.goto(f"{live_server.url}/settings/integrations/{hook.pk}/")
    expect(page.locator("#deliveries")).to_contain_text("Pending")
    expect(page.locator("#retrying")).to_contain_text("1 delivery retrying, next attempt")
    expect(page.locator("#last-error")).to_contain_text("had an error (HTTP 503)")
    expect(page.locator("#rate-24h")).to_have_text("—")  # nothing finished yet
    page.screenshot(path=str(SCREENSHOTS / "en-integration-failing.png"), full_page=True)
    # then: without a reload, the retry's success shows, and the health with it
    expect(page.locator("#deliveries")).to_contain_text("Succeeded", timeout=20_000)
    expect(page.locator("#rate-24h")).to_have_text("100\u00a0%")
    assert Delivery.objects.get().status == "succeeded" and str(call.pk) in receiver.received[-1].body.decode()
    # and once nothing is pending, the page stops asking
    time.sleep(1)
    asked = len(polls)
    time.sleep(5)
    assert asked >= 1 and len(polls) == asked
    # the delivery's page, in both languages
    page.click("#deliveries tbody tr >> nth=0 >> a")
    expect(page.locator("#attempts")).to_contain_text("X-InboundFlow-Signature: sha256=")
    page.screenshot(path=str(SCREENSHOTS / "en-delivery.png"), full_page=True)
    page.select_option("#language-select", "fr")
    expect(page.locator("#attempts")).to_contain_text("En-têtes de requête envoyés")
    page.screenshot(path=str(SCREENSHOTS / "fr-delivery.png"), full_page=True)
