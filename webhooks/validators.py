"""Save-time checks of a webhook URL, with a message naming what is wrong.

The same rules apply again at every attempt (DNS can change): see transport.py.
"""
import ipaddress
import socket
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from .conf import setting

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in a mapped, 6to4, Teredo or NAT64 IPv6 address."""
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
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private network address"
    if not ip.is_global:
        return "a reserved address"
    return None


def validate_webhook_url(url: str) -> None:
    """Raise ValidationError unless `url` is an https:// URL whose host resolves only to public addresses."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError("This URL is malformed.", code="malformed")
    if parts.scheme != "https" and not (parts.scheme == "http" and setting("ALLOW_HTTP")):
        raise ValidationError("The webhook URL must use HTTPS (https://…).", code="not_https")
    host = parts.hostname
    if not host:
        raise ValidationError("This URL has no host name.", code="no_host")
    try:
        infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise ValidationError(f"The host “{host}” could not be found.", code="unresolvable")
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
        reason = address_refusal(ip)
        if reason:
            raise ValidationError(
                f"“{host}” points to {reason} ({ip}); webhooks can only go to public internet addresses.",
                code="refused_address",
            )


def validate_event_types(value) -> None:
    from .events import EventType

    if not isinstance(value, list) or not value:
        raise ValidationError("Choose at least one event to receive.", code="no_events")
    unknown = [item for item in value if item not in EventType.values]
    if unknown:
        raise ValidationError(
            f"Unknown event type(s): {', '.join(map(str, unknown))}. Known: {', '.join(EventType.values)}.",
            code="unknown_event",
        )
    if len(set(value)) != len(value):
        raise ValidationError("An event type is listed twice.", code="duplicate_event")


def validate_plain_text(value: str) -> None:
    """Names are shown in lists and logs: no control characters, no surrogates."""
    if any(ord(char) < 32 or ord(char) == 127 or 0xD800 <= ord(char) <= 0xDFFF for char in value):
        raise ValidationError("Use printable characters only (no line breaks or control characters).", code="control_chars")
