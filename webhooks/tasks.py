"""Celery tasks: thin wrappers that take ids and call one service each."""
import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def deliver(delivery_id: str) -> None:
    # Idempotent: the service claims a lease, so a duplicate or late message does nothing.
    services.delivery_attempt(delivery_id=delivery_id)


@shared_task(ignore_result=True)
def sweep() -> None:
    services.deliveries_sweep()


@shared_task(ignore_result=True)
def prune() -> None:
    services.records_prune()


def enqueue_deliveries(delivery_ids, *, countdown: float | None = None) -> None:
    """Publish one task per delivery. If the broker is down, the sweep sends them later."""
    for delivery_id in delivery_ids:
        try:
            deliver.apply_async(args=[str(delivery_id)], countdown=countdown)
        except Exception as exc:  # noqa: BLE001 - the rows are committed; the sweep recovers
            logger.warning(
                "could not enqueue %s deliveries (%s); the sweep will send them",
                len(delivery_ids), type(exc).__name__,
            )
            return
