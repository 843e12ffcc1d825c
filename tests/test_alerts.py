"""Being told: one e-mail per state change (failing, disabled, working again) to every user of
the organization in their language, a banner until seen — sent by a real worker through a real
SMTP server the test starts."""
import time
from unittest import mock

import pytest
import redis
from django.conf import settings
from django.core import mail
from django.urls import reverse

from inboundflow.models import User
from webhooks import engine, services
from webhooks.models import Alert, Delivery, Integration

from .conftest import WorkerProcess, completed_call, wait_until


def _fail(received):
    return 500, b"", {}


@pytest.fixture
def people(organization):
    User.objects.create_user("marie", email="marie@example.com", password="x", organization=organization, language="fr")
    User.objects.create_user("sam", email="sam@example.com", password="x", organization=organization, language="en")
    User.objects.create_user("nomail", password="x", organization=organization)


def _deliver_all():
    for delivery in Delivery.objects.filter(status="pending"):
        services.delivery_attempt(delivery_id=delivery.id)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_broker", "people")
def test_one_alert_per_state_change_never_a_storm(settings, organization, make_integration, receiver):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0]
    receiver.responder = _fail
    hook = make_integration(receiver.url, events=["call.completed"])
    with mock.patch("webhooks.tasks.alert_send.delay") as published:
        for index in range(12):
            completed_call(organization)
            _deliver_all()
            kinds = list(Alert.objects.order_by("created_at").values_list("kind", flat=True))
            if index + 1 < 3:
                assert kinds == [], index
            elif index + 1 < 10:
                assert kinds == ["failing"], index  # once, at the third failure
        assert kinds == ["failing", "disabled"]
        assert Integration.objects.get(pk=hook.pk).alerted == "disabled"
        # re-enabled: working again, once
        services.integration_enable(integration=hook)
        services.integration_enable(integration=hook)
        assert list(Alert.objects.order_by("created_at").values_list("kind", flat=True)) == ["failing", "disabled", "recovered"]
    assert published.call_count == 3  # each e-mailed once its transaction committed


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_broker", "people")
def test_a_success_after_failing_is_a_recovery(settings, organization, make_integration, receiver):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0]
    receiver.responder = _fail
    make_integration(receiver.url, events=["call.completed"])
    with mock.patch("webhooks.tasks.alert_send.delay"):
        for _ in range(4):
            completed_call(organization)
            _deliver_all()
        receiver.responder = lambda received: (200, b"", {})
        completed_call(organization)
        _deliver_all()
    assert list(Alert.objects.order_by("created_at").values_list("kind", flat=True)) == ["failing", "recovered"]


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker", "people")
def test_each_person_reads_the_e_mail_in_their_language(organization, make_integration, receiver, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    hook = make_integration(receiver.url, name="CRM du garage")
    with mock.patch("webhooks.tasks.alert_send.delay"):
        alert = Alert.objects.create(integration=hook, kind="disabled", status_code=404, detail="HTTP 404 Not Found")
    from webhooks import alerts

    assert alerts.alert_send(alert_id=alert.pk) == 2
    assert alerts.alert_send(alert_id=alert.pk) == 0  # a duplicate message sends nothing
    by_person = {message.to[0]: message for message in mail.outbox}
    french, english = by_person["marie@example.com"], by_person["sam@example.com"]
    assert french.subject == "[InboundFlow] « CRM du garage » a été désactivée"
    assert "rien n'écoute à cette URL" in french.body and f"/settings/integrations/{hook.pk}/" in french.body
    assert english.subject == "[InboundFlow] “CRM du garage” was disabled"
    assert "nothing is listening at this URL" in english.body and "HTTP 404 Not Found" in english.body


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker", "people")
def test_the_banner_shows_until_seen(client, organization, make_integration, receiver):
    hook = make_integration(receiver.url, name="Zap CRM")
    with mock.patch("webhooks.tasks.alert_send.delay"):
        alert = Alert.objects.create(integration=hook, kind="failing")
    marie = User.objects.get(username="marie")
    client.force_login(marie)
    page = client.get(reverse("webhooks:integration-list")).content.decode()
    assert "« Zap CRM » échoue depuis le" in page
    response = client.post(reverse("webhooks:alert-seen", args=[alert.pk]), {"next": "/settings/integrations/"})
    assert response["Location"] == "/settings/integrations/"
    assert "Zap CRM » échoue" not in client.get(reverse("webhooks:integration-list")).content.decode()
    # another person of the organization still sees it
    client.force_login(User.objects.get(username="sam"))
    assert "“Zap CRM” is failing since" in client.get(reverse("webhooks:integration-list")).content.decode()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("people")
def test_a_real_worker_e_mails_through_smtp_once_per_change(smtp, tmp_path, organization, make_integration, receiver):
    # given: a worker whose e-mails go to a real SMTP server, and an endpoint that fails
    receiver.responder = _fail
    make_integration(receiver.url, name="CRM", events=["call.completed"])
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()  # the test's own broker database, as this process's
    worker = WorkerProcess(tmp_path / "worker.log", EMAIL_URL=smtp.url, WEBHOOKS_DISABLE_AFTER="4").start()
    try:
        # when: calls keep failing, one after the other, until the integration is disabled
        for count in range(1, 5):
            completed_call(organization)
            assert wait_until(lambda: Integration.objects.get().consecutive_failures == count, timeout=30), (
                worker.log_path.read_text()[-3000:]
            )
        assert Integration.objects.get().state == "disabled"
        # then: each person got "failing" then "disabled", once each, in their language
        assert wait_until(lambda: len(smtp.messages) == 4, timeout=30), [m["Subject"].strip() for m in smtp.messages]
        time.sleep(2)
        subjects = sorted((m["To"], m["Subject"].strip()) for m in smtp.messages)  # unfolded
        assert subjects == [
            ("marie@example.com", "[InboundFlow] « CRM » a été désactivée"),
            ("marie@example.com", "[InboundFlow] « CRM » est en échec"),
            ("sam@example.com", "[InboundFlow] “CRM” is failing"),
            ("sam@example.com", "[InboundFlow] “CRM” was disabled"),
        ]
        # and re-enabling tells them it works again
        receiver.responder = lambda received: (200, b"", {})
        services.integration_enable(integration=Integration.objects.get(), send_held=True)
        assert wait_until(lambda: len(smtp.messages) == 6, timeout=30)
        assert {m["Subject"].strip() for m in smtp.messages[4:]} == {
            "[InboundFlow] « CRM » fonctionne de nouveau", "[InboundFlow] “CRM” works again"
        }
    finally:
        worker.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_broker", "people")
def test_an_alert_the_smtp_server_refused_is_sent_by_the_sweep(settings, organization, make_integration, receiver):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    hook = make_integration(receiver.url)
    from webhooks import alerts

    with mock.patch("webhooks.tasks.alert_send.delay"):
        alert = Alert.objects.create(integration=hook, kind="failing")
    with mock.patch("django.core.mail.backends.locmem.EmailBackend.send_messages", side_effect=OSError("SMTP down")):
        with pytest.raises(OSError):
            alerts.alert_send(alert_id=alert.pk)
    assert Alert.objects.get().emailed_at is None
    Alert.objects.update(created_at=alert.created_at - alerts.SEND_AGAIN_AFTER)
    with mock.patch("webhooks.tasks.alert_send.delay") as published:
        engine.sweep()
    published.assert_called_once_with(str(alert.pk))



@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker", "people")
def test_dismissing_never_redirects_off_the_site(client, organization, make_integration, receiver):
    with mock.patch("webhooks.tasks.alert_send.delay"):
        alert = Alert.objects.create(integration=make_integration(receiver.url), kind="failing")
    client.force_login(User.objects.get(username="marie"))
    response = client.post(reverse("webhooks:alert-seen", args=[alert.pk]), {"next": "https://evil.example/phish"})
    assert response.status_code == 302 and response["Location"] == reverse("webhooks:integration-list")
