"""What an attempt's result means: done, try again later (and when), or give up.

Pure functions of the transport result and the schedule; the services apply the verdict.
"""
import datetime as dt
import enum
import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Sequence

from .transport import TransportResult


class Verdict(enum.Enum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    delay: float | None = None  # seconds until the next attempt, for RETRY
    disable_reason: str = ""  # set when the integration must be disabled at once
    permanent: bool = False  # FAILED before the schedule was used up


GONE = Outcome(
    Verdict.FAILED, disable_reason="The endpoint answered 410 Gone (the hook was removed).", permanent=True
)


def parse_retry_after(value: str | None, *, now: dt.datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def jittered(delay: float, jitter: float, rng: random.Random | None = None) -> float:
    if delay <= 0 or jitter <= 0:
        return max(0.0, delay)
    return delay * (1 + (rng or random).uniform(-jitter, jitter))


def decide(
    result: TransportResult,
    *,
    attempts_in_round: int,
    schedule: Sequence[float],
    jitter: float,
    retry_after_max: float,
    now: dt.datetime,
    rng: random.Random | None = None,
) -> Outcome:
    """`attempts_in_round` counts the attempt just made; `schedule[i]` is the delay before attempt i+1."""
    if result.ok:
        return Outcome(Verdict.SUCCEEDED)
    if result.status_code == 410:
        return GONE
    if result.error_class == "refused":
        return Outcome(Verdict.FAILED, permanent=True)
    if attempts_in_round >= len(schedule):
        return Outcome(Verdict.FAILED)
    delay = jittered(schedule[attempts_in_round], jitter, rng)
    if result.status_code in (429, 503):
        asked = parse_retry_after(result.retry_after, now=now)
        if asked is not None:
            delay = max(delay, min(asked, retry_after_max))
    return Outcome(Verdict.RETRY, delay=delay)
