"""Per-endpoint rate limits (issue 12): an integration is sent at most its rate, by one drain
and by two real worker processes sharing the bucket; waiting is not failing; a 429 with
Retry-After pauses the whole integration. Against real PostgreSQL and real receivers."""
import time

import pytest
from django.utils import timezone

from webhooks import engine, pacing
from webhooks.models import Attempt, Delivery, Integration

from .conftest import completed_call, delivered_by_two_workers, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def most_in_one_second(times: list[float]) -> int:
    """The most requests that arrived within any one-second window."""
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_one_drain_holds_the_integration_to_its_rate(settings, organization, make_integration, receiver, no_broker):
    # given: 25 due deliveries for a hook limited to 10 per second
    hook = make_integration(receiver.url, events=["call.completed"], max_per_second=10)
    for _ in range(25):
        completed_call(organization)
    # when
    started = time.monotonic()
    assert engine.drain(integration_id=hook.id) == 25
    took = time.monotonic() - started
    # then: never more than the rate and its small burst (2) within a second, about 2.3 s in all
    times = [item.at for item in receiver.received]
    assert len(times) == 25
    assert most_in_one_second(times) <= 10 + 2 + 1  # +1: arrival jitter (see below)
    assert took >= (25 - 2) / 10 * 0.95
    # and waiting was not failing: one attempt each, all succeeded, nothing counted against it
    assert Attempt.objects.filter(number=1, succeeded=True).count() == 25 == Attempt.objects.count()
    assert Integration.objects.get(pk=hook.pk).consecutive_failures == 0


def test_the_platform_default_applies_when_the_integration_sets_none(make_integration, receiver):
    zapier = make_integration(receiver.url, kind=Integration.Kind.ZAPIER)
    custom = make_integration(receiver.url, name="custom")
    assert pacing.rate_of(zapier) == 25.0 and pacing.rate_of(custom) is None
    zapier.max_per_second = 5
    assert pacing.rate_of(zapier) == 5


def test_tokens_refill_with_time_and_never_beyond_the_burst(make_integration, receiver):
    hook = make_integration(receiver.url, max_per_second=20)
    assert pacing.take(hook.id, rate=20, want=16) == (4, 0.0)  # the burst: 0.2 s of the rate
    granted, wait = pacing.take(hook.id, rate=20, want=16)
    assert granted == 4 and 0.15 < wait <= 0.2  # the next batch, reserved: spent once refilled
    time.sleep(0.1)
    granted, wait = pacing.take(hook.id, rate=20, want=16)
    assert granted == 0 and 0.05 < wait <= 0.1  # one batch at most reserved ahead: ask again then
    time.sleep(0.45)
    assert pacing.take(hook.id, rate=20, want=16) == (4, 0.0)  # refilled, capped at the burst
    pacing.give_back(hook.id, rate=20, tokens=10)
    assert pacing.take(hook.id, rate=20, want=16) == (4, 0.0)  # given back, still capped
    granted, wait = pacing.take(hook.id, rate=20, want=2)
    assert granted == 2 and 0.05 < wait <= 0.1  # a smaller batch is reserved for sooner


def test_drains_sharing_a_bucket_are_served_in_the_order_they_asked(make_integration, receiver):
    # two drains of one hook: each sends what it was granted (30 ms), then asks again; b, in a
    # busier process, always wakes 5 ms late. Neither may take every batch (CI once saw b's
    # drain wait 6 s for tokens a always took first)
    hook = make_integration(receiver.url, max_per_second=20)
    served, late = {"a": 0, "b": 0}, {"a": 0.0, "b": 0.005}
    ready = {"a": time.monotonic(), "b": time.monotonic() + 0.01}
    stop = time.monotonic() + 2.0
    while time.monotonic() < stop:
        name = min(ready, key=ready.get)
        time.sleep(max(0.0, ready[name] - time.monotonic()))
        granted, wait = pacing.take(hook.id, rate=20, want=16)
        served[name] += granted
        ready[name] = time.monotonic() + wait + (0.03 if granted else 0.0) + late[name]
    assert served["a"] >= 12 and served["b"] >= 12, served  # ~ 44 in 2 s, about half each
    assert served["a"] + served["b"] <= 4 + 2 * 20 + 4  # the burst, the rate, one reservation


def test_a_429_with_retry_after_pauses_the_whole_integration(settings, organization, make_integration, receiver, no_broker):
    # given: one request at a time, and an endpoint that asks to wait 2 s on its first request
    settings.WEBHOOKS_ENDPOINT_CONCURRENCY = 1
    answers = iter([(429, b"slow down", {"Retry-After": "2"})])
    receiver.responder = lambda received: next(answers, (200, b"", {}))
    hook = make_integration(receiver.url, events=["call.completed"])
    for _ in range(5):
        completed_call(organization)
    # when: a drain runs
    engine.drain(integration_id=hook.id)
    # then: after the 429 nothing more was sent, the integration is paused ~2 s, and the drain
    # asked to be woken then
    assert len(receiver.received) == 1
    paused = Integration.objects.get(pk=hook.pk).paused_until
    assert 1.5 <= (paused - timezone.now()).total_seconds() <= 2.1
    countdowns = [call.kwargs.get("countdown") for call in no_broker.call_args_list]
    assert any(c is not None and 1.0 <= c <= 2.1 for c in countdowns), countdowns
    assert Delivery.objects.filter(status="pending", locked_until__isnull=False).count() == 0  # none left leased
    # when: a drain runs before the pause ends: it sends nothing
    engine.drain(integration_id=hook.id)
    assert len(receiver.received) == 1
    # when: after the pause: everything goes, the first one as its retry
    time.sleep(max(0.0, (paused - timezone.now()).total_seconds()) + 0.1)
    engine.drain(integration_id=hook.id)
    assert wait_until(lambda: Delivery.objects.filter(status="succeeded").count() == 5, timeout=10)
    assert min(item.at for item in receiver.received[1:]) - receiver.received[0].at >= 1.9


