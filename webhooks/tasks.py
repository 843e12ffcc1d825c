"""Celery tasks: thin wrappers that take ids and call one service each."""
from celery import shared_task

from . import alerts, engine, services


@shared_task(acks_late=True, ignore_result=True)
def drain(integration_id: str, hops: int = 0) -> None:
    # Idempotent: deliveries are leased before they are sent, so a duplicate or late message
    # finds nothing to do. `hops`: how many processes already passed this drain on (engine.drain).
    engine.drain(integration_id=integration_id, hops=hops)


@shared_task(ignore_result=True)
def sweep() -> None:
    engine.sweep()


@shared_task(ignore_result=True)
def prune() -> None:
    services.records_prune()


@shared_task(ignore_result=True)
def alert_send(alert_id: str) -> None:
    alerts.alert_send(alert_id=alert_id)
