"""Settings → API keys and the interactive API reference, in a real headless Chromium."""
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import expect

from webhooks.models import ApiKey

from .test_browser import SCREENSHOTS, _log_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_create_use_and_revoke_a_key_in_french(page_fr, live_server, organization):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    _log_in(page_fr, live_server, organization, heading="Se connecter")
    page_fr.get_by_role("link", name="Clés API").click()
    expect(page_fr.locator("h1")).to_have_text("Paramètres → Clés API")
    # a name too long is refused, in French, and nothing is made
    page_fr.fill("#id_name", "Z" * 60)
    page_fr.get_by_role("button", name="Créer la clé").click()
    expect(page_fr.locator(".errorlist")).to_contain_text("au plus 50 caractères")
    assert not ApiKey.objects.exists()
    page_fr.fill("#id_name", "Zapier")
    page_fr.get_by_role("button", name="Créer la clé").click()
    key = page_fr.locator("#new-key").inner_text().strip()
    expect(page_fr.locator(".new-key")).to_contain_text("elle ne sera plus affichée")
    page_fr.screenshot(path=str(SCREENSHOTS / "fr-api-keys-new.png"), full_page=True)
    # the key works, once copied into a platform
    me = requests.get(f"{live_server.url}/api/me/", headers={"Authorization": f"Api-Key {key}"}, timeout=10)
    assert me.status_code == 200 and me.json()["name"] == "Main Street Auto"
    # the list shows the prefix, never the key, and when it was last used
    page_fr.reload()
    row = page_fr.locator(f"#api-keys tr[data-prefix='{key.split('.')[0]}']")
    expect(row).to_contain_text("Zapier")
    expect(row).not_to_contain_text(key)
    expect(page_fr.locator("#new-key")).to_have_count(0)  # shown once
    assert ApiKey.objects.count() == 1  # and the reload made no second key
    assert page_fr.locator("td", has_text="jamais").count() == 0
    # revoke (confirming the dialog): the key stops working at once
    page_fr.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Révoquer").click()
    expect(page_fr.locator(".messages")).to_contain_text("est révoquée")
    expect(row).to_contain_text("Révoquée")
    page_fr.screenshot(path=str(SCREENSHOTS / "fr-api-keys.png"), full_page=True)
    me = requests.get(f"{live_server.url}/api/me/", headers={"Authorization": f"Api-Key {key}"}, timeout=10)
    assert me.status_code == 401


def test_the_api_reference_is_served_from_the_package_without_a_cdn(page, live_server):
    hosts = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).hostname))
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .title")).to_contain_text("InboundFlow Webhooks API", timeout=15_000)
    expect(page.locator(".opblock-tag-section", has_text="hooks")).to_be_visible()
    page.locator("#operations-hooks-hooks_create").click()
    expect(page.locator("#operations-hooks-hooks_create")).to_contain_text("hooks.zapier.com")
    page.screenshot(path=str(SCREENSHOTS / "api-docs.png"), full_page=False)
    assert hosts == {urlsplit(live_server.url).hostname}, hosts