@pytest.mark.integration
def test_two_worker_processes_share_the_rate(tmp_path, organization, make_integration, receiver):
    # given: a hook limited to 20 per second, 120 due deliveries, and two worker processes
    # that may both drain it at once (two drain slots)
    make_integration(receiver.url, events=["call.completed"], max_per_second=20)
    # when: 120 calls are saved by another process
    delivered_by_two_workers(
        tmp_path, organization, calls=120, deliveries=120, label="paced",
        WEBHOOKS_DRAIN_SLOTS="2", WEBHOOKS_ENDPOINT_CONCURRENCY="8",
    )
    # then: both processes sent (checked by the helper), and together they kept to the rate
    times = sorted(item.at for item in receiver.received)
    assert len(times) == 120
    # the rate and its burst (0.2 s of it); +1: arrival times carry the network's jitter, so one
    # request granted just before a window may arrive just inside it
    assert most_in_one_second(times) <= 20 + 4 + 1
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 20 * 0.9 <= rate <= 20 * 1.05, rate
    assert Attempt.objects.count() == 120  # waiting never made an attempt fail


# --- Where a person sets it -----------------------------------------------------------------


def test_api_sets_and_checks_the_rate(api, make_integration, receiver):
    hook = make_integration(receiver.url, kind=Integration.Kind.MAKE)
    url = f"/api/integrations/{hook.pk}/"
    shown = api.get(url).json()
    assert shown["max_per_second"] is None and shown["effective_max_per_second"] == 25.0
    assert shown["paused_until"] is None
    for wrong in (0, 0.05, 5000, "fast"):
        refused = api.patch(url, {"max_per_second": wrong}, format="json")
        assert refused.status_code == 400 and "max_per_second" in refused.json(), wrong
    changed = api.patch(url, {"max_per_second": 2.5}, format="json")
    assert changed.status_code == 200 and changed.json()["effective_max_per_second"] == 2.5
    assert Integration.objects.get(pk=hook.pk).max_per_second == 2.5
    assert api.patch(url, {"max_per_second": None}, format="json").json()["effective_max_per_second"] == 25.0


def test_settings_page_sets_the_rate_and_says_the_default(client, user, make_integration, receiver):
    client.force_login(user)
    hook = make_integration(receiver.url, kind=Integration.Kind.ZAPIER, events=["call.completed"])
    page = client.get(f"/settings/integrations/{hook.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    assert "Empty: 25 per second" in page.content.decode()
    form = {"kind": "zapier", "name": hook.name, "target_url": hook.target_url, "event_types": ["call.completed"]}
    refused = client.post(f"/settings/integrations/{hook.pk}/", {**form, "max_per_second": "0"})
    assert refused.status_code == 200 and "greater than or equal to 0.1" in refused.content.decode()
    assert Integration.objects.get(pk=hook.pk).max_per_second is None  # nothing half-written
    saved = client.post(f"/settings/integrations/{hook.pk}/", {**form, "max_per_second": "7.5"})
    assert saved.status_code == 302 and Integration.objects.get(pk=hook.pk).max_per_second == 7.5


@pytest.mark.integration
def test_the_rate_is_set_from_the_french_settings_page(page_fr, live_server, organization, make_integration, receiver):
    from playwright.sync_api import expect

    from .test_browser import SCREENSHOTS, _log_in

    hook = make_integration(receiver.url, kind=Integration.Kind.ZAPIER, name="Zap CRM", events=["call.completed"])
    _log_in(page_fr, live_server, organization, heading="Se connecter")
    page_fr.goto(f"{live_server.url}/settings/integrations/{hook.pk}/")
    field = page_fr.get_by_label("Débit maximal (requêtes par seconde)")
    expect(page_fr.locator("text=Vide : 25 par seconde")).to_be_visible()
    field.fill("0")
    page_fr.get_by_role("button", name="Enregistrer").click()
    expect(page_fr.locator("text=supérieure ou égale à 0.1").or_(page_fr.locator("text=supérieure ou égale à 0,1"))).to_be_visible()
    assert Integration.objects.get(pk=hook.pk).max_per_second is None
    page_fr.get_by_label("Débit maximal (requêtes par seconde)").fill("7.5")
    page_fr.get_by_role("button", name="Enregistrer").click()
    expect(page_fr.locator(".messages")).to_contain_text("Enregistré")
    assert Integration.objects.get(pk=hook.pk).max_per_second == 7.5
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page_fr.screenshot(path=str(SCREENSHOTS / "fr-rate-limit.png"), full_page=True)
