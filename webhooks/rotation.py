"""Rotating an integration's signing secret without a failed verification.

Rotating makes a new random secret the integration's `secret` and keeps the old one valid for
WEBHOOKS_SECRET_OVERLAP (24 h). During that overlap:
- `webhook-signature` (Standard Webhooks) carries both signatures, new first: libraries that
  verify it accept either secret, so they never fail.
- `X-InboundFlow-Signature` has room for one value, and the documented verifier compares it
  whole, so it stays on the OLD secret until the customer says "use the new secret now" (or the
  overlap ends). A receiver that has not been touched keeps verifying; one that checks both
  secrets during the change (the documented function called twice) verifies throughout.
Typing a new secret by hand replaces it at once and ends any overlap. One rotation at a time: a
second one with an overlap waits for the first to end (one without an overlap replaces at once).
"""
import datetime as dt
import secrets

from django.db import transaction
from django.utils import formats
from django.utils import timezone
from django.utils.translation import gettext as _

from .conf import setting
from .models import Integration
from .signing import standard_secret


# Which of an integration's secrets signed something (the API's words).
WHICH_SECRET = ["current", "previous"]


class RotationError(Exception):
    """A rotation step that cannot be done now, said for the person who asked."""


def secret_new() -> str:
    """A random secret: 32 bytes, URL-safe text (43 characters)."""
    return secrets.token_urlsafe(32)


def integration_secret_rotate(*, integration: Integration, overlap_seconds: float | None = None) -> str:
    """Give the integration a new secret, keep the current one valid for the overlap; returns
    the new secret (shown once)."""
    overlap = setting("SECRET_OVERLAP") if overlap_seconds is None else overlap_seconds
    if overlap < 0:
        raise RotationError(_("The overlap cannot be negative."))
    new = secret_new()
    now = timezone.now()
    with transaction.atomic():
        locked = Integration.objects.select_for_update().get(pk=integration.pk)
        if overlap > 0 and locked.in_rotation(now.timestamp()):
            # A third secret would drop one that receivers may still hold. Replacing it with no
            # overlap (a leaked secret) stays possible.
            raise RotationError(_(
                "A rotation is already in progress until %(until)s: finish it first (use the new secret now, "
                "or wait for its end), or rotate with no overlap."
            ) % {"until": formats.date_format(timezone.localtime(locked.previous_secret_until), "DATETIME_FORMAT")})
        if locked.secret and overlap > 0:
            locked.previous_secret, locked.previous_secret_until = locked.secret, now + dt.timedelta(seconds=overlap)
            locked.documented_signs_with_previous = True
        else:  # nothing to keep valid: the new secret signs everything at once
            locked.previous_secret, locked.previous_secret_until, locked.documented_signs_with_previous = "", None, False
        locked.secret = new
        locked.save(update_fields=[*_ROTATION_FIELDS, "secret", "updated_at"])
    _copy_rotation(locked, integration)
    return new


def integration_secret_use_new(*, integration: Integration) -> None:
    """X-InboundFlow-Signature is made with the new secret from now on (the previous one stays in
    webhook-signature until the overlap ends)."""
    with transaction.atomic():
        locked = Integration.objects.select_for_update().get(pk=integration.pk)
        if not locked.in_rotation(timezone.now().timestamp()):
            raise RotationError(_("No rotation is in progress: the current secret already signs everything."))
        locked.documented_signs_with_previous = False
        locked.save(update_fields=["documented_signs_with_previous", "updated_at"])
    _copy_rotation(locked, integration)


def secret_typed(integration: Integration, secret: str) -> None:
    """A person typed (or removed) the secret: it replaces the current one at once, and any
    rotation in progress ends with it."""
    if secret != integration.secret:
        integration.previous_secret, integration.previous_secret_until = "", None
        integration.documented_signs_with_previous = False


def rotation_view(integration: Integration) -> dict | None:
    """What the dashboard and the API say of a rotation in progress (None when there is none)."""
    if not integration.in_rotation(timezone.now().timestamp()):
        return None
    return {
        "previous_valid_until": integration.previous_secret_until,
        "documented_signature_uses": "previous" if integration.documented_signs_with_previous else "current",
    }


def signed_with(integration: Integration, *, at: float) -> dict:
    """Which secrets signed a request made at this unix time: "current", "previous" or None for
    X-InboundFlow-Signature, and the list for webhook-signature."""
    documented, standard = integration.signing_secrets(at)
    which = {integration.secret: "current", integration.previous_secret: "previous"}
    return {
        "x_inboundflow_signature": which.get(documented) if documented else None,
        "webhook_signature": [which[secret] for secret in standard],
    }


def secret_shown(secret: str) -> dict:
    """A secret as it is shown, once: as typed into a receiver, and as Standard Webhooks and Svix
    libraries take it."""
    return {"secret": secret, "standard_webhooks_secret": standard_secret(secret)}


_ROTATION_FIELDS = ["previous_secret", "previous_secret_until", "documented_signs_with_previous"]


def _copy_rotation(source: Integration, target: Integration) -> None:
    for name in ("secret", *_ROTATION_FIELDS):
        setattr(target, name, getattr(source, name))
