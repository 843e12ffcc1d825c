"""What differs between integration kinds: how we present them and what their URLs look like.

All kinds receive the same request; the table only drives the settings page and the hints a
customer sees when pasting a URL. An unknown kind falls back to the custom one.
"""
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class KindInfo:
    label: str  # texts a person reads are lazy translations
    tagline: str
    url_placeholder: str
    url_help: str
    # Requests per second we send a hook of this kind at most, unless the integration says
    # otherwise (webhooks/pacing.py): what the platform documents, with room to spare.
    max_per_second: float | None = None


KINDS = {
    "zapier": KindInfo(
        "Zapier",
        _("Connect to 5,000+ apps"),
        "https://hooks.zapier.com/hooks/catch/…",
        _("In your Zap, choose the trigger “Webhooks by Zapier → Catch Hook” and paste its URL."),
        # Zapier answers 429 past 10,000 requests per 5 minutes per user (≈ 33/s; help.zapier.com,
        # "Webhooks by Zapier rate limits"), and about 30/s on one hook.
        max_per_second=25.0,
    ),
    "make": KindInfo(
        "Make (Integromat)",
        _("Advanced workflow automation"),
        "https://hook.eu1.make.com/…",
        _("In your scenario, add a “Webhooks → Custom webhook” module and paste its address."),
        # Make puts what a webhook receives in that webhook's queue (help.make.com, "Webhooks")
        # and documents no request rate that we found: the same 25/s as Zapier, configurable.
        max_per_second=25.0,
    ),
    "n8n": KindInfo(
        "n8n",
        _("Self-hosted automation"),
        "https://n8n.example.com/webhook/…",
        _("Add a Webhook node (method POST) and paste its production URL."),
    ),
    "custom": KindInfo(
        _("Custom webhook"),
        _("Any URL accepting HTTP POST"),
        "https://example.com/inboundflow/webhook",
        _("Any HTTPS endpoint that accepts a JSON POST and answers 2xx within 10 seconds."),
    ),
}


def kind_info(kind: str) -> KindInfo:
    return KINDS.get(kind, KINDS["custom"])


def kind_from_url(url: str) -> str:
    """The platform a hook URL belongs to, from the addresses each one hands out: Zapier's
    hooks.zapier.com, Make's hook.<zone>.make.com (formerly integromat.com), n8n Cloud's
    *.n8n.cloud or a self-hosted n8n's /webhook/ (and /webhook-test/) paths; else custom."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return "custom"
    if host == "zapier.com" or host.endswith(".zapier.com"):
        return "zapier"
    if host.endswith((".make.com", ".integromat.com")):
        return "make"
    if host.endswith(".n8n.cloud") or parts.path.startswith(("/webhook/", "/webhook-test/")):
        return "n8n"
    return "custom"


def masked_url(url: str) -> str:
    """A URL safe for logs: hook paths and queries carry credentials, so only the origin shows."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
    except ValueError:
        return "<malformed url>"
    suffix = "/…" if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{host}{suffix}"
