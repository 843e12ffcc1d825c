"""Rotate an integration's signing secret, for operators (a leaked secret, a customer's request):
the new secret on the last two lines, as typed and as `whsec_…`."""
from django.core.management.base import BaseCommand, CommandError
from django.utils import formats
from django.utils.translation import gettext as _

from webhooks.management.arguments import integration_given
from webhooks.rotation import RotationError, integration_secret_rotate, secret_shown


class Command(BaseCommand):
    help = (
        "Give an integration a new random signing secret. The previous one stays valid for the overlap "
        "(webhook-signature carries both; X-InboundFlow-Signature stays on it until the customer uses the "
        "new one or the overlap ends)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--integration", required=True, metavar="UUID", help="the integration's id")
        parser.add_argument(
            "--overlap-hours", type=float, default=None, metavar="HOURS",
            help="how long the previous secret stays valid (default: WEBHOOKS_SECRET_OVERLAP, 24 h); 0 ends it now",
        )

    def handle(self, *args, **options):
        integration = integration_given(options["integration"])
        hours = options["overlap_hours"]
        if hours is not None and not 0 <= hours <= 24 * 30:
            raise CommandError(_("--overlap-hours must be between 0 and 720."))
        try:
            new = integration_secret_rotate(integration=integration, overlap_seconds=None if hours is None else hours * 3600)
        except RotationError as error:
            raise CommandError(str(error))
        if integration.previous_secret_until:
            self.stdout.write(
                _("The previous secret stays valid until %(until)s.")
                % {"until": formats.date_format(integration.previous_secret_until, "DATETIME_FORMAT")}
            )
        shown = secret_shown(new)
        self.stdout.write(_("New signing secret of “%(name)s”, shown once (as typed, then for Standard Webhooks libraries):") % {"name": integration.name})
        self.stdout.write(shown["secret"])
        self.stdout.write(shown["standard_webhooks_secret"])
