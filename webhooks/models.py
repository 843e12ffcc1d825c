"""Integrations (where to send), events (the outbox), deliveries and their attempts.

The database is the source of truth: an event and its delivery rows are written in the
transaction that saved the call; a delivery's `next_attempt_at` says when it is due and
`locked_until` is the lease that keeps two workers from attempting it at the same time.
"""
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

from inboundflow.models import Organization

from .crypto import EncryptedTextField
from .events import EventType
from .validators import validate_event_types, validate_plain_text, validate_webhook_url


DUPLICATE_SUBSCRIPTION = _("This platform already has a subscription sending these events to this URL.")


class Integration(models.Model):
    class Kind(models.TextChoices):
        ZAPIER = "zapier", "Zapier"
        MAKE = "make", "Make (Integromat)"
        N8N = "n8n", "n8n"
        CUSTOM = "custom", _("Custom webhook")

    class State(models.TextChoices):
        ACTIVE = "active", _("Active")
        DISABLED = "disabled", _("Disabled")

    class Alerted(models.TextChoices):
        """What the organization was last told, so that it is told once per change."""

        OK = "ok", _("Working")
        FAILING = "failing", _("Failing")
        DISABLED = "disabled", _("Disabled")

    class DisabledCause(models.TextChoices):
        """Why it was disabled, so that each person reads it in their language
        (`disabled_reason` keeps the English sentence for the API, logs and admin)."""

        FAILURES = "failures", _("Failed deliveries in a row")
        GONE = "gone", _("The endpoint answered 410 Gone")
        PERSON = "person", _("Disabled by a person")

    class Origin(models.TextChoices):
        """Who made it: a person on the settings page, a client of the API, or an automation
        platform subscribing a REST Hook (which also ends it by unsubscribing)."""

        DASHBOARD = "dashboard", _("Settings page")
        API = "api", _("API")
        REST_HOOK = "rest_hook", _("Platform subscription")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="integrations"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CUSTOM)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.DASHBOARD)
    name = models.CharField(max_length=100, validators=[validate_plain_text])
    target_url = models.URLField(max_length=2000, validators=[validate_webhook_url])
    secret = EncryptedTextField(blank=True, help_text="Stored encrypted (webhooks/crypto.py).")
    # A rotation keeps the previous secret valid until previous_secret_until: webhook-signature
    # carries both; X-InboundFlow-Signature (one value) stays on the previous one until the
    # customer says "use the new secret now" or the overlap ends (webhooks/rotation.py).
    previous_secret = EncryptedTextField(blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    documented_signs_with_previous = models.BooleanField(default=False)
    event_types = models.JSONField(default=list, validators=[validate_event_types])
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    disabled_reason = models.CharField(max_length=500, blank=True)
    disabled_cause = models.CharField(max_length=10, choices=DisabledCause.choices, blank=True)
    disabled_by = models.CharField(max_length=150, blank=True)  # the person's username, for PERSON
    disabled_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    alerted = models.CharField(max_length=10, choices=Alerted.choices, default=Alerted.OK)
    # The most requests a second the endpoint is sent, by all workers together (webhooks/pacing.py);
    # empty: the platform's default (kinds.py), none for a custom endpoint.
    max_per_second = models.FloatField(
        _("maximum rate"), null=True, blank=True, validators=[MinValueValidator(0.1), MaxValueValidator(1000)],
        help_text=_("Requests per second at most. Empty: your platform's documented limit, or none."),
    )
    # A 429 or 503 with Retry-After pauses the whole integration until then, not one delivery.
    paused_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(state="active") & Q(disabled_at__isnull=True))
                | (Q(state="disabled") & Q(disabled_at__isnull=False)),
                name="integration_disabled_has_time",
            ),
            # A platform subscribing the same URL to the same events twice gets the same hook
            # (event_types kept in the catalogue's order, so equal sets are equal lists).
            models.UniqueConstraint(
                fields=["organization", "target_url", "event_types"],
                condition=Q(origin="rest_hook"),
                name="rest_hook_once_per_target_and_events",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def in_rotation(self, at: float) -> bool:
        """Whether the previous secret still signs at this unix time."""
        return bool(self.previous_secret) and self.previous_secret_until is not None and at < self.previous_secret_until.timestamp()

    def signing_secrets(self, at: float) -> tuple[str, tuple[str, ...]]:
        """At this unix time: the secret X-InboundFlow-Signature is made with, and those
        webhook-signature is made with (the new one first). Empty when there is no secret."""
        if not self.in_rotation(at):
            return self.secret, (self.secret,) if self.secret else ()
        documented = self.previous_secret if self.documented_signs_with_previous else self.secret
        return documented, tuple(secret for secret in (self.secret, self.previous_secret) if secret)

    @property
    def is_active(self) -> bool:
        return self.state == self.State.ACTIVE

    def clean(self) -> None:
        # The constraint below, checked where a form does not hold the organization.
        if self.origin == self.Origin.REST_HOOK and self.organization_id and self.duplicate_subscription().exists():
            raise ValidationError(DUPLICATE_SUBSCRIPTION)

    def duplicate_subscription(self):
        return Integration.objects.filter(
            organization_id=self.organization_id, origin=self.Origin.REST_HOOK, target_url=self.target_url,
            event_types=self.event_types,
        ).exclude(pk=self.pk)

    def subscribes_to(self, event_type: str) -> bool:
        return event_type in self.event_types


class Event(models.Model):
    """One happening, with its `data` serialized once, in the documentation's key order."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: writes are on every save, and only deleting an organization reads it.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    event_type = models.CharField(max_length=40, choices=EventType.choices)
    occurred_at = models.DateTimeField()
    data = models.TextField(help_text="The payload's `data` object as JSON text.")
    source_id = models.UUIDField(null=True, blank=True, help_text="The call, appointment or lead.")
    is_test = models.BooleanField(default=False)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["event_type", "source_id"],
                condition=Q(source_id__isnull=False),
                name="event_once_per_source",
            ),
            models.CheckConstraint(
                condition=Q(is_test=True) | Q(source_id__isnull=False),
                name="event_has_source_unless_test",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type}{' (test)' if self.is_test else ''} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class Delivery(models.Model):
    """One event for one integration. Its id is the `delivery_id` the receiver sees."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        HELD = "held", _("Held (integration disabled)")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Both foreign keys are covered by the leading columns of the indexes below.
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts made, in all.")
    round_start = models.PositiveIntegerField(
        default=0, help_text="Attempts made before the current round (a redelivery starts one)."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "integration"], name="delivery_once_per_hook"),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(next_attempt_at__isnull=False),
                name="delivery_pending_is_due",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="delivery_due_idx",
            ),
            # A drain's claim (integration, pending, due first); held counts; cascades.
            models.Index(fields=["integration", "status", "next_attempt_at"], name="delivery_hook_due_idx"),
            # /metrics counts held deliveries of all integrations at every scrape (held are few).
            models.Index(fields=["integration"], condition=Q(status="held"), name="delivery_held_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class Attempt(models.Model):
    class ErrorClass(models.TextChoices):
        NONE = "", "—"
        HTTP = "http", _("HTTP status")
        TIMEOUT = "timeout", _("Timeout")
        CONNECTION = "connection", _("Connection error")
        TLS = "tls", _("TLS error")
        DNS = "dns", _("DNS error")
        REFUSED = "refused", _("Refused destination")

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_set", db_index=False)
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    succeeded = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error_class = models.CharField(max_length=12, choices=ErrorClass.choices, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    response_excerpt = models.TextField(blank=True)
    # The request headers that change per attempt; with the delivery they give every header we
    # sent. The signatures are shown (they prove what was signed); the secret never is.
    request_timestamp = models.PositiveBigIntegerField(null=True, blank=True)
    signature = models.CharField(max_length=80, blank=True)
    standard_signature = models.CharField(max_length=200, blank=True)  # webhook-signature: one or two

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="attempt_number_unique"),
        ]

    def __str__(self) -> str:
        outcome = self.status_code or self.get_error_class_display()
        return f"attempt {self.number}: {outcome}"


