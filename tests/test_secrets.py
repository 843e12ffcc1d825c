"""Secrets at rest and in logs: encrypted in the database, never logged, hook paths masked."""
import logging
import socket
import types
from io import StringIO
from importlib import import_module

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from webhooks import services
from webhooks.devtools.receiver import always
from webhooks.kinds import masked_url
from webhooks.models import Delivery, Integration

from .conftest import completed_call

pytestmark = pytest.mark.django_db

SECRET = "whsec_very-private-value"
HOOK_PATH = "/hooks/catch/123456/zz9token"


def stored_secret(integration) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_integration WHERE id = %s", [integration.pk])
        return cursor.fetchone()[0]


def test_the_secret_is_encrypted_at_rest_and_signs_in_clear(organization, make_integration, receiver):
    receiver.secret = SECRET
    hook = make_integration(receiver.url, secret=SECRET)
    assert SECRET not in stored_secret(hook) and stored_secret(hook).startswith("gAAAA")
    assert Integration.objects.get().secret == SECRET
    completed_call(organization)
    services.delivery_attempt(delivery_id=Delivery.objects.get().id)
    assert receiver.received[0].problems == []  # signed with the plaintext secret


def test_keys_rotate(settings, make_integration, receiver):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.WEBHOOKS_SECRET_KEYS = [old]
    hook = make_integration(receiver.url, secret=SECRET)
    settings.WEBHOOKS_SECRET_KEYS = [new, old]
    assert Integration.objects.get().secret == SECRET
    out = StringIO()
    call_command("webhooks_rotate_secrets", stdout=out)
    assert "Re-encrypted 1" in out.getvalue()
    settings.WEBHOOKS_SECRET_KEYS = [new]
    assert Integration.objects.get(pk=hook.pk).secret == SECRET


def test_a_missing_key_is_a_clear_error(settings, make_integration, receiver):
    settings.WEBHOOKS_SECRET_KEYS = [Fernet.generate_key().decode()]
    make_integration(receiver.url, secret=SECRET)
    settings.WEBHOOKS_SECRET_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ValueError, match="WEBHOOKS_SECRET_KEYS does not hold the key"):
        Integration.objects.get()


def test_the_migration_encrypts_plaintext_secrets(make_integration, receiver):
    hook = make_integration(receiver.url, secret="")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE webhooks_integration SET secret = %s WHERE id = %s", ["plain-old-secret", hook.pk])
    migration = import_module("webhooks.migrations.0002_encrypt_secrets")
    migration.encrypt_plaintext_secrets(None, types.SimpleNamespace(connection=connection))
    assert stored_secret(hook) != "plain-old-secret"
    assert Integration.objects.get().secret == "plain-old-secret"


def test_masked_urls_keep_only_the_origin():
    assert masked_url("https://hooks.zapier.com" + HOOK_PATH + "?x=1") == "https://hooks.zapier.com/…"
    assert masked_url("https://example.com") == "https://example.com"


def test_no_secret_and_no_hook_path_in_any_log(caplog, organization, make_integration, receiver, settings):
    # given: every logger at DEBUG, and deliveries that succeed, fail, cannot connect, are refused
    caplog.set_level(logging.DEBUG)
    settings.WEBHOOKS_RETRY_SCHEDULE = [0]
    receiver.secret = SECRET
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    urls = [
        receiver.url.replace("/hook", HOOK_PATH),
        f"http://127.0.0.1:{closed_port}{HOOK_PATH}",
        f"http://127.0.0.1:{receiver.url.split(':')[2].split('/')[0]}{HOOK_PATH}",
    ]
    for url in urls:
        make_integration(url, secret=SECRET)
    # when
    receiver.responder = always(200)
    completed_call(organization)
    for delivery in Delivery.objects.all():
        services.delivery_attempt(delivery_id=delivery.id)
    receiver.responder = always(500)
    services.integration_send_test(integration=Integration.objects.first())
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    services.integration_send_test(integration=Integration.objects.last())
    # then
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "delivery" in logged  # the logs did speak
    assert SECRET not in logged
    assert "zz9token" not in logged and "catch/123456" not in logged
    attempts_text = " ".join(
        f"{a.error_message} {a.response_excerpt}" for d in Delivery.objects.all() for a in d.attempt_set.all()
    )
    assert SECRET not in attempts_text and "zz9token" not in attempts_text
