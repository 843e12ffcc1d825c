"""An InboundFlow webhook receiver as a Django view.

    # settings.py
    INBOUNDFLOW_WEBHOOK_SECRETS = ["<secret>"]          # ["<new>", "<previous>"] during a rotation
    # urls.py
    path("webhooks/inboundflow/", django_view.inboundflow_webhook)

Verifies the raw body (request.body) and both header sets, refuses replays (5 minutes), handles
each delivery_id once, and answers 200 before the work: `handle_event` runs on a thread pool
(with Celery, call your task's .delay() there instead).
"""
import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .inboundflow_webhooks import InvalidWebhook, verify

logger = logging.getLogger(__name__)
_work = ThreadPoolExecutor(max_workers=4, thread_name_prefix="inboundflow-webhooks")


def handle_event(payload: dict) -> None:
    """Your work: update the CRM, post to Slack… Runs after the answer has been sent."""
    logger.info("InboundFlow %s %s", payload["event"], payload["delivery_id"])


@csrf_exempt  # the signature authenticates the request, not a cookie
@require_POST
def inboundflow_webhook(request: HttpRequest) -> JsonResponse:
    try:
        payload = verify(body=request.body, headers=request.headers, secrets=settings.INBOUNDFLOW_WEBHOOK_SECRETS)
    except InvalidWebhook as error:
        return JsonResponse({"error": str(error)}, status=401)
    # cache.add is atomic in a shared cache (Redis, Memcached): one process wins per delivery_id
    if not cache.add(f"inboundflow:delivery:{payload['delivery_id']}", True, timeout=24 * 3600):
        return JsonResponse({"ok": True, "duplicate": True})
    _work.submit(handle_event, payload)
    return JsonResponse({"ok": True})