class Alert(models.Model):
    """An integration started failing, was disabled, or works again: e-mailed to every user of
    the organization once, and shown as a banner until each of them has seen it."""

    class Kind(models.TextChoices):
        FAILING = "failing", _("Failing")
        DISABLED = "disabled", _("Disabled")
        RECOVERED = "recovered", _("Working again")

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    error_class = models.CharField(max_length=12, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    seen_by = models.ManyToManyField("inboundflow.User", blank=True, related_name="seen_alerts")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.integration} {self.kind} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class ApiKeyManager(BaseAPIKeyManager):
    def get_usable_keys(self):
        return super().get_usable_keys().select_related("organization")


class ApiKey(AbstractAPIKey):
    """An organization's key to the API (`Authorization: Api-Key <prefix>.<secret>`): shown once,
    stored as a SHA-512 hash by djangorestframework-api-key, revoked rather than deleted."""

    objects = ApiKeyManager()
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(
        _("name"), max_length=50, validators=[validate_plain_text],
        help_text=_("Who or what will use it, for example “Zapier” or “CRM sync”."),
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")


class MetricCount(models.Model):
    """One process group's share of a Prometheus counter (webhooks/metrics.py): written in the
    transaction that records what it counts, summed over shares by /metrics."""

    name = models.CharField(max_length=80)
    labels = models.CharField(max_length=200, blank=True)  # canonical JSON of the label values
    shard = models.PositiveSmallIntegerField()
    value = models.FloatField(default=0.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "labels", "shard"], name="metric_count_once")]

    def __str__(self) -> str:
        return f"{self.name}{self.labels} [{self.shard}] = {self.value}"


class RateBucket(models.Model):
    """The token bucket that holds an integration to its maximum rate, shared by every worker
    process and host (webhooks/pacing.py). A row per rate-limited integration."""

    integration = models.OneToOneField(Integration, on_delete=models.CASCADE, primary_key=True, related_name="+")
    tokens = models.FloatField()
    updated_at = models.DateTimeField()
