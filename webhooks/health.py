"""How an integration is doing, in words a customer understands ("Surveiller les échecs"):
success rates, response times, and the last error with the fix to try. Selectors only: they
read, never write, and cost a few queries for a whole page of integrations."""
import datetime as dt
import statistics
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Attempt, Delivery

# What went wrong, and what the customer can try, by error class; HTTP statuses below.
_ERRORS = {
    "timeout": (_("Your endpoint took longer than 10 seconds to answer."),
                _("Answer 200 at once, then do the work (our documentation's first good practice).")),
    "connection": (_("We could not connect to your endpoint."),
                   _("Check that the server is running and reachable from the internet.")),
    "tls": (_("Your endpoint's HTTPS certificate was not accepted."),
            _("Renew the certificate, or serve the full certificate chain.")),
    "dns": (_("The host name in the URL could not be found."),
            _("Check the URL's spelling and the host's DNS record.")),
    "refused": (_("The URL does not lead to a public internet address."),
                _("Use the public HTTPS URL your platform gave you.")),
}
_HTTP = {
    404: (_("Your endpoint answered 404: nothing is listening at this URL."),
          _("Check the URL; the Zap, scenario or workflow behind it may have been deleted.")),
    410: (_("Your endpoint answered 410: the hook was turned off on its side."),
          _("Turn the Zap, scenario or workflow back on, or paste its new URL.")),
    413: (_("Your endpoint refused the request as too large (413)."),
          _("Raise your server's body size limit to at least 100 KB.")),
    429: (_("Your endpoint asked us to slow down (429)."),
          _("Nothing to do: we retry later, as it asks.")),
}
_HTTP_CLASSES = {
    3: (_("Your endpoint answered with a redirect (HTTP %(status)s), which we do not follow."),
        _("Paste the final URL, the one the redirect points to.")),
    4: (_("Your endpoint refused the request (HTTP %(status)s)."),
        _("Check the URL and the endpoint's authentication settings.")),
    5: (_("Your endpoint had an error (HTTP %(status)s)."),
        _("Look at your server's logs at the time of the attempt.")),
}

PERCENTILE_SAMPLE = 1000  # the latest attempts a response-time percentile is computed from


@dataclass(frozen=True)
class LastError:
    at: dt.datetime
    what: str
    fix: str
    detail: str  # the technical message, for whoever debugs it


@dataclass(frozen=True)
class Health:
    success_rate_24h: float | None  # finished deliveries that succeeded, None when none finished
    success_rate_7d: float | None
    p50_ms: int | None
    p95_ms: int | None
    last_error: LastError | None


def error_in_words(error_class: str, status_code: int | None) -> tuple[str, str]:
    """(what went wrong, what to try), in the active language."""
    if status_code:
        what, fix = _HTTP.get(status_code) or _HTTP_CLASSES.get(status_code // 100, _HTTP_CLASSES[5])
        return str(what) % {"status": status_code}, str(fix)
    what, fix = _ERRORS.get(error_class, _ERRORS["connection"])
    return str(what), str(fix)


def _rate(succeeded: int, failed: int) -> float | None:
    return None if succeeded + failed == 0 else succeeded / (succeeded + failed)


def integrations_health(integration_ids, *, now: dt.datetime | None = None) -> dict:
    """{integration id: Health} over the last 24 hours and 7 days; tests are left out."""
    now = now or timezone.now()
    day, week = now - dt.timedelta(days=1), now - dt.timedelta(days=7)
    ids = list(integration_ids)
    finished = Delivery.objects.filter(integration_id__in=ids, event__is_test=False, completed_at__gte=week)
    counts = {
        row["integration_id"]: row
        for row in finished.values("integration_id").annotate(
            ok_7d=Count("id", filter=Q(status=Delivery.Status.SUCCEEDED)),
            failed_7d=Count("id", filter=Q(status=Delivery.Status.FAILED)),
            ok_24h=Count("id", filter=Q(status=Delivery.Status.SUCCEEDED, completed_at__gte=day)),
            failed_24h=Count("id", filter=Q(status=Delivery.Status.FAILED, completed_at__gte=day)),
        )
    }
    health = {}
    for integration_id in ids:
        attempts = Attempt.objects.filter(
            delivery__integration_id=integration_id, delivery__event__is_test=False, started_at__gte=week
        )
        durations = sorted(
            attempts.filter(status_code__isnull=False).order_by("-started_at").values_list("duration_ms", flat=True)[
                :PERCENTILE_SAMPLE
            ]
        )
        last = attempts.filter(succeeded=False).order_by("-started_at").first()
        row = counts.get(integration_id, {})
        health[integration_id] = Health(
            success_rate_24h=_rate(row.get("ok_24h", 0), row.get("failed_24h", 0)),
            success_rate_7d=_rate(row.get("ok_7d", 0), row.get("failed_7d", 0)),
            p50_ms=_percentile(durations, 50),
            p95_ms=_percentile(durations, 95),
            last_error=_last_error(last),
        )
    return health


def _percentile(ordered: list[int], percent: int) -> int | None:
    if not ordered:
        return None
    if len(ordered) == 1:
        return ordered[0]
    return round(statistics.quantiles(ordered, n=100, method="inclusive")[percent - 1])


def _last_error(attempt: Attempt | None) -> LastError | None:
    if attempt is None:
        return None
    what, fix = error_in_words(attempt.error_class, attempt.status_code)
    return LastError(at=attempt.started_at, what=what, fix=fix, detail=attempt.error_message)


HOURS = 7 * 24
OUTCOMES = (Delivery.Status.SUCCEEDED, Delivery.Status.FAILED, Delivery.Status.PENDING, Delivery.Status.HELD)


@dataclass(frozen=True)
class Chart:
    """Deliveries per hour by outcome over the last 7 days, laid out for an SVG of `width` ×
    `height`: one column per hour, its outcomes stacked, and a label at each local midnight."""

    width: int
    height: int
    columns: list  # (x, [(outcome, y, height, count)], hour start)
    days: list  # (x, day start)
    peak: int
    total: int


def integration_hourly(integration_id, *, now: dt.datetime | None = None, column: int = 5, height: int = 120) -> Chart:
    from django.db.models.functions import TruncHour

    now = timezone.localtime(now or timezone.now())
    first = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=HOURS - 1)
    rows = (
        Delivery.objects.filter(integration_id=integration_id, event__is_test=False, created_at__gte=first)
        .annotate(hour=TruncHour("created_at", tzinfo=now.tzinfo))
        .values("hour", "status")
        .annotate(count=Count("id"))
    )
    counts: dict = {}
    for row in rows:
        counts.setdefault(timezone.localtime(row["hour"]), {})[row["status"]] = row["count"]
    hours = [first + dt.timedelta(hours=index) for index in range(HOURS)]
    peak = max([sum(counts.get(hour, {}).values()) for hour in hours] + [1])
    columns, days = [], []
    for index, hour in enumerate(hours):
        x, top, stack = index * column, height, []
        for outcome in OUTCOMES:
            count = counts.get(hour, {}).get(outcome, 0)
            if count:
                size = max(1, round(count / peak * (height - 4)))
                top -= size
                stack.append((outcome, top, size, count))
        columns.append((x, stack, hour))
        if hour.hour == 0:
            days.append((x, hour))
    total = sum(sum(by_status.values()) for by_status in counts.values())
    return Chart(width=HOURS * column, height=height, columns=columns, days=days, peak=peak, total=total)
