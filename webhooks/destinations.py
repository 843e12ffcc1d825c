"""Where a webhook may go: one set of rules for save time and for every attempt.

Webhook URLs are typed by customers, so they are attacker-controlled. A destination is allowed
only if its scheme is https (http only with WEBHOOKS_ALLOW_HTTP) and *every* address its host
resolves to is a public internet address (loopback only with WEBHOOKS_ALLOW_LOOPBACK, a
development and test setting). The resolver itself decides what `127.1`, `2130706433` or
`0x7f.0.0.1` mean, so odd spellings are judged by the address they really reach; IPv6 forms
that carry an IPv4 address (mapped, 6to4, Teredo, NAT64) are judged by that address.
"""
import functools
import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import urlsplit

import requests
from django.utils.translation import gettext, gettext_lazy as _
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from .conf import setting

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK = _("a loopback address")
PRIVATE = _("a private network address")
LINK_LOCAL = _("a link-local address (cloud metadata lives there)")
DOCUMENTATION = _("a documentation address")
RESERVED = _("a reserved address")
UNSPECIFIED = _("an unspecified address")
MULTICAST = _("a multicast address")
IETF = _("an IETF protocol assignment address")

# IANA's IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and updates), kept here
# rather than taken from the running Python's `ipaddress` flags, which differ between
# versions. Every block that is not globally reachable is refused; so is 192.0.0.0/24 as a
# whole (cloud metadata has lived at 192.0.0.192). Blocks that carry an IPv4 address (mapped,
# 6to4, NAT64, Teredo) are judged by that address first, in `_embedded_ipv4`.
SPECIAL_PURPOSE = tuple(
    (ipaddress.ip_network(block), reason)
    for block, reason in (
        ("0.0.0.0/8", UNSPECIFIED),  # "this network"
        ("10.0.0.0/8", PRIVATE),
        ("100.64.0.0/10", _("a carrier-grade NAT address")),
        ("127.0.0.0/8", LOOPBACK),
        ("169.254.0.0/16", LINK_LOCAL),
        ("172.16.0.0/12", PRIVATE),
        ("192.0.0.0/24", _("an IETF protocol assignment address (cloud metadata has lived there)")),
        ("192.0.2.0/24", DOCUMENTATION),
        ("192.88.99.0/24", RESERVED),  # the retired 6to4 relay anycast
        ("192.168.0.0/16", PRIVATE),
        ("198.18.0.0/15", _("a benchmarking address")),
        ("198.51.100.0/24", DOCUMENTATION),
        ("203.0.113.0/24", DOCUMENTATION),
        ("224.0.0.0/4", MULTICAST),
        ("240.0.0.0/4", RESERVED),  # 255.255.255.255 (broadcast) included
        ("::/128", UNSPECIFIED),
        ("::1/128", LOOPBACK),
        ("::/96", RESERVED),  # IPv4-compatible, deprecated
        ("::ffff:0:0:0/96", RESERVED),  # IPv4-translated
        ("64:ff9b:1::/48", PRIVATE),  # local-use IPv4/IPv6 translation
        ("100::/64", RESERVED),  # discard-only
        ("100:0:0:1::/64", RESERVED),  # dummy prefix
        ("2001::/23", IETF),
        ("2001:db8::/32", DOCUMENTATION),
        ("3fff::/20", DOCUMENTATION),
        ("5f00::/16", RESERVED),  # segment routing SIDs
        ("fc00::/7", PRIVATE),  # unique local
        ("fe80::/10", LINK_LOCAL),
        ("fec0::/10", _("a site-local address")),  # deprecated, still routed inside some networks
        ("ff00::/8", MULTICAST),
    )
)
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_TEREDO = ipaddress.ip_network("2001::/32")
_SIXTOFOUR = ipaddress.ip_network("2002::/16")

# getaddrinfo cannot be interrupted; lookups run here so that a caller can stop waiting.
_resolver = ThreadPoolExecutor(max_workers=8, thread_name_prefix="webhooks-dns")


class DestinationError(Exception):
    """A destination we will not call; `code` says why in one word."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if ip.version != 6:
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip in _SIXTOFOUR:
        return ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
    if ip in _TEREDO:
        return ipaddress.IPv4Address(~int(ip) & 0xFFFFFFFF)  # the client, obfuscated
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """Why we may not connect to this address, or None when we may."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return address_refusal(embedded)
    for block, reason in SPECIAL_PURPOSE:
        if ip.version == block.version and ip in block:
            if reason is LOOPBACK and setting("ALLOW_LOOPBACK"):
                return None
            return reason
    if ip.version == 6 and ip not in _GLOBAL_UNICAST_V6:
        return RESERVED  # not yet allocated for global unicast
    return None


def url_parts(url: str) -> tuple[str, int]:
    """The host and port an allowed URL reaches; DestinationError for a shape we refuse.

    The URL is read by the HTTP client's own parser (requests prepares it with urllib3's), so
    that save time and send time cannot see two different hosts in one URL.
    """
    scheme = url.partition(":")[0].lower() if ":" in url else ""
    if scheme != "https" and not (scheme == "http" and setting("ALLOW_HTTP")):
        raise DestinationError(gettext("The webhook URL must use HTTPS (https://…)."), "not_https")
    return _read_url(url)


@functools.lru_cache(maxsize=4096)  # on every attempt's path; a hook's URL rarely changes
def _read_url(url: str) -> tuple[str, int]:
    try:
        prepared = requests.models.PreparedRequest()
        prepared.prepare_url(url, None)
        parts = urlsplit(prepared.url)
        port = parse_url(url).port  # as typed: the client drops a port 0 without a word
    except (requests.exceptions.RequestException, LocationParseError, ValueError, UnicodeError):
        raise DestinationError(
            str(_PORT_RANGE) if _typed_port_out_of_range(url) else gettext("This URL is malformed."), "malformed"
        )
    if not parts.hostname:
        raise DestinationError(gettext("This URL has no host name."), "no_host")
    if port is not None and not 1 <= port <= 65535:
        raise DestinationError(str(_PORT_RANGE), "bad_port")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


_PORT_RANGE = _("The port must be a number from 1 to 65535.")


def _typed_port_out_of_range(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    try:
        parts.port
    except ValueError:
        return True
    return False


def resolve(host: str, port: int, *, timeout: float = 10.0) -> list[IPAddress]:
    """Resolve once and check every address; the first is the one to connect to."""
    try:
        found = [ipaddress.ip_address(host)]  # a canonical literal needs no lookup
    except ValueError:
        found = [ipaddress.ip_address(sockaddr[0].split("%")[0]) for *_, sockaddr in _lookup(host, port, timeout)]
    addresses = []
    for ip in found:
        reason = address_refusal(ip)
        if reason:
            raise DestinationError(
                gettext("“%(host)s” points to %(reason)s (%(ip)s); webhooks can only go to public internet addresses.")
                % {"host": host, "reason": reason, "ip": ip},
                "refused_address",
            )
        if ip not in addresses:
            addresses.append(ip)
    return addresses


def _lookup(host: str, port: int, timeout: float) -> list:
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        raise DestinationError(
            gettext("The host “%(host)s” did not resolve within %(seconds)g s.") % {"host": host, "seconds": timeout}, "dns_timeout"
        )
    except (OSError, UnicodeError):
        raise DestinationError(gettext("The host “%(host)s” could not be found.") % {"host": host}, "unresolvable")


def check_url(url: str, *, timeout: float = 10.0) -> list[IPAddress]:
    host, port = url_parts(url)
    return resolve(host, port, timeout=timeout)
