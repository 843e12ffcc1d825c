"""A customer watches a failing integration get disabled, live, in a real Chromium, while every
user of the organization is e-mailed through a real SMTP server — then re-enables it."""
import time

import pytest
import redis
from django.conf import settings
from django.db import transaction
from playwright.sync_api import expect

from inboundflow.models import User
from webhooks.models import Integration

from .conftest import WorkerProcess, completed_call, wait_until
from .test_browser import SCREENSHOTS, _log_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def mailing_worker(smtp, tmp_path, django_db_blocker):
    """The worker, sending its e-mails to the test's SMTP server."""
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    worker = WorkerProcess(tmp_path / "worker.log", EMAIL_URL=smtp.url, WEBHOOKS_DISABLE_AFTER="3",
                           WEBHOOKS_FAILING_AFTER="2")
    with django_db_blocker.unblock():
        worker.start()
    yield worker
    worker.stop()


def test_watch_an_integration_fail_and_get_disabled_then_read_the_e_mails(
    page_fr, live_server, organization, receiver, smtp, mailing_worker
):
    # given: a French customer, and an integration whose endpoint answers 404; one call failed
    receiver.responder = lambda received: (404, b"", {})
    hook = Integration.objects.create(organization=organization, name="Zap des rendez-vous", target_url=receiver.url,
                                      event_types=["call.completed"])
    _log_in(page_fr, live_server, organization, heading="Se connecter")
    User.objects.filter(username="owner").update(email="owner@example.com")
    completed_call(organization)
    assert wait_until(lambda: Integration.objects.get().consecutive_failures == 1, timeout=30)

    def slow_404(received):
        time.sleep(1)
        return 404, b"", {}

    # when: two more calls end, and the customer opens the integration while they are retried
    receiver.responder = slow_404
    with transaction.atomic():  # two calls ending together: their deliveries fail in one batch
        completed_call(organization)
        completed_call(organization)
    page_fr.goto(f"{live_server.url}/settings/integrations/{hook.pk}/")
    expect(page_fr.locator("#state")).to_have_text("Active")
    expect(page_fr.locator("#deliveries")).to_contain_text("En attente")
    # then: the page shows it disabled, with the error in words and the fix
    expect(page_fr.locator("#state")).to_have_text("Désactivée", timeout=15_000)
    expect(page_fr.locator("#last-error")).to_contain_text("rien n'écoute à cette URL")
    expect(page_fr.locator("#disabled-reason")).to_have_text(
        "Désactivée automatiquement après 3 échecs de livraison consécutifs."
    )
    page_fr.reload()  # the banner is part of the page's frame, not of the live regions
    expect(page_fr.locator(".banner.disabled")).to_contain_text("« Zap des rendez-vous » a été désactivée")
    page_fr.screenshot(path=str(SCREENSHOTS / "fr-integration-disabled.png"), full_page=True)
    # and the owner was e-mailed once, in French (both failures came in one batch: straight
    # from 1 to 3 in a row, disabled, so "failing" was never the news)
    assert wait_until(lambda: len(smtp.messages) == 1, timeout=30), [m["Subject"] for m in smtp.messages]
    time.sleep(2)
    assert [m["Subject"].strip() for m in smtp.messages] == ["[InboundFlow] « Zap des rendez-vous » a été désactivée"]
    body = smtp.messages[0].get_content()
    assert "rien n'écoute à cette URL" in body and f"/settings/integrations/{hook.pk}/" in body
    # when: the endpoint is fixed and the customer re-enables, sending what was held
    receiver.responder = lambda received: (200, b"", {})
    page_fr.get_by_role("button", name="Réactiver").click()
    expect(page_fr.locator("#state")).to_have_text("Active")
    # then: a recovery e-mail follows
    assert wait_until(lambda: len(smtp.messages) == 2, timeout=30)
    assert smtp.messages[1]["Subject"].strip() == "[InboundFlow] « Zap des rendez-vous » fonctionne de nouveau"
