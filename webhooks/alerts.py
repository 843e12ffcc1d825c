"""Being told: when an integration starts failing, is disabled, or works again, every user of
its organization gets one e-mail in their language, and a banner until they have seen it.

An alert row is written in the transaction that changed the integration's state (so it exists
exactly when the state changed); the e-mails are sent afterwards by a worker task, never on a
delivery's path. An alert whose e-mails could not be sent (SMTP or broker down) is sent again
by the sweep.
"""
import datetime as dt
import logging
import zoneinfo
from functools import partial

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from .conf import setting
from .health import error_in_words
from .models import Alert, Integration

logger = logging.getLogger(__name__)

SEND_AGAIN_AFTER = dt.timedelta(seconds=60)  # an alert not e-mailed by then is sent by the sweep
BANNER_DAYS = 7


def alert_raise(*, integration_id, kind: str, result=None) -> Alert:
    """Record the change (in the caller's transaction) and e-mail it once that commits."""
    alert = Alert.objects.create(
        integration_id=integration_id,
        kind=kind,
        error_class=getattr(result, "error_class", "") or "",
        status_code=getattr(result, "status_code", None),
        detail=(getattr(result, "error_message", "") or "")[:500],
    )
    transaction.on_commit(partial(alert_publish, alert_id=alert.pk), robust=True)
    return alert


def alert_publish(*, alert_id) -> None:
    from .tasks import alert_send

    try:
        alert_send.delay(str(alert_id))
    except Exception as exc:  # noqa: BLE001 - the sweep sends it later
        logger.warning("could not publish an alert e-mail (%s); the sweep will", type(exc).__name__)


def alert_send(*, alert_id) -> int:
    """E-mail one alert to every user of the organization, each in their language. Returns how
    many were sent; an alert already e-mailed (a duplicate message) sends nothing.

    The alert's row stays locked while the e-mails go (bounded by EMAIL_TIMEOUT): a second
    worker skips it, and a crash or an SMTP error leaves it unsent for the sweep. It is a cold
    row, unlike a delivery's, so holding it costs nobody anything."""
    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("integration__organization")
            .filter(pk=alert_id, emailed_at__isnull=True)
            .first()
        )
        if alert is None:
            return 0
        organization = alert.integration.organization
        recipients = [user for user in organization.users.filter(is_active=True) if user.email]
        messages = [_message(alert, user) for user in recipients]
        with get_connection() as connection:  # an SMTP failure raises: the alert stays unsent
            connection.send_messages(messages)
        Alert.objects.filter(pk=alert.pk).update(emailed_at=timezone.now())
    logger.info("alert %s (%s) e-mailed to %s users", alert.pk, alert.kind, len(messages))
    return len(messages)


def _message(alert: Alert, user) -> EmailMessage:
    integration = alert.integration
    zone = zoneinfo.ZoneInfo(integration.organization.time_zone)
    with translation.override(user.language or settings.LANGUAGE_CODE), timezone.override(zone):
        what, fix = error_in_words(alert.error_class, alert.status_code) if alert.kind != Alert.Kind.RECOVERED else ("", "")
        context = {
            "alert": alert, "integration": integration, "user": user, "what": what, "fix": fix,
            "disable_after": setting("DISABLE_AFTER"),
            "link": f"{setting('PUBLIC_URL').rstrip('/')}/settings/integrations/{integration.pk}/",
        }
        subject = render_to_string("webhooks/email/alert_subject.txt", context).strip()
        body = render_to_string("webhooks/email/alert_body.txt", context)
    return EmailMessage(subject=subject, body=body, to=[user.email])


def alerts_unsent(*, now: dt.datetime | None = None, limit: int = 100) -> list:
    """Alerts whose e-mails should have gone by now (the sweep publishes them again)."""
    now = now or timezone.now()
    return list(
        Alert.objects.filter(emailed_at__isnull=True, created_at__lt=now - SEND_AGAIN_AFTER)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


def alerts_unseen(*, user) -> list[Alert]:
    """The banner: this week's alerts of the user's organization that they have not dismissed."""
    if not user.is_authenticated or user.organization_id is None:
        return []
    since = timezone.now() - dt.timedelta(days=BANNER_DAYS)
    return list(
        Alert.objects.filter(integration__organization_id=user.organization_id, created_at__gte=since)
        .exclude(seen_by=user)
        .select_related("integration")[:5]
    )


def alert_mark_seen(*, alert: Alert, user) -> None:
    alert.seen_by.add(user)


def integration_recovered(*, integration: Integration) -> None:
    """After a re-enable: tell the organization it works again, if it had been told otherwise."""
    if Integration.objects.filter(pk=integration.pk).exclude(alerted=Integration.Alerted.OK).update(
        alerted=Integration.Alerted.OK
    ):
        alert_raise(integration_id=integration.pk, kind=Alert.Kind.RECOVERED)


def banner(request) -> dict:
    """Context processor: the alerts the logged-in person has not dismissed yet."""
    user = getattr(request, "user", None)
    return {"unseen_alerts": alerts_unseen(user=user) if user is not None else []}
