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
        ("https://192.0.0.192/", "IETF protocol assignment"),  # a cloud metadata address
        ("https://192.0.0.9/", "IETF protocol assignment"),
        ("https://198.18.0.1/", "benchmarking"),
        ("https://192.88.99.1/", "reserved"),
        ("https://255.255.255.255/", "reserved"),
        ("https://[fec0::1]/", "site-local"),
        ("https://[64:ff9b:1::a]/", "private"),
        ("https://[100::1]/", "reserved"),
        ("https://[2001:2::1]/", "IETF protocol assignment"),
        ("https://[5f00::1]/", "reserved"),
        ("https://[4000::1]/", "reserved"),  # outside global unicast 2000::/3
        ("https://[::7f00:1]/", "reserved"),  # IPv4-compatible, deprecated
        ("https://127.0.0.1:443\\@example.com/", "loopback"),  # read as the HTTP client reads it
        ("https://169.254.169.254\\@8.8.8.8/", "link-local"),
    ],
)
def test_internal_destinations_are_refused_with_the_reason(url, reason):
    assert reason in refusal(url)


@pytest.mark.parametrize("url", ["https://", "https:///path", "https://[::1/"])
def test_malformed_urls(url):
    message = refusal(url)
    assert "malformed" in message or "no host" in message


@pytest.mark.parametrize("url", ["https://8.8.8.8:0/", "https://8.8.8.8:65536/", "https://8.8.8.8:99999999/", "https://8.8.8.8:-1/"])
def test_port_zero_and_out_of_range_ports_are_refused(url):
    assert "port must be a number from 1 to 65535" in refusal(url)


@pytest.mark.parametrize(
    "url, host",
    [
        ("https://127.0.0.1:443\\@example.com", "127.0.0.1"),
        ("https://8.8.8.8#@127.0.0.1/", "8.8.8.8"),
        ("https://user:pass@8.8.8.8/x", "8.8.8.8"),
        ("https://пример.рф/", "xn--e1afmkfd.xn--p1ai"),
    ],
)
def test_save_and_send_read_a_url_alike(url, host):
    """The host judged at save time is the host the HTTP client connects to."""
    import requests
    from urllib.parse import urlsplit

    from webhooks.destinations import url_parts

    prepared = requests.Request("POST", url).prepare()
    assert url_parts(url)[0] == host == urlsplit(prepared.url).hostname


def test_the_address_table_is_ours_not_the_runtime_s():
    """Every block is refused by our table whatever `ipaddress` flags say in this Python."""
    import ipaddress

    from webhooks.destinations import SPECIAL_PURPOSE, address_refusal

    for block, reason in SPECIAL_PURPOSE:
        for ip in (block.network_address, block.broadcast_address):
            if block.version == 6 and ipaddress.ip_address(ip).ipv4_mapped:
                continue
            assert address_refusal(ip) is not None, (block, ip)


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
