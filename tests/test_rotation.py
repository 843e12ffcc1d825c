"""Standard Webhooks headers beside ours, and a secret rotated without a failed verification:
real deliveries to a real receiver, verified by the `standardwebhooks` and `svix` libraries and
by the documentation's own Node snippet, on the same requests."""
import datetime as dt
import json
import base64
import shutil
import subprocess
from pathlib import Path

import pytest
import standardwebhooks
import svix.webhooks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from webhooks import services
from webhooks.models import Delivery, Integration
from webhooks.signing import standard_secret

from .conftest import completed_call

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]

VERIFY_JS = Path(__file__).parent / "node" / "verify.js"
OLD = "s3cret"


class DocumentedSnippet:
    """tests/node/verify.js: the documentation's verifyWebhook, verbatim, on what was received."""

    def __init__(self):
        node = shutil.which("node")
        if node is None:
            pytest.fail("node is needed to check deliveries against the documented verifier")
        self.process = subprocess.Popen([node, str(VERIFY_JS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def verifies(self, received, secret: str) -> bool:
        request = {
            "body_b64": base64.b64encode(received.body).decode(), "secret": secret,
            "timestamp": received.headers["X-InboundFlow-Timestamp"],
            "signature": received.headers.get("X-InboundFlow-Signature", ""),
        }
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())["verified"]

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def snippet():
    verifier = DocumentedSnippet()
    yield verifier
    verifier.close()


def standard_verifies(received, secret: str) -> bool:
    try:
        standardwebhooks.Webhook(standard_secret(secret)).verify(received.body, received.headers)
        return True
    except standardwebhooks.WebhookVerificationError:
        return False


def svix_verifies(received, secret: str) -> bool:
    try:
        svix.webhooks.Webhook(standard_secret(secret)).verify(received.body, received.headers)
        return True
    except svix.webhooks.WebhookVerificationError:
        return False


def deliver_one(organization, receiver):
    """A call saved, its delivery attempted for real; what the receiver got."""
    completed_call(organization)
    delivery = Delivery.objects.get(status="pending")
    before = len(receiver.received)
    services.delivery_attempt(delivery_id=delivery.id)
    received = receiver.wait_for(before + 1)[before]
    assert received.delivery_id == str(delivery.id)
    return received


def test_every_delivery_carries_standard_webhooks_headers_that_libraries_verify(organization, make_integration, receiver, snippet):
    # given
    make_integration(receiver.url, events=["call.completed"])
    # when
    received = deliver_one(organization, receiver)
    # then: webhook-id is the delivery id, the timestamp is ours, one v1 signature
    headers = received.headers
    assert headers["webhook-id"] == headers["X-InboundFlow-Delivery-Id"] == received.json["delivery_id"]
    assert headers["webhook-timestamp"] == headers["X-InboundFlow-Timestamp"]
    assert headers["webhook-signature"].startswith("v1,") and " " not in headers["webhook-signature"]
    # and the same request verifies three ways: standardwebhooks, svix, the documented snippet
    assert standard_verifies(received, OLD) and svix_verifies(received, OLD) and snippet.verifies(received, OLD)
    assert not standard_verifies(received, "another") and not snippet.verifies(received, "another")


def test_without_a_secret_nothing_claims_a_signature(organization, make_integration, receiver):
    make_integration(receiver.url, secret="", events=["call.completed"])
    received = deliver_one(organization, receiver)
    assert "webhook-signature" not in received.headers and "X-InboundFlow-Signature" not in received.headers
    assert received.headers["webhook-id"] == received.delivery_id


def test_a_rotation_never_fails_a_receiver_that_follows_the_documentation(organization, make_integration, receiver, snippet, api):
    # given: a hook signing with OLD, and three receivers' ways of verifying
    hook = make_integration(receiver.url, events=["call.completed"])
    new = None

    def checks(received) -> dict:
        return {
            "untouched (documented snippet, OLD)": snippet.verifies(received, OLD),
            "updated (documented snippet, NEW)": bool(new) and snippet.verifies(received, new),
            "guide (documented snippet, NEW then OLD)": (bool(new) and snippet.verifies(received, new)) or snippet.verifies(received, OLD),
            "standardwebhooks NEW": bool(new) and standard_verifies(received, new),
            "standardwebhooks OLD": standard_verifies(received, OLD),
            "svix NEW": bool(new) and svix_verifies(received, new),
            "svix OLD": svix_verifies(received, OLD),
        }

    before = checks(deliver_one(organization, receiver))
    # when: the customer rotates (API); the new secret is shown once, in both forms
    answer = api.post(f"/api/integrations/{hook.id}/rotate-secret/", {}, format="json")
    assert answer.status_code == 200, answer.content
    new = answer.json()["secret"]
    assert answer.json()["standard_webhooks_secret"] == standard_secret(new) and new != OLD
    assert answer.json()["secret_rotation"]["documented_signature_uses"] == "previous"
    shown_later = api.get(f"/api/integrations/{hook.id}/").json()
    assert "secret" not in shown_later and "standard_webhooks_secret" not in shown_later
    during = deliver_one(organization, receiver)
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    during = checks(during)
    # and "Test webhook" during the overlap says which secrets signed
    tested = api.post(f"/api/integrations/{hook.id}/test/", {}, format="json").json()
    assert tested["signed_with"] == {"x_inboundflow_signature": "previous", "webhook_signature": ["current", "previous"]}
    # when: the customer switches X-InboundFlow-Signature to the new secret
    assert api.post(f"/api/integrations/{hook.id}/use-new-secret/").json()["secret_rotation"]["documented_signature_uses"] == "current"
    switched = checks(deliver_one(organization, receiver))
    # when: the overlap ends
    Integration.objects.filter(pk=hook.pk).update(previous_secret_until=timezone.now() - dt.timedelta(seconds=1))
    ended = deliver_one(organization, receiver)
    assert " " not in ended.headers["webhook-signature"]
    ended = checks(ended)
    assert api.get(f"/api/integrations/{hook.id}/").json()["secret_rotation"] is None
    # then: the timeline, for every way of verifying
    assert before == {**before, "untouched (documented snippet, OLD)": True, "standardwebhooks OLD": True, "svix OLD": True, "guide (documented snippet, NEW then OLD)": True}
    assert during == {
        "untouched (documented snippet, OLD)": True, "updated (documented snippet, NEW)": False,
        "guide (documented snippet, NEW then OLD)": True, "standardwebhooks NEW": True, "standardwebhooks OLD": True,
        "svix NEW": True, "svix OLD": True,
    }
    assert switched == {
        "untouched (documented snippet, OLD)": False, "updated (documented snippet, NEW)": True,
        "guide (documented snippet, NEW then OLD)": True, "standardwebhooks NEW": True, "standardwebhooks OLD": True,
        "svix NEW": True, "svix OLD": True,
    }
    assert ended == {
        "untouched (documented snippet, OLD)": False, "updated (documented snippet, NEW)": True,
        "guide (documented snippet, NEW then OLD)": True, "standardwebhooks NEW": True, "standardwebhooks OLD": False,
        "svix NEW": True, "svix OLD": False,
    }


def test_the_documented_signature_switches_by_itself_when_the_overlap_ends(organization, make_integration, receiver, snippet):
    hook = make_integration(receiver.url, events=["call.completed"])
    from webhooks import rotation

    new = rotation.integration_secret_rotate(integration=hook, overlap_seconds=3600)
    assert snippet.verifies(deliver_one(organization, receiver), OLD)
    Integration.objects.filter(pk=hook.pk).update(previous_secret_until=timezone.now() - dt.timedelta(seconds=1))
    received = deliver_one(organization, receiver)
    assert snippet.verifies(received, new) and not snippet.verifies(received, OLD)


def test_a_secret_typed_by_hand_replaces_it_at_once_and_ends_the_rotation(organization, make_integration, receiver, snippet, api):
    hook = make_integration(receiver.url, events=["call.completed"])
    assert api.post(f"/api/integrations/{hook.id}/rotate-secret/", {"overlap_hours": 2}, format="json").status_code == 200
    answer = api.patch(f"/api/integrations/{hook.id}/", {"secret": "typed-by-hand"}, format="json")
    assert answer.status_code == 200 and answer.json()["secret_rotation"] is None
    received = deliver_one(organization, receiver)
    assert snippet.verifies(received, "typed-by-hand") and standard_verifies(received, "typed-by-hand")
    assert " " not in received.headers["webhook-signature"]


def test_rotation_answers_clear_errors(organization, make_integration, api):
    hook = make_integration("https://example.com/hook")
    assert api.post(f"/api/integrations/{hook.id}/use-new-secret/").status_code == 409  # nothing to switch
    for bad in ({"overlap_hours": -1}, {"overlap_hours": "soon"}, {"overlap_hours": 10_000}, []):
        answer = api.post(f"/api/integrations/{hook.id}/rotate-secret/", bad, format="json")
        assert answer.status_code == 400, (bad, answer.content)
    hook.refresh_from_db()
    assert hook.secret == OLD and not hook.previous_secret  # nothing half-done


def test_a_hook_without_a_secret_gets_one_at_once(organization, make_integration, api):
    hook = make_integration("https://example.com/hook", secret="")
    answer = api.post(f"/api/integrations/{hook.id}/rotate-secret/", {}, format="json").json()
    assert answer["has_secret"] and answer["secret_rotation"] is None and len(answer["secret"]) >= 40


def test_an_organization_cannot_rotate_another_s_secret(other_organization, make_integration, api):
    theirs = make_integration("https://example.com/hook", organization=other_organization)
    assert api.post(f"/api/integrations/{theirs.id}/rotate-secret/", {}, format="json").status_code == 404
    assert api.post(f"/api/integrations/{theirs.id}/use-new-secret/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.secret == OLD and not theirs.previous_secret


def test_the_operator_command_rotates_and_prints_the_secret_last(organization, make_integration, capsys):
    hook = make_integration("https://example.com/hook")
    call_command("integration_secret_rotate", "--integration", str(hook.id), "--overlap-hours", "1")
    lines = capsys.readouterr().out.strip().splitlines()
    hook.refresh_from_db()
    assert lines[-2] == hook.secret and lines[-1] == standard_secret(hook.secret)
    assert hook.previous_secret == OLD and hook.previous_secret_until > timezone.now()
    for args, message in (
        (["--integration", "nope"], "is not an integration id"),
        (["--integration", "6f1c1d4e-0000-4000-8000-000000000000"], "No integration has the id"),
        (["--integration", str(hook.id), "--overlap-hours", "-2"], "between 0 and 720"),
    ):
        with pytest.raises(CommandError, match=message):
            call_command("integration_secret_rotate", *args)


def test_a_typed_secret_is_answered_once_in_its_standard_webhooks_form(api, receiver):
    # given / when: an integration made through the API with a secret
    made = api.post("/api/integrations/", {
        "name": "CRM", "target_url": receiver.url, "event_types": ["call.completed"], "secret": "typed",
    }, format="json")
    # then: that answer carries the whsec_ form (never the secret itself); later reads carry neither
    assert made.status_code == 201, made.content
    assert made.json()["standard_webhooks_secret"] == standard_secret("typed")
    assert "secret" not in made.json()
    later = api.get(f"/api/integrations/{made.json()['id']}/").json()
    assert "standard_webhooks_secret" not in later and "secret" not in later
    renamed = api.patch(f"/api/integrations/{made.json()['id']}/", {"name": "CRM 2"}, format="json").json()
    assert "standard_webhooks_secret" not in renamed


def test_one_rotation_at_a_time_so_no_receiver_s_secret_is_dropped(organization, make_integration, receiver, snippet, api):
    # given: a rotation in progress (receivers not switched yet)
    hook = make_integration(receiver.url, events=["call.completed"])
    assert api.post(f"/api/integrations/{hook.id}/rotate-secret/", {}, format="json").status_code == 200
    hook.refresh_from_db()
    during = (hook.secret, hook.previous_secret)
    # when: another rotation with an overlap is asked for, by the API and by the command
    again = api.post(f"/api/integrations/{hook.id}/rotate-secret/", {}, format="json")
    with pytest.raises(CommandError, match="already in progress"):
        call_command("integration_secret_rotate", "--integration", str(hook.id))
    # then: refused, nothing changed, and an untouched receiver still verifies
    assert again.status_code == 409 and "already in progress" in again.json()["detail"]
    hook.refresh_from_db()
    assert (hook.secret, hook.previous_secret) == during
    assert snippet.verifies(deliver_one(organization, receiver), OLD)
    # but replacing at once (a leaked secret: no overlap) is always possible
    replaced = api.post(f"/api/integrations/{hook.id}/rotate-secret/", {"overlap_hours": 0}, format="json").json()
    assert replaced["secret_rotation"] is None
    assert snippet.verifies(deliver_one(organization, receiver), replaced["secret"])
