"""The Python receiver kit's Django view, mounted for tests/test_receiver_kits.py."""
from django.urls import path

from examples.receivers.python import django_view

urlpatterns = [path("webhooks/inboundflow/", django_view.inboundflow_webhook)]
