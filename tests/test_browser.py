"""The settings page in a real headless Chromium: log in, connect, test, save, simulate a call,
and watch the deliveries succeed — served by the live server, delivered by a real worker."""
import os
import shutil
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from inboundflow.models import User
from webhooks.models import Delivery, Integration

from .conftest import wait_until

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/inboundflow-screenshots"))

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


@pytest.fixture
def page(monkeypatch):
    # Playwright's sync API keeps an event loop on this thread; the ORM calls made by the test
    # itself are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if CHROMIUM is None:
        pytest.fail("Chromium is needed for the browser tests (scripts/test-deps installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
        )
        page = browser.new_page()
        yield page
        # ORM calls made while Playwright's loop runs get their own connection: close it.
        connections.close_all()
        browser.close()


def test_connect_test_save_and_watch_deliveries(page, live_server, settings, organization, receiver):
    settings.WEBHOOKS_DEMO = True
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    User.objects.create_user("owner", password="pw-owner-123", organization=organization)

    # log in
    page.goto(live_server.url + "/")
    page.fill("#id_username", "owner")
    page.fill("#id_password", "pw-owner-123")
    page.click("button[type=submit]")
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
