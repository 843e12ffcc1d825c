"""Re-enable disabled integrations: one, one organization's, or all; optionally send what was held."""
import uuid

from django.core.management.base import BaseCommand, CommandError

from inboundflow.models import Organization
from webhooks import services
from webhooks.models import Delivery, Integration


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a valid {what} id (expected a UUID).")


class Command(BaseCommand):
    help = "Re-enable disabled webhook integrations, optionally sending the deliveries held meanwhile."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--integration", metavar="ID", help="one integration")
        target.add_argument("--organization", metavar="ID", help="every disabled integration of one organization")
        target.add_argument("--all", action="store_true", help="every disabled integration")
        parser.add_argument("--send-held", action="store_true", help="also send the deliveries held while disabled")
        parser.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")

    def handle(self, *args, **options):
        integrations = Integration.objects.select_related("organization").order_by("organization__name", "name")
        if options["integration"]:
            integrations = integrations.filter(pk=_uuid(options["integration"], "integration"))
            if not integrations.exists():
                raise CommandError(f"No integration with id {options['integration']}.")
        elif options["organization"]:
            organization_id = _uuid(options["organization"], "organization")
            if not Organization.objects.filter(pk=organization_id).exists():
                raise CommandError(f"No organization with id {options['organization']}.")
            integrations = integrations.filter(organization_id=organization_id)
        disabled = list(integrations.filter(state=Integration.State.DISABLED))
        if options["integration"] and not disabled:
            self.stdout.write("That integration is already active; nothing to do.")
            return
        prefix = "[dry run] would re-enable" if options["dry_run"] else "re-enabled"
        released_total = 0
        for integration in disabled:
            reason = integration.disabled_reason or "disabled"  # enabling clears it
            held = integration.deliveries.filter(status=Delivery.Status.HELD).count()
            if options["dry_run"]:
                released = held if options["send_held"] else 0
            else:
                released = services.integration_enable(integration=integration, send_held=options["send_held"])
            released_total += released
            what = f"sending {released} held" if options["send_held"] else f"{held} held kept"
            self.stdout.write(
                f"{prefix} {integration.name} ({integration.pk}) of {integration.organization} "
                f"[was: {reason}]; {what}"
            )
        verb = "would re-enable" if options["dry_run"] else "re-enabled"
        self.stdout.write(self.style.SUCCESS(f"{verb} {len(disabled)} integration(s); {released_total} held deliveries sent."))
