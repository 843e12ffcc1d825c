"""Send again what failed or was held since a time, for one integration: for a customer whose
own system was down. Counts first with --dry-run."""
import datetime as dt
import re

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from webhooks import services
from webhooks.management.arguments import integration_given

_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhd])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def since_given(value: str, *, now: dt.datetime) -> dt.datetime:
    """An ISO 8601 time (UTC unless it says otherwise), or a duration ago: 90m, 6h, 2d."""
    text = value.strip()
    if ago := _AGO.match(text):
        return now - dt.timedelta(seconds=float(ago[1]) * _UNIT_SECONDS[ago[2]])
    try:
        since = parse_datetime(text)
    except ValueError:
        since = None
    if since is None:
        raise CommandError(
            _("--since “%(value)s” is neither a time (2026-11-27T14:00:00+01:00) nor a duration ago (90m, 6h, 2d).")
            % {"value": value}
        )
    return since if timezone.is_aware(since) else since.replace(tzinfo=dt.timezone.utc)


class Command(BaseCommand):
    help = (
        "Send again an integration's deliveries that failed or were held since a time: same delivery ids "
        "(receivers de-duplicate), each a new round of attempts, paced by the endpoint's concurrency."
    )

    def add_arguments(self, parser):
        parser.add_argument("--integration", required=True, metavar="UUID", help="the integration's id")
        parser.add_argument(
            "--since", required=True, metavar="TIME",
            help="ISO 8601 time (UTC unless given), or a duration ago: 90m, 6h, 2d",
        )
        parser.add_argument("--dry-run", action="store_true", help="count what would be sent, send nothing")

    def handle(self, *args, **options):
        integration = integration_given(options["integration"])
        since = since_given(options["since"], now=timezone.now())
        try:
            counts = services.integration_replay(integration=integration, since=since, dry_run=options["dry_run"])
        except services.ServiceError as error:
            raise CommandError(str(error))
        numbers = {
            "failed": counts["failed"], "held": counts["held"], "name": integration.name,
            "since": since.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        }
        if options["dry_run"]:
            self.stdout.write(_("“%(name)s” since %(since)s: %(failed)s failed and %(held)s held would be sent again (dry run, nothing sent).") % numbers)
        else:
            self.stdout.write(_("“%(name)s” since %(since)s: %(failed)s failed and %(held)s held are being sent again.") % numbers)
