"""The admin: filters, actions, attempts inline, and no secret in any list."""

import pytest
from django.urls import reverse
from django.utils import timezone

from inboundflow.models import User
from webhooks import services
from webhooks.models import Delivery, Integration

from .conftest import completed_call

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


@pytest.fixture
def admin_client(client, db):
    client.force_login(User.objects.create_superuser("root", password="x"))
    return client



def test_integration_list_filters_and_hides_secrets(admin_client, make_integration, receiver):
    make_integration(receiver.url, secret="top-secret-value", kind="zapier")
    page = admin_client.get(reverse("admin:webhooks_integration_changelist"), {"kind": "zapier", "state": "active"})
    assert page.status_code == 200 and "Test hook" in page.content.decode()
    assert "top-secret-value" not in page.content.decode()
    change = admin_client.get(reverse("admin:webhooks_integration_change", args=[Integration.objects.get().pk]))
    assert "top-secret-value" not in change.content.decode()


def test_reenable_and_send_held_action(admin_client, organization, make_integration, receiver):
    hook = make_integration(receiver.url, state="disabled", disabled_at=timezone.now())
    completed_call(organization)
    admin_client.post(reverse("admin:webhooks_integration_changelist"),
                      {"action": "reenable_and_send_held", "_selected_action": [str(hook.pk)]})
    hook.refresh_from_db()
    assert hook.is_active and Delivery.objects.get().status == "pending"


def test_send_test_action(admin_client, make_integration, receiver):
    hook = make_integration(receiver.url)
    response = admin_client.post(reverse("admin:webhooks_integration_changelist"),
                                 {"action": "send_test", "_selected_action": [str(hook.pk)]}, follow=True)
    assert "Test hook: 200" in response.content.decode()
    assert receiver.received[0].problems == []


def test_delivery_page_shows_attempts_and_redeliver_works(admin_client, organization, make_integration, receiver):
    make_integration(receiver.url)
    completed_call(organization)
    delivery = Delivery.objects.get()
    services.delivery_attempt(delivery_id=delivery.id)
    page = admin_client.get(reverse("admin:webhooks_delivery_change", args=[delivery.pk])).content.decode()
    assert "Attempts" in page and "200" in page
    admin_client.post(reverse("admin:webhooks_delivery_changelist"),
                      {"action": "redeliver", "_selected_action": [str(delivery.pk)]})
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.round_start == 1


def test_onboarding_from_the_admin_gives_the_new_user_an_organization(admin_client, organization, client):
    response = admin_client.post(
        reverse("admin:inboundflow_user_add"),
        {"username": "owner2", "password1": "a-Long-owner-pass-1", "password2": "a-Long-owner-pass-1",
         "usable_password": "true", "organization": str(organization.pk)},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert User.objects.get(username="owner2").organization == organization
    client.force_login(User.objects.get(username="owner2"))
    assert client.get(reverse("webhooks:integration-list")).status_code == 200


def test_the_admin_speaks_french_to_a_french_browser(admin_client, make_integration, receiver):
    make_integration(receiver.url)
    page = admin_client.get(reverse("admin:webhooks_integration_changelist"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Tester le Webhook" in page and "Réactiver et envoyer les livraisons retenues" in page
    assert "Webhook Personnalisé" in page  # the kind, in the documentation's words
