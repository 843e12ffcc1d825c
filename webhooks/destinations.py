"""Where a webhook may go: one set of rules for save time and for every attempt.

Webhook URLs are typed by customers, so they are attacker-controlled. A destination is allowed
only if its scheme is https (http only with WEBHOOKS_ALLOW_HTTP) and *every* address its host
resolves to is a public internet address (loopback only with WEBHOOKS_ALLOW_LOOPBACK, a
development and test setting). The resolver itself decides what `127.1`, `2130706433` or
`0x7f.0.0.1` mean, so odd spellings are judged by the address they really reach; IPv6 forms
that carry an IPv4 address (mapped, 6to4, Teredo, NAT64) are judged by that address.
"""
import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import urlsplit

from .conf import setting

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DOCUMENTATION = tuple(
    ipaddress.ip_network(net)
    for net in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")
)

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
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """Why we may not connect to this address, or None when we may."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return address_refusal(embedded)
    if ip.is_loopback:
        return None if setting("ALLOW_LOOPBACK") else "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.version == 4 and ip in _CGNAT:
        return "a carrier-grade NAT address"
    if any(ip in net for net in _DOCUMENTATION):
        return "a documentation address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private network address"
    if not ip.is_global:
        return "a reserved address"
    return None


def url_parts(url: str) -> tuple[str, int]:
    """The host and port of an allowed URL; DestinationError for a scheme or shape we refuse."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DestinationError("This URL is malformed.", "malformed")
    if parts.scheme != "https" and not (parts.scheme == "http" and setting("ALLOW_HTTP")):
        raise DestinationError("The webhook URL must use HTTPS (https://…).", "not_https")
    if not parts.hostname:
        raise DestinationError("This URL has no host name.", "no_host")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


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
                f"“{host}” points to {reason} ({ip}); webhooks can only go to public internet addresses.",
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
        raise DestinationError(f"The host “{host}” did not resolve within {timeout:g} s.", "dns_timeout")
    except (OSError, UnicodeError):
        raise DestinationError(f"The host “{host}” could not be found.", "unresolvable")


def check_url(url: str, *, timeout: float = 10.0) -> list[IPAddress]:
    host, port = url_parts(url)
    return resolve(host, port, timeout=timeout)
