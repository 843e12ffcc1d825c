"""Signal receivers: translate "(model, transition)" into an event type, and nothing more."""
from functools import partial

from django.db import transaction
from django.db.models.signals import post_init, post_save
from django.dispatch import receiver

from inboundflow.models import Appointment, Call, Lead

from .events import EventType
from .services import event_emit


def _call_events_due(call: Call) -> tuple[str, ...]:
    """The events a call in this state has earned, in the order they happen."""
    due = []
    if call.is_transferred:
        due.append(EventType.CALL_TRANSFERRED)
    if call.is_completed:
        due.append(EventType.CALL_COMPLETED)
    return tuple(due)


@receiver(post_init, sender=Call)
def call_remember_events(sender, instance: Call, **kwargs) -> None:
    """What the instance has earned so far: for a loaded row, what the database holds."""
    instance._webhook_events_due = _call_events_due(instance)


@receiver(post_save, sender=Call)
def call_saved(sender, instance: Call, created: bool, raw: bool = False, **kwargs) -> None:
    if raw:
        return
    before = () if created else instance._webhook_events_due
    now_due = _call_events_due(instance)
    for event_type in now_due:
        if event_type not in before:
            event_emit(event_type=event_type, source=instance)  # the unique index keeps it once
    # The instance learns the new state only once the database holds it: after a rollback it
    # still owes the transition, and the next committed save emits it.
    transaction.on_commit(partial(setattr, instance, "_webhook_events_due", now_due))


@receiver(post_save, sender=Appointment)
def appointment_saved(sender, instance: Appointment, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        event_emit(event_type=EventType.APPOINTMENT_BOOKED, source=instance)


@receiver(post_save, sender=Lead)
def lead_saved(sender, instance: Lead, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        event_emit(event_type=EventType.LEAD_CREATED, source=instance)
