"""Retry schedule and classification: a table of results and what they mean."""
import datetime as dt
import random
from email.utils import format_datetime

import pytest

from webhooks.retry import Verdict, decide, jittered, parse_retry_after
from webhooks.transport import TransportResult

NOW = dt.datetime(2026, 2, 24, 21, 0, tzinfo=dt.timezone.utc)
SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]


def result(status=None, error_class="", retry_after=None) -> TransportResult:
    return TransportResult(status, error_class if status is None else "", "", "", 10, retry_after)


def verdict(res, attempts=1, **kw):
    return decide(res, attempts_in_round=attempts, schedule=SCHEDULE, jitter=0, retry_after_max=3600, now=NOW, **kw)


@pytest.mark.parametrize(
    "res, expected",
    [
        (result(200), Verdict.SUCCEEDED),
        (result(201), Verdict.SUCCEEDED),
        (result(204), Verdict.SUCCEEDED),
        (result(299), Verdict.SUCCEEDED),
        (result(301), Verdict.RETRY),  # redirects are not followed: a failure
        (result(302), Verdict.RETRY),
        (result(400), Verdict.RETRY),
        (result(404), Verdict.RETRY),
        (result(429), Verdict.RETRY),
        (result(500), Verdict.RETRY),
        (result(503), Verdict.RETRY),
        (result(None, "timeout"), Verdict.RETRY),
        (result(None, "connection"), Verdict.RETRY),
        (result(None, "tls"), Verdict.RETRY),
        (result(None, "dns"), Verdict.RETRY),
        (result(410), Verdict.FAILED),  # Gone: permanent
        (result(None, "refused"), Verdict.FAILED),  # refused destination: permanent
    ],
)
def test_classification(res, expected):
    assert verdict(res).verdict is expected


def test_410_disables_the_integration():
    outcome = verdict(result(410))
    assert outcome.permanent and "410" in outcome.disable_reason


@pytest.mark.parametrize("attempts, delay", [(1, 5), (2, 300), (3, 1800), (4, 7200), (5, 18000), (6, 36000), (7, 36000)])
def test_schedule_without_jitter(attempts, delay):
    outcome = verdict(result(500), attempts=attempts)
    assert outcome.verdict is Verdict.RETRY and outcome.delay == delay


def test_the_schedule_used_up_is_a_failed_delivery():
    outcome = verdict(result(500), attempts=len(SCHEDULE))
    assert outcome.verdict is Verdict.FAILED and not outcome.permanent


def test_jitter_stays_within_its_fraction_and_varies():
    rng = random.Random(7)
    delays = {jittered(300, 0.1, rng) for _ in range(200)}
    assert all(270 <= d <= 330 for d in delays)
    assert len(delays) > 100
    assert jittered(0, 0.1, rng) == 0


@pytest.mark.parametrize(
    "header, seconds",
    [("120", 120), ("0", 0), (format_datetime(NOW + dt.timedelta(seconds=90), usegmt=True), 90),
     (format_datetime(NOW - dt.timedelta(days=1), usegmt=True), 0), ("soon", None), ("", None), (None, None), ("-5", None)],
)
def test_parse_retry_after(header, seconds):
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_and_bounded(status):
    assert verdict(result(status, retry_after="120")).delay == 120  # longer than the schedule's 5 s
    assert verdict(result(status, retry_after="1")).delay == 5  # never sooner than the schedule
    assert verdict(result(status, retry_after="999999999")).delay == 3600  # absurd: bounded
    http_date = format_datetime(NOW + dt.timedelta(seconds=600), usegmt=True)
    assert verdict(result(status, retry_after=http_date)).delay == 600


def test_retry_after_is_ignored_on_other_statuses():
    assert verdict(result(500, retry_after="120")).delay == 5
