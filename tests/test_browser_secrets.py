"""Rotating a signing secret from the settings page, in French, in a real headless Chromium:
the new secret shown once in both forms, « Tester le Webhook » saying which secret signed, and
the switch of X-InboundFlow-Signature — checked on what the receiver got."""
import pytest
import standardwebhooks
from playwright.sync_api import expect

from webhooks.models import Integration
from webhooks.signing import signature_is_valid, standard_secret

from .test_browser import SCREENSHOTS, _log_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _verifies(received, secret: str) -> tuple[bool, bool]:
    """(X-InboundFlow-Signature, webhook-signature) verify with this secret."""
    documented = signature_is_valid(
        secret=secret, timestamp=received.headers["X-InboundFlow-Timestamp"], body=received.body,
        signature=received.headers["X-InboundFlow-Signature"],
    )
    try:
        standardwebhooks.Webhook(standard_secret(secret)).verify(received.body, received.headers)
        standard = True
    except standardwebhooks.WebhookVerificationError:
        standard = False
    return documented, standard


def test_rotate_a_secret_test_and_switch_in_french(page_fr, live_server, organization, make_integration, receiver):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    hook = make_integration(receiver.url, name="CRM", events=["call.completed"])
    _log_in(page_fr, live_server, organization, heading="Se connecter")
    page_fr.goto(f"{live_server.url}/settings/integrations/{hook.pk}/")
    card = page_fr.locator("#signing-secret")
    expect(card.locator("h2")).to_have_text("Secret de signature")
    # when: the person rotates (confirming the dialog)
    page_fr.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Renouveler le secret").click()
    # then: the new secret, once, as typed and as whsec_…
    new = page_fr.locator("#new-secret").inner_text().strip()
    expect(page_fr.locator("#new-secret-standard")).to_have_text(standard_secret(new))
    expect(card).to_contain_text("ne sera plus affiché")
    expect(page_fr.locator("#rotation-state")).to_contain_text("toujours calculée avec l'ancien secret")
    hook.refresh_from_db()
    assert hook.secret == new and hook.previous_secret == "s3cret"
    page_fr.screenshot(path=str(SCREENSHOTS / "fr-secret-rotated.png"), full_page=True)
    page_fr.reload()
    expect(page_fr.locator("#new-secret")).to_have_count(0)
    # « Tester le Webhook » during the overlap says which secret signed what
    page_fr.get_by_role("button", name="Tester le Webhook").click()
    expect(page_fr.locator(".messages")).to_contain_text("X-InboundFlow-Signature avec l'ancien secret")
    tested = receiver.wait_for(1)[0]
    assert _verifies(tested, "s3cret") == (True, True) and _verifies(tested, new) == (False, True)
    # when: the person switches X-InboundFlow-Signature to the new secret
    page_fr.get_by_role("button", name="Utiliser le nouveau secret maintenant").click()
    expect(page_fr.locator(".messages")).to_contain_text("désormais calculée avec le nouveau secret")
    expect(page_fr.locator("#rotation-state")).to_contain_text("calculée avec le nouveau secret")
    page_fr.get_by_role("button", name="Tester le Webhook").click()
    expect(page_fr.locator(".messages")).to_contain_text("X-InboundFlow-Signature avec le nouveau secret")
    switched = receiver.wait_for(2)[1]
    assert _verifies(switched, new) == (True, True) and _verifies(switched, "s3cret") == (False, True)
    page_fr.screenshot(path=str(SCREENSHOTS / "fr-secret-switched.png"), full_page=True)
    assert Integration.objects.get(pk=hook.pk).documented_signs_with_previous is False
