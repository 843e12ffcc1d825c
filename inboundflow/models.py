"""The domain: organizations and their users, and what happens on their phone lines.

Calls, appointments and leads are written by the AI receptionist. Saving them is what fires
webhook events (see webhooks/signals.py); this module knows nothing about webhooks except
that a save runs in one transaction, so that the events written by the post_save signal
commit or roll back together with the row.
"""
import uuid
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("“%(zone)s” is not a time zone (for example Europe/Paris)."), params={"zone": value})


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    # The dashboard shows every time in the organization's zone, with the zone named.
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Europe/Paris", validators=[validate_time_zone]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person who logs in. Belongs to one organization (staff may belong to none)."""

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, blank=True,
        help_text=_("The language of this person's pages and e-mails; their browser's on their first visit."),
    )


class Urgency(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


# What the AI pipeline writes for urgency, beyond the vocabulary itself: the documented rule
# (README, "AI output") is "letters only, lower-cased, then this table; anything else is null".
URGENCY_SYNONYMS = {
    "low": Urgency.LOW, "minor": Urgency.LOW, "routine": Urgency.LOW, "nonurgent": Urgency.LOW,
    "medium": Urgency.MEDIUM, "med": Urgency.MEDIUM, "normal": Urgency.MEDIUM, "moderate": Urgency.MEDIUM,
    "high": Urgency.HIGH, "urgent": Urgency.HIGH, "emergency": Urgency.HIGH, "critical": Urgency.HIGH,
    "asap": Urgency.HIGH,
}


def normalize_urgency(value) -> str:
    """`low`, `medium`, `high`, or "" (delivered as null) for anything else."""
    if not isinstance(value, str):
        return ""
    return URGENCY_SYNONYMS.get("".join(char for char in value.lower() if char.isalpha()), "")


def storable_text(value: str) -> str:
    """Text PostgreSQL can store and JSON can carry: no NUL, no lone surrogate (U+FFFD instead)."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace") if _has_surrogate(value) else value


def _has_surrogate(value: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in value)


def storable_field_value(field: models.Field, value):
    """What a text field of an AI-written row stores: never a reason to lose the row.

    None becomes "" (delivered as null), text is repaired, text longer than the column is cut
    to fit, and a URL too long to store is dropped rather than cut into a different URL.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    value = storable_text(value)
    if field.max_length is not None and len(value) > field.max_length:
        value = "" if isinstance(field, models.URLField) else value[: field.max_length]
    return value


class AtomicSaveModel(models.Model):
    """A model written by the AI pipeline: its save, post_save receivers included, is one
    transaction, and untidy AI output (missing values, NUL bytes, broken characters, text too
    long, an urgency outside the vocabulary) never loses the row."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        for field in self._meta.concrete_fields:
            if isinstance(field, (models.CharField, models.TextField)) and not field.null and not field.choices:
                setattr(self, field.attname, storable_field_value(field, getattr(self, field.attname)))
        if hasattr(self, "urgency"):
            self.urgency = normalize_urgency(self.urgency)
        with transaction.atomic(using=kwargs.get("using")):
            super().save(*args, **kwargs)


class Call(AtomicSaveModel):
    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", _("In progress")
        TRANSFERRED = "transferred", _("Transferred to a human")
        COMPLETED = "completed", _("Completed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="calls")
    state = models.CharField(max_length=20, choices=State.choices, default=State.IN_PROGRESS)
    caller_phone = models.CharField(max_length=32, blank=True)
    caller_name = models.CharField(max_length=200, blank=True)
    caller_email = models.EmailField(blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    summary = models.TextField(blank=True)
    transcript = models.TextField(blank=True)
    intent = models.CharField(max_length=200, blank=True)
    urgency = models.CharField(max_length=10, choices=Urgency.choices, blank=True)
    recording_url = models.URLField(max_length=2000, blank=True)
    transferred_at = models.DateTimeField(null=True, blank=True)
    transferred_to_label = models.CharField(max_length=200, blank=True)
    transferred_to_number = models.CharField(max_length=32, blank=True)
    transfer_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(state="completed") | models.Q(ended_at__isnull=False),
                name="call_completed_has_end_time",
            ),
        ]

    def __str__(self) -> str:
        return f"Call from {self.caller_name or self.caller_phone or 'unknown'} ({self.state})"

    @property
    def is_transferred(self) -> bool:
        return self.state == self.State.TRANSFERRED or self.transferred_at is not None

    @property
    def is_completed(self) -> bool:
        return self.state == self.State.COMPLETED

    def elapsed_seconds(self) -> int | None:
        """The stored duration, else the time from start to end (or to the transfer)."""
        if self.duration_seconds is not None:
            return self.duration_seconds
        end = self.ended_at or self.transferred_at
        if end is None or self.started_at is None:
            return None
        return max(0, int((end - self.started_at).total_seconds()))


class Appointment(AtomicSaveModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="appointments"
    )
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="appointments")
    appointment_date = models.DateField()
    time_start = models.DateTimeField()
    time_end = models.DateTimeField(null=True, blank=True)
    service_type = models.CharField(max_length=200, blank=True)
    calendar_event_id = models.CharField(max_length=500, blank=True)
    calendar_event_link = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-time_start"]

    def __str__(self) -> str:
        return f"{self.service_type or 'Appointment'} on {self.appointment_date}"


class Lead(AtomicSaveModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="leads")
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="leads")
    caller_phone = models.CharField(max_length=32, blank=True)
    caller_name = models.CharField(max_length=200, blank=True)
    caller_email = models.EmailField(blank=True)
    intent = models.CharField(max_length=200, blank=True)
    urgency = models.CharField(max_length=10, choices=Urgency.choices, blank=True)
    interest = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Lead {self.caller_name or self.caller_phone or self.id}"
