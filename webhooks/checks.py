"""System checks: refuse to start with settings that would lose or stall deliveries."""
import ipaddress

from django.conf import settings
from django.core.checks import Error, Warning, register

from .conf import setting


@register()
def webhook_settings_check(app_configs, **kwargs):
    errors = []
    schedule = setting("RETRY_SCHEDULE")
    if not schedule or any(delay < 0 for delay in schedule):
        errors.append(Error("WEBHOOKS_RETRY_SCHEDULE needs at least one delay, none negative.", id="webhooks.E001"))
    lease_needed = _lease_needed()
    if setting("LEASE_SECONDS") < lease_needed:
        errors.append(
            Error(
                f"WEBHOOKS_LEASE_SECONDS must be at least {lease_needed:g} s: a claimed batch may wait for the "
                "batch on the wire, then take its own turns, each up to WEBHOOKS_TIMEOUT.",
                id="webhooks.E002",
            )
        )
    visibility = getattr(settings, "CELERY_BROKER_VISIBILITY_TIMEOUT", 3600)
    if setting("MAX_COUNTDOWN") >= visibility:
        errors.append(
            Error(
                "WEBHOOKS_MAX_COUNTDOWN must stay below CELERY_BROKER_VISIBILITY_TIMEOUT, or the broker "
                "would hand a waiting retry to a second worker.",
                id="webhooks.E003",
            )
        )
    if setting("DISABLE_AFTER") < 1:
        errors.append(Error("WEBHOOKS_DISABLE_AFTER must be at least 1.", id="webhooks.E004"))
    if setting("READY_SWEEP_AGE") < 2 * setting("SWEEP_INTERVAL"):
        errors.append(
            Error(
                "WEBHOOKS_READY_SWEEP_AGE must be at least twice WEBHOOKS_SWEEP_INTERVAL, or /readyz would "
                "fail between two sweeps.",
                id="webhooks.E005",
            )
        )
    for network in setting("METRICS_NETWORKS"):
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            errors.append(
                Error(f"WEBHOOKS_METRICS_NETWORKS: {network!r} is not a network (write 10.0.0.0/8 or 127.0.0.1).", id="webhooks.E006")
            )
    if not settings.DEBUG and not setting("SECRET_KEYS"):
        errors.append(
            Warning(
                "WEBHOOKS_SECRET_KEYS is not set: signing secrets are encrypted with a key derived from "
                "DJANGO_SECRET_KEY, so rotating that key makes them unreadable.",
                id="webhooks.W002",
            )
        )
    if not settings.DEBUG and not setting("PUBLIC_URL").startswith("https://"):
        errors.append(
            Warning(
                "WEBHOOKS_PUBLIC_URL should be the https:// address customers reach this service at: "
                "payloads cut to fit 100 KB link to the full text there.",
                id="webhooks.W003",
            )
        )
    if not settings.DEBUG and (setting("ALLOW_HTTP") or setting("ALLOW_LOOPBACK")):
        errors.append(
            Warning(
                "WEBHOOKS_ALLOW_HTTP / WEBHOOKS_ALLOW_LOOPBACK are for development and tests only.",
                id="webhooks.W001",
            )
        )
    return errors


def _lease_needed() -> float:
    """A claimed batch waits for the batch on the wire (its turns), then is sent (as many turns):
    each turn lasts up to WEBHOOKS_TIMEOUT; 10 s to record, and never less than TIMEOUT + 20."""
    from .engine import drain_shape

    batch, lanes = drain_shape(setting("DRAIN_SLOTS"))
    turns = -(-batch // lanes)
    return max(setting("TIMEOUT") + 20, 2 * turns * setting("TIMEOUT") + 10)
