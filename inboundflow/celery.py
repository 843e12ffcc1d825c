"""The Celery application: configured from Django settings under the CELERY_ prefix."""
import os

from celery import Celery
from celery.app.amqp import AMQP
from kombu import Connection

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inboundflow.settings")

# How long a worker waits, at most, between two tries to reach a broker that went away.
RECONNECT_INTERVAL_MAX = 2.0


class PromptlyReconnectingConnection(Connection):
    """Kombu's connection, retrying a lost broker every RECONNECT_INTERVAL_MAX seconds at most.

    Celery's consumer asks for kombu's default back-off (2 s, 4 s, … up to 30 s), so after a long
    Redis outage a worker could idle for half a minute once Redis is back, while the sweep's
    rings wait in the queue. A try costs one refused TCP connect.
    """

    def ensure_connection(self, *args, **kwargs):
        kwargs.setdefault("interval_max", RECONNECT_INTERVAL_MAX)
        return super().ensure_connection(*args, **kwargs)


class PromptlyReconnectingAMQP(AMQP):
    Connection = PromptlyReconnectingConnection


app = Celery("inboundflow", amqp=PromptlyReconnectingAMQP)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
