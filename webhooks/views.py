"""Settings → Integrations: connect, test, save, watch, re-enable. Every query is scoped to the
organization of the logged-in user; another organization's ids are simply not found (404).
"""
import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Min, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from inboundflow.models import Appointment, Call, Lead

from . import alerts, api_keys, rotation, services
from .conf import setting
from .events import EventType
from .forms import ApiKeyForm, DeliveryFilterForm, EnableForm, IntegrationForm, ReplayForm, TestEventForm
from .health import OUTCOMES, integration_hourly, integrations_health
from .kinds import KINDS, kind_info
from .models import Alert, ApiKey, Delivery, Integration
from .engine import delivery_headers
from .payloads import delivery_body


def _organization(request: HttpRequest):
    if request.user.organization_id is None:
        raise Http404(_("Your account does not belong to an organization."))
    return request.user.organization


def _integration(request: HttpRequest, pk) -> Integration:
    return get_object_or_404(Integration, pk=pk, organization=_organization(request))


def _describe_result(status_code, error_class, error_message) -> str:
    if status_code and 200 <= status_code < 300:
        return _("Test delivered: your endpoint answered %(status)s.") % {"status": status_code}
    return _("Test failed: %(error)s.") % {"error": error_message or error_class}


# A delivery is retrying when it is still pending after at least one attempt of its round.
_RETRYING = Q(deliveries__status=Delivery.Status.PENDING, deliveries__attempts__gt=F("deliveries__round_start"))


def _with_health(integrations):
    """Held and retrying deliveries, and when the next retry goes, in one query."""
    return integrations.annotate(
        held=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.HELD)),
        retrying=Count("deliveries", filter=_RETRYING),
        next_retry_at=Min("deliveries__next_attempt_at", filter=_RETRYING),
    )


def _attach_health(integrations: list) -> list:
    health = integrations_health(integration.pk for integration in integrations)
    for integration in integrations:
        integration.health = health[integration.pk]
    return integrations


@login_required
def integration_list(request: HttpRequest) -> HttpResponse:
    organization = _organization(request)
    integrations = _attach_health(list(_with_health(organization.integrations.all())))
    return render(
        request,
        "webhooks/integration_list.html",
        {
            "organization": organization, "integrations": integrations,
            "kinds": KINDS, "demo": setting("DEMO"), "disable_after": setting("DISABLE_AFTER"),
        },
    )


@login_required
def integration_create(request: HttpRequest) -> HttpResponse:
    organization = _organization(request)
    kind = request.GET.get("kind") or request.POST.get("kind") or "custom"
    if kind not in KINDS:
        raise Http404(_("Unknown integration kind."))
    form = IntegrationForm(request.POST or None, organization=organization, initial={"kind": kind, "name": KINDS[kind].label})
    test_result = None
    if request.method == "POST" and form.is_valid():
        if "test" in request.POST:
            result = services.url_send_sample(
                organization_id=organization.id,
                url=form.cleaned_data["target_url"],
                secret=form.cleaned_data["secret"],
                event_type=form.cleaned_data["event_types"][0],
            )
            test_result = {"ok": result.ok, "text": _describe_result(result.status_code, result.error_class, result.error_message)}
        else:
            integration = form.save()
            messages.success(request, _("“%(name)s” is connected.") % {"name": integration.name})
            _show_typed_secret_once(request, integration, before="")
            return redirect("webhooks:integration-detail", pk=integration.pk)
    return render(
        request,
        "webhooks/integration_form.html",
        {"form": form, "kind": kind_info(kind), "test_result": test_result},
    )


