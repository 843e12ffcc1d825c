"""Save-time URL rules: HTTPS only, public addresses only, with a message naming the reason."""
import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from webhooks.validators import validate_event_types, validate_plain_text, validate_webhook_url

pytestmark = pytest.mark.usefixtures("strict_urls")


@pytest.fixture
def strict_urls(settings):
    settings.WEBHOOKS_ALLOW_HTTP = False
    settings.WEBHOOKS_ALLOW_LOOPBACK = False


def refusal(url: str) -> str:
    with pytest.raises(ValidationError) as caught:
        validate_webhook_url(url)
    return caught.value.messages[0]


@pytest.mark.parametrize("url", ["http://8.8.8.8/hook", "ftp://8.8.8.8/", "//8.8.8.8/x", "8.8.8.8/hook"])
def test_only_https(url):
    assert "HTTPS" in refusal(url)


@pytest.mark.parametrize(
    "url, reason",
    [
        ("https://127.0.0.1/", "loopback"),
        ("https://localhost/", "loopback"),
        ("https://[::1]/", "loopback"),
        ("https://127.1/", "loopback"),  # short form
        ("https://2130706433/", "loopback"),  # decimal
        ("https://0x7f.0.0.1/", "loopback"),  # hex
        ("https://0177.0.0.1/", "loopback"),  # octal
        ("https://10.0.0.5/", "private"),
        ("https://172.16.3.4/", "private"),
        ("https://192.168.1.1/", "private"),
        ("https://[fd00::1]/", "private"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://100.64.0.1/", "carrier-grade NAT"),
        ("https://224.0.0.1/", "multicast"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://240.0.0.1/", "reserved"),
        ("https://192.0.2.10/", "documentation"),
        ("https://198.51.100.7/", "documentation"),
        ("https://203.0.113.9/", "documentation"),
        ("https://[2001:db8::1]/", "documentation"),
        ("https://[::]/", "unspecified"),
        ("https://[ff02::1]/", "multicast"),
        ("https://[::ffff:7f00:1]/", "loopback"),  # mapped, hex form
        ("https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/", "private"),  # Teredo of 10.0.0.1
        ("https://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped
        ("https://[::ffff:169.254.169.254]/", "link-local"),
        ("https://[2002:7f00:1::]/", "loopback"),  # 6to4 of 127.0.0.1
        ("https://[64:ff9b::a00:1]/", "private"),  # NAT64 of 10.0.0.1
    ],
)
def test_internal_destinations_are_refused_with_the_reason(url, reason):
    assert reason in refusal(url)


@pytest.mark.parametrize("url", ["https://", "https:///path", "https://[::1/"])
def test_malformed_urls(url):
    message = refusal(url)
    assert "malformed" in message or "no host" in message


def test_an_unknown_host_is_refused_clearly():
    assert "could not be found" in refusal("https://no-such-host.invalid/hook")


def test_a_public_address_is_accepted():
    validate_webhook_url("https://8.8.8.8/hook")


def test_the_test_setting_allows_loopback_and_http_only():
    with override_settings(WEBHOOKS_ALLOW_LOOPBACK=True, WEBHOOKS_ALLOW_HTTP=True):
        validate_webhook_url("http://127.0.0.1:8001/hook")
        assert "private" in refusal("http://10.0.0.1/")


@pytest.mark.parametrize(
    "value, message",
    [([], "at least one"), ("call.completed", "at least one"), (["call.ended"], "Unknown"),
     (["call.completed", "call.completed"], "twice")],
)
def test_event_types(value, message):
    with pytest.raises(ValidationError) as caught:
        validate_event_types(value)
    assert message in caught.value.messages[0]


@pytest.mark.parametrize("text", ["line\nbreak", "nul\x00", "esc\x1b[31m", "del\x7f", "\ud800"])
def test_names_refuse_control_characters(text):
    with pytest.raises(ValidationError):
        validate_plain_text(text)
