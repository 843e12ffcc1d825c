"""Template filters for the dashboard."""
from django import template
from django.utils import timezone
from django.utils.formats import date_format, number_format

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