@login_required
def integration_detail(request: HttpRequest, pk) -> HttpResponse:
    # Asked first: each query reads its own moment, so a delivery finishing while the page is
    # built must leave it pending (asked again in 2 s), never "nothing pending" beside a health
    # read before the delivery finished (the page would stop refreshing on a stale rate).
    pending = Delivery.objects.filter(
        integration_id=pk, integration__organization=_organization(request), status=Delivery.Status.PENDING
    ).exists()
    integration = get_object_or_404(_with_health(Integration.objects.all()), pk=pk, organization=_organization(request))
    _attach_health([integration])
    form = IntegrationForm(request.POST or None, instance=integration, organization=integration.organization)
    before = integration.secret  # validating the form writes the typed one into the instance
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Saved."))
        _show_typed_secret_once(request, integration, before=before)
        return redirect("webhooks:integration-detail", pk=integration.pk)
    filters = DeliveryFilterForm(request.GET or None)
    deliveries = filters.filter(integration.deliveries.select_related("event")).order_by("-created_at")[:50]
    context = {
        "integration": integration,
        "form": form,
        "filters": filters,
        "kind": kind_info(integration.kind),
        "deliveries": deliveries,
        "held": integration.held,
        "pending": pending,  # the page refreshes itself while it is true (static/webhooks/live.js)
        "chart": integration_hourly(integration.pk),
        "outcomes": [(outcome, Delivery.Status(outcome).label) for outcome in OUTCOMES],
        "disable_after": setting("DISABLE_AFTER"),
        "event_types": EventType.choices,
        "rotation": rotation.rotation_view(integration),
    }
    context.update(_replay_counted(request, integration))
    if request.GET.get("fragment") == "live":
        return render(request, "webhooks/_integration_live.html", context)
    context["new_secret"] = _new_secret_shown_once(request, integration)  # never spent by a refresh
    return render(request, "webhooks/integration_detail.html", context)


@login_required
@require_POST
def integration_test(request: HttpRequest, pk) -> HttpResponse:
    integration = _integration(request, pk)
    form = TestEventForm(request.POST)
    event_type = form.cleaned_data["event_type"] if form.is_valid() else None
    attempt = services.integration_send_test(integration=integration, event_type=event_type)
    text = _describe_result(attempt.status_code, attempt.error_class, attempt.error_message)
    (messages.success if attempt.succeeded else messages.error)(request, text)
    if integration.in_rotation(attempt.request_timestamp):  # which secret(s) signed this one
        messages.info(request, _signed_with_words(rotation.signed_with(integration, at=attempt.request_timestamp)))
    return redirect("webhooks:integration-detail", pk=integration.pk)


def _signed_with_words(signed: dict) -> str:
    documented = _("the previous secret") if signed["x_inboundflow_signature"] == "previous" else _("the new secret")
    return _(
        "Signed during the rotation: X-InboundFlow-Signature with %(documented)s; webhook-signature with both secrets."
    ) % {"documented": documented}


# A rotated secret is shown once: kept in the session until the page the rotation redirects to
# has shown it (as the API keys page does).
NEW_SECRET_SESSION = "integration_secret_just_made"


def _show_typed_secret_once(request: HttpRequest, integration: Integration, *, before: str) -> None:
    """A secret the person just typed is shown once more, as Standard Webhooks libraries take it."""
    if integration.secret and integration.secret != before:
        request.session[NEW_SECRET_SESSION] = {
            "integration": str(integration.pk), "typed": True, **rotation.secret_shown(integration.secret),
        }


def _new_secret_shown_once(request: HttpRequest, integration: Integration) -> dict | None:
    shown = request.session.get(NEW_SECRET_SESSION)
    if not shown or shown.get("integration") != str(integration.pk):
        return None
    del request.session[NEW_SECRET_SESSION]
    return shown


def _to_signing_secret(integration: Integration) -> HttpResponse:
    return redirect(f"{reverse('webhooks:integration-detail', args=[integration.pk])}#signing-secret")


@login_required
@require_POST
def integration_secret_rotate(request: HttpRequest, pk) -> HttpResponse:
    integration = _integration(request, pk)
    try:
        new = rotation.integration_secret_rotate(integration=integration)
    except rotation.RotationError as error:
        messages.error(request, str(error))
        return _to_signing_secret(integration)
    request.session[NEW_SECRET_SESSION] = {"integration": str(integration.pk), **rotation.secret_shown(new)}
    return _to_signing_secret(integration)


