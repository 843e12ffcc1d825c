"""InboundFlow: the Django project (settings, urls, Celery app) and the domain models."""
from .celery import app as celery_app

__all__ = ("celery_app",)
