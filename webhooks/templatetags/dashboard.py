"""Template filters for the dashboard."""
from django import template
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

register = template.Library()


@register.filter
def instant(value, precision: str = "s"):
    """A moment in the active time zone (the organization's), to the second — or to the
    millisecond with `|instant:"ms"` — with the zone named, month in the person's language."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    fraction = f".{local.microsecond // 1000:03d}" if precision == "ms" else ""
    return f"{date_format(local, 'j F Y, H:i:s')}{fraction} {date_format(local, 'T')}"


@register.filter
def percent(rate):
    """0.985 → "98.5 %" ("98,5 %" in French); None (nothing to measure) → "—"."""
    if rate is None:
        return "—"
    value = round(rate * 100, 1)
    return f"{number_format(value, decimal_pos=0 if value == int(value) else 1)}\u00a0%"


@register.filter
def status_label(status: str) -> str:
    """A delivery status as the person reads it ("succeeded" → "Réussie")."""
    from ..models import Delivery

    return str(Delivery.Status(status).label)


@register.filter
def disabled_words(integration) -> str:
    """Why an integration was disabled, in the person's language."""
    cause = integration.DisabledCause
    if integration.disabled_cause == cause.FAILURES:
        count = integration.consecutive_failures
        return ngettext(
            "Disabled automatically after %(count)d failed delivery in a row.",
            "Disabled automatically after %(count)d failed deliveries in a row.",
            count,
        ) % {"count": count}
    if integration.disabled_cause == cause.GONE:
        return _(
            "Your endpoint answered 410 Gone: the hook was removed on its side. "
            "Re-enable it only if the address is in use again."
        )
    if integration.disabled_cause == cause.PERSON:
        return _("Disabled by %(name)s.") % {"name": integration.disabled_by}
    return integration.disabled_reason