@login_required
@require_POST
def integration_secret_use_new(request: HttpRequest, pk) -> HttpResponse:
    integration = _integration(request, pk)
    try:
        rotation.integration_secret_use_new(integration=integration)
    except rotation.RotationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("X-InboundFlow-Signature is now made with the new secret."))
    return _to_signing_secret(integration)


@login_required
@require_POST
def integration_enable(request: HttpRequest, pk) -> HttpResponse:
    integration = _integration(request, pk)
    form = EnableForm(request.POST)
    send_held = form.is_valid() and form.cleaned_data["send_held"]
    released = services.integration_enable(integration=integration, send_held=send_held)
    if send_held:
        messages.success(request, ngettext(
            "Re-enabled. %(count)d held delivery is on its way.", "Re-enabled. %(count)d held deliveries are on their way.",
            released,
        ) % {"count": released})
    else:
        messages.success(request, _("Re-enabled."))
    return redirect("webhooks:integration-detail", pk=integration.pk)


@login_required
@require_POST
def integration_send_held(request: HttpRequest, pk) -> HttpResponse:
    integration = _integration(request, pk)
    if not integration.is_active:
        messages.error(request, _("Re-enable the integration first."))
    else:
        released = services.integration_release_held(integration=integration)
        messages.success(request, ngettext(
            "%(count)d held delivery is on its way.", "%(count)d held deliveries are on their way.", released
        ) % {"count": released})
    return redirect("webhooks:integration-detail", pk=integration.pk)


def _replay_counted(request: HttpRequest, integration: Integration) -> dict:
    """The "send again since" card: its form, and once a time is given, what it would send."""
    if "replay-since" not in request.GET:
        since = timezone.localtime() - dt.timedelta(days=1)
        return {"replay": ReplayForm(initial={"since": since.replace(second=0, microsecond=0)}), "replay_counts": None}
    form = ReplayForm(request.GET)
    if not form.is_valid():
        return {"replay": form, "replay_counts": None}
    counts = services.integration_replay(integration=integration, since=form.cleaned_data["since"], dry_run=True)
    return {"replay": form, "replay_counts": {**counts, "total": counts["failed"] + counts["held"]}}


@login_required
@require_POST
def integration_replay(request: HttpRequest, pk) -> HttpResponse:
    integration = _integration(request, pk)
    form = ReplayForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["since"]))
        return redirect("webhooks:integration-detail", pk=integration.pk)
    try:
        counts = services.integration_replay(integration=integration, since=form.cleaned_data["since"])
    except services.ServiceError as error:
        messages.error(request, str(error))
    else:
        total = counts["failed"] + counts["held"]
        if total:
            messages.success(request, ngettext(
                "%(count)d delivery is on its way again, with its delivery_id.",
                "%(count)d deliveries are on their way again, each with its delivery_id.", total,
            ) % {"count": total})
        else:
            messages.info(request, _("Nothing failed or was held since then."))
    return redirect("webhooks:integration-detail", pk=integration.pk)


@login_required
@require_POST
def integration_disable(request: HttpRequest, pk) -> HttpResponse:
    integration = _integration(request, pk)
    services.integration_disable(integration=integration, by=request.user.get_username())
    messages.success(request, _("Disabled. New events will be held until you re-enable it."))
    return redirect("webhooks:integration-detail", pk=integration.pk)


@login_required
@require_POST
def integration_delete(request: HttpRequest, pk) -> HttpResponse:
    integration = _integration(request, pk)
    name = integration.name
    integration.delete()
    messages.success(request, _("“%(name)s” was removed.") % {"name": name})
    return redirect("webhooks:integration-list")


