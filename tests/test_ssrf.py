"""The address filter bites at send time, on real sockets, with no mock in the way."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from webhooks import services, transport
from webhooks.devtools.receiver import Receiver, always
from webhooks.models import Delivery

from .conftest import ROOT, completed_call

LOOPBACK_SPELLINGS = ["127.0.0.1", "127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "127.0.1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "localhost"]
INTERNAL = [
    "10.0.0.1", "172.16.0.1", "192.168.0.1", "169.254.169.254", "100.64.0.1", "224.0.0.1", "0.0.0.0",
    "240.0.0.1", "192.0.2.1", "198.51.100.1", "203.0.113.1", "[fd00::1]", "[fe80::1]", "[ff02::1]", "[::]",
    "[2002:a00:1::]", "[64:ff9b::a00:1]", "[::ffff:169.254.169.254]", "[2001:db8::1]",
]


@pytest.fixture
def strict(settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    settings.WEBHOOKS_ALLOW_HTTP = True  # plain http so a request that slipped through would be seen


@pytest.fixture
def listener():
    with Receiver(responder=always(200)) as receiver:
        yield receiver


def send(url):
    return transport.post(url, body=b"{}", headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_every_spelling_of_loopback_is_refused_at_send(strict, listener, host):
    port = listener.url.split(":")[2].split("/")[0]
    result = send(f"http://{host}:{port}/hook")
    assert result.error_class == "refused" and "loopback" in result.error_message
    assert listener.received == []


@pytest.mark.parametrize("host", INTERNAL)
def test_internal_addresses_are_refused_before_any_connection(strict, host):
    result = send(f"http://{host}:8080/hook")
    assert result.error_class == "refused", result
    assert result.duration_ms < 1000


def test_without_the_test_setting_loopback_is_reached_only_when_allowed(settings, listener):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    assert send(listener.url).ok and len(listener.received) == 1


@pytest.mark.django_db
def test_a_refused_destination_is_recorded_as_such_and_not_retried(settings, organization, make_integration, listener):
    make_integration(listener.url)  # saved while loopback is allowed
    completed_call(organization)
    settings.WEBHOOKS_ALLOW_LOOPBACK = False  # at send time it is not
    attempt = services.delivery_attempt(delivery_id=Delivery.objects.get().id)
    delivery = Delivery.objects.get()
    assert attempt.error_class == "refused" and "loopback" in attempt.error_message
    assert delivery.status == "failed" and delivery.attempts == 1 and delivery.next_attempt_at is None
    assert listener.received == []


def test_dns_rebinding_between_save_and_send_is_refused(listener):
    # given: a process whose /etc/hosts we control, in its own mount namespace (no mocks)
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to give the sender its own /etc/hosts")
    port = listener.url.split(":")[2].split("/")[0]
    hosts = Path("/tmp") / f"inboundflow-rebind-hosts-{os.getpid()}"
    hosts.write_text(Path("/etc/hosts").read_text())
    env = {**os.environ, "WEBHOOKS_ALLOW_LOOPBACK": "0", "WEBHOOKS_ALLOW_HTTP": "1", "PYTHONPATH": str(ROOT)}
    script = f"mount --bind {hosts} /etc/hosts && exec {sys.executable} -m tests.helpers.rebind {port}"
    # when
    try:
        completed = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )
    finally:
        hosts.unlink()
    assert completed.returncode == 0, completed.stderr[-2000:]
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    # then: accepted while it pointed outside, refused once it points inside; nothing arrived
    assert outcome["saved"] == "accepted"
    assert outcome["error_class"] == "refused" and "loopback" in outcome["message"]
    assert listener.received == []
