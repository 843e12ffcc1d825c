"""How an integration is doing: success rates over 24 h and 7 days, response-time percentiles,
and the last error in words a customer understands, with the fix to try."""
import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from webhooks.health import error_in_words, integrations_health
from webhooks.models import Attempt, Delivery

from .conftest import completed_call

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


@pytest.mark.parametrize(
    "error_class, status, says, fix",
    [
        ("timeout", None, "longer than 10 seconds", "Answer 200 at once"),
        ("connection", None, "could not connect", "running and reachable"),
        ("tls", None, "certificate was not accepted", "full certificate chain"),
        ("dns", None, "could not be found", "DNS record"),
        ("refused", None, "not lead to a public internet address", "public HTTPS URL"),
        ("", 404, "answered 404", "deleted"),
        ("", 410, "answered 410", "back on"),
        ("", 413, "too large (413)", "100 KB"),
        ("", 302, "redirect (HTTP 302)", "final URL"),
        ("", 401, "refused the request (HTTP 401)", "authentication"),
        ("", 503, "had an error (HTTP 503)", "logs"),
    ],
)
def test_every_error_has_words_and_a_fix(error_class, status, says, fix):
    what, to_try = error_in_words(error_class, status)
    assert says in what and fix in to_try


def test_the_words_are_french_for_a_french_reader():
    with translation.override("fr"):
        what, to_try = error_in_words("", 404)
    assert what == "Votre point de terminaison a répondu 404 : rien n'écoute à cette URL."
    assert to_try.startswith("Vérifiez l'URL")


def _finished(hook, organization, status, completed_at, durations=(), error=None):
    completed_call(organization)
    delivery = Delivery.objects.filter(integration=hook).order_by("-created_at").first()
    Delivery.objects.filter(pk=delivery.pk).update(status=status, completed_at=completed_at, next_attempt_at=None)
    for number, duration in enumerate(durations, 1):
        Attempt.objects.create(
            delivery=delivery, number=number, started_at=completed_at, duration_ms=duration,
            succeeded=status == "succeeded" and number == len(durations), status_code=error or 200,
            error_class="http" if error else "", error_message=f"HTTP {error}" if error else "",
        )


def test_rates_percentiles_and_last_error_from_real_rows(organization, make_integration, receiver):
    hook = make_integration(receiver.url, events=["call.completed"])
    now = timezone.now()
    # in the last 24 h: 3 succeeded, 1 failed (a 404); 3 days ago: 4 failed
    for duration in (100, 200, 300):
        _finished(hook, organization, "succeeded", now - dt.timedelta(hours=2), durations=[duration])
    _finished(hook, organization, "failed", now - dt.timedelta(hours=1), durations=[1000], error=404)
    for _ in range(4):
        _finished(hook, organization, "failed", now - dt.timedelta(days=3), durations=[50], error=500)
    # a week ago and more: not counted
    _finished(hook, organization, "failed", now - dt.timedelta(days=8), durations=[9000], error=500)

    health = integrations_health([hook.pk], now=now)[hook.pk]

    assert health.success_rate_24h == 3 / 4
    assert health.success_rate_7d == 3 / 8
    assert health.p50_ms == 75 and health.p95_ms == 755  # of 50,50,50,50,100,200,300,1000, interpolated
    assert health.last_error.what.startswith("Your endpoint answered 404") and health.last_error.detail == "HTTP 404"


def test_nothing_finished_is_no_rate_not_zero(organization, make_integration, receiver):
    hook = make_integration(receiver.url)
    health = integrations_health([hook.pk])[hook.pk]
    assert (health.success_rate_24h, health.p50_ms, health.last_error) == (None, None, None)


def test_the_pages_show_health_in_the_reader_s_language(client, user, organization, make_integration, receiver):
    hook = make_integration(receiver.url, events=["call.completed"])
    now = timezone.now()
    _finished(hook, organization, "succeeded", now - dt.timedelta(hours=2), durations=[120])
    _finished(hook, organization, "failed", now - dt.timedelta(hours=1), durations=[80], error=404)
    client.force_login(user)
    listing = client.get(reverse("webhooks:integration-list"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "50\u00a0% · 50\u00a0%" in listing and "rien n&#x27;écoute à cette URL" in listing
    detail = client.get(reverse("webhooks:integration-detail", args=[hook.pk]), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert 'id="rate-24h">50\u00a0%' in detail and "À essayer :" in detail and "rien n&#x27;écoute" in detail


def test_hourly_chart_counts_each_outcome_in_its_local_hour(organization, make_integration, receiver):
    import zoneinfo

    hook = make_integration(receiver.url, events=["call.completed"])
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    now = dt.datetime(2026, 11, 28, 12, 30, tzinfo=paris)
    for status, at in [
        ("succeeded", dt.datetime(2026, 11, 28, 9, 5, tzinfo=paris)),
        ("succeeded", dt.datetime(2026, 11, 28, 9, 55, tzinfo=paris)),
        ("failed", dt.datetime(2026, 11, 28, 9, 20, tzinfo=paris)),
        ("succeeded", dt.datetime(2026, 11, 20, 9, 0, tzinfo=paris)),  # over a week ago: out
    ]:
        call = completed_call(organization)
        Delivery.objects.filter(event__source_id=call.pk).update(status=status, created_at=at)
    from webhooks.health import integration_hourly

    with timezone.override(paris):
        chart = integration_hourly(hook.pk, now=now)
    assert chart.total == 3 and chart.peak == 3 and len(chart.columns) == 168
    x, stack, hour = next(column for column in chart.columns if column[1])
    assert hour == dt.datetime(2026, 11, 28, 9, tzinfo=paris)
    assert [(outcome, count) for outcome, _, _, count in stack] == [("succeeded", 2), ("failed", 1)]
    assert sum(size for _, _, size, _ in stack) == chart.height - 4  # the peak fills the height
    assert [day.day for _, day in chart.days] == [22, 23, 24, 25, 26, 27, 28]  # local midnights


def test_the_chart_is_drawn_on_the_page_in_both_languages(client, user, organization, make_integration, receiver):
    hook = make_integration(receiver.url)
    completed_call(organization)
    client.force_login(user)
    url = reverse("webhooks:integration-detail", args=[hook.pk])
    french = client.get(url, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "<svg" in french and "Livraisons par heure, 7 derniers jours" in french and "En attente" in french
    from inboundflow.models import User

    client.force_login(User.objects.create_user("sam", password="x", organization=organization))  # reads English
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Deliveries per hour, last 7 days (1 delivery)" in english and 'class="pending"' in english