@login_required
def delivery_detail(request: HttpRequest, pk) -> HttpResponse:
    delivery = get_object_or_404(
        Delivery.objects.select_related("event", "integration"),
        pk=pk,
        integration__organization=_organization(request),
    )
    body = delivery_body(event=delivery.event, delivery_id=delivery.id).decode("utf-8")
    attempts = list(delivery.attempt_set.all())
    for attempt in attempts:  # what was sent, as the receiver saw it: the signature, never the secret
        attempt.headers = (
            delivery_headers(
                event_type=delivery.event.event_type, delivery_id=delivery.id,
                timestamp=attempt.request_timestamp, signature=attempt.signature,
                standard_signature=attempt.standard_signature,
            )
            if attempt.request_timestamp is not None else {}
        )
    return render(request, "webhooks/delivery_detail.html", {"delivery": delivery, "attempts": attempts, "body": body})


@login_required
@require_POST
def delivery_redeliver(request: HttpRequest, pk) -> HttpResponse:
    delivery = get_object_or_404(
        Delivery.objects.select_related("integration"), pk=pk, integration__organization=_organization(request)
    )
    try:
        services.delivery_redeliver(delivery=delivery)
    except services.ServiceError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Queued for redelivery, with the same delivery_id."))
    return redirect("webhooks:delivery-detail", pk=delivery.pk)


@login_required
@require_POST
def demo_simulate_call(request: HttpRequest) -> HttpResponse:
    """Demo only: a call that is booked, captured as a lead and completed, as the AI would."""
    if not setting("DEMO"):
        raise Http404(_("The demo is switched off."))
    organization = _organization(request)
    now = timezone.now()
    call = Call.objects.create(
        organization=organization,
        caller_phone="+15550100123",
        caller_name="Dave",
        caller_email="dave@example.com",
        started_at=now - dt.timedelta(seconds=55),
        summary="Called about a brake inspection for a 2019 Honda Civic.",
        transcript="AI: Thanks for calling Main Street Auto!\nCaller: I need my brakes checked.",
        intent="book appointment",
        urgency="medium",
    )
    start = (now + dt.timedelta(days=1)).replace(hour=11, minute=0, second=0, microsecond=0)
    Appointment.objects.create(
        organization=organization, call=call, appointment_date=start.date(), time_start=start,
        time_end=start + dt.timedelta(hours=1), service_type="Auto Repair Appointment",
    )
    Lead.objects.create(
        organization=organization, call=call, caller_phone=call.caller_phone, caller_name=call.caller_name,
        caller_email=call.caller_email, intent="pricing inquiry", urgency="medium", interest="brake inspection",
    )
    call.state, call.ended_at = Call.State.COMPLETED, now
    call.save()
    messages.success(request, _("A demo call was completed: its events are on their way."))
    return redirect("webhooks:integration-list")


@login_required
@require_POST
def alert_seen(request: HttpRequest, pk) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk, integration__organization=_organization(request))
    alerts.alert_mark_seen(alert=alert, user=request.user)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = "webhooks:integration-list"  # never a redirect off this site
    return redirect(back)


# --- Settings → API keys --------------------------------------------------------------------

NEW_KEY_SESSION = "api_key_just_made"


@login_required
def api_key_list(request: HttpRequest) -> HttpResponse:
    """The organization's keys. A new one is shown once: kept in the session only until the
    page the creation redirects to has shown it (so a reload neither repeats the creation nor
    shows the key again)."""
    organization = _organization(request)
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _api_key, key = api_keys.api_key_create(organization_id=organization.pk, name=form.cleaned_data["name"])
        request.session[NEW_KEY_SESSION] = key
        return redirect("api-keys")
    return render(
        request,
        "webhooks/api_keys.html",
        {
            "form": form, "new_key": request.session.pop(NEW_KEY_SESSION, None),
            "keys": ApiKey.objects.filter(organization=organization).order_by("revoked", "-created"),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    api_key = get_object_or_404(ApiKey, organization=_organization(request), prefix=prefix)
    api_keys.api_key_revoke(api_key=api_key)
    messages.success(request, _("The key “%(name)s” is revoked: it no longer opens the API.") % {"name": api_key.name})
    return redirect("api-keys")
