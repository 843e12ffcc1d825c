"""What Zapier, Make and n8n do through the API: subscribe a hook when a Zap, scenario or
workflow is turned on, unsubscribe it when it is turned off (the REST Hooks pattern), and fetch
recent bodies to show while their user maps fields.

A subscription is an ordinary integration (same URL rules, same deliveries, same retries) whose
origin is `rest_hook`. When the platform answers a delivery with 410 Gone the engine disables
it like any other; for a subscription that also ends it in the platform's view: the hooks
routes no longer show it (404), so n8n's "check exists" answers no, and subscribing again
brings the same hook back to life instead of making a second one.
"""
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from .events import in_catalogue_order
from .kinds import kind_from_url, kind_info
from .models import Delivery, Event, Integration
from .payloads import delivery_body

Origin = Integration.Origin
ENDED = Q(state=Integration.State.DISABLED, disabled_cause=Integration.DisabledCause.GONE)


def hooks_live(*, organization_id):
    """The subscriptions a platform can see: its own, not ended by a 410."""
    return Integration.objects.filter(organization_id=organization_id, origin=Origin.REST_HOOK).exclude(ENDED)


def hook_subscribe(
    *, organization_id, target_url: str, event_types: list[str], kind: str = "", name: str = "", secret: str = ""
) -> tuple[Integration, bool]:
    """(the hook, whether it is new). The same URL and event set again gives the same hook;
    if a 410 had ended it, it is live again (what it held while ended stays held)."""
    event_types = in_catalogue_order(event_types)
    kind = kind or kind_from_url(target_url)
    same = Integration.objects.filter(
        organization_id=organization_id, origin=Origin.REST_HOOK, target_url=target_url, event_types=event_types
    )
    hook = same.first()
    if hook is None:
        hook = Integration(
            organization_id=organization_id, origin=Origin.REST_HOOK, target_url=target_url, event_types=event_types,
            kind=kind, name=(name or f"{kind_info(kind).label} · {', '.join(event_types)}")[:100], secret=secret,
        )
        try:
            with transaction.atomic():
                hook.save()
            return hook, True
        except IntegrityError:  # the same subscription, made at the same moment
            hook = same.get()
    with transaction.atomic():
        hook = same.select_for_update().get(pk=hook.pk)
        changed = []
        if secret and secret != hook.secret:
            hook.secret = secret
            changed.append("secret")
        if hook.disabled_cause == Integration.DisabledCause.GONE:
            hook.state, hook.disabled_at, hook.disabled_reason, hook.disabled_cause = Integration.State.ACTIVE, None, "", ""
            hook.consecutive_failures = 0
            changed += ["state", "disabled_at", "disabled_reason", "disabled_cause", "consecutive_failures"]
        if changed:
            hook.updated_at = timezone.now()
            hook.save(update_fields=[*changed, "updated_at"])
    return hook, False


def samples_recent(*, organization_id, event_type: str, limit: int) -> list[bytes]:
    """The bodies of the organization's latest events of this type that were sent, newest first,
    byte for byte as sent (one per event, though it went to several hooks). Tests are left out."""
    events = list(
        Event.objects.filter(
            organization_id=organization_id, event_type=event_type, is_test=False, deliveries__attempts__gt=0
        )
        .distinct()
        .order_by("-occurred_at", "-id")[:limit]
    )
    first_sent = {}
    for event_id, delivery_id in (
        Delivery.objects.filter(event__in=events, attempts__gt=0).order_by("created_at", "id").values_list("event_id", "id")
    ):
        first_sent.setdefault(event_id, delivery_id)
    return [delivery_body(event=event, delivery_id=first_sent[event.id]) for event in events]
