"""Re-enable disabled integrations: one, one organization's, or all; optionally send what was held."""
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from inboundflow.models import Organization
from webhooks import services
from webhooks.management.arguments import integration_given
from webhooks.models import Delivery, Integration


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CommandError(_("%(value)r is not a valid %(what)s id (expected a UUID).") % {"value": value, "what": what})


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
            integrations = integrations.filter(pk=integration_given(options["integration"]).pk)
        elif options["organization"]:
            organization_id = _uuid(options["organization"], _("organization"))
            if not Organization.objects.filter(pk=organization_id).exists():
                raise CommandError(_("No organization with id %(id)s.") % {"id": options["organization"]})
            integrations = integrations.filter(organization_id=organization_id)
        disabled = list(integrations.filter(state=Integration.State.DISABLED))
        if options["integration"] and not disabled:
            self.stdout.write(_("That integration is already active; nothing to do."))
            return
        line = (
            _("[dry run] would re-enable %(name)s (%(id)s) of %(organization)s [was: %(reason)s]; %(what)s")
            if options["dry_run"]
            else _("re-enabled %(name)s (%(id)s) of %(organization)s [was: %(reason)s]; %(what)s")
        )
        released_total = 0
        for integration in disabled:
            reason = integration.disabled_reason or "disabled"  # enabling clears it
            held = integration.deliveries.filter(status=Delivery.Status.HELD).count()
            if options["dry_run"]:
                released = held if options["send_held"] else 0
            else:
                released = services.integration_enable(integration=integration, send_held=options["send_held"])
            released_total += released
            what = _("sending %(count)d held") % {"count": released} if options["send_held"] else _("%(count)d held kept") % {"count": held}
            self.stdout.write(line % {
                "name": integration.name, "id": integration.pk, "organization": integration.organization,
                "reason": reason, "what": what,
            })
        summary = (
            _("would re-enable %(count)d integration(s); %(released)d held deliveries sent.")
            if options["dry_run"]
            else _("re-enabled %(count)d integration(s); %(released)d held deliveries sent.")
        )
        self.stdout.write(self.style.SUCCESS(summary % {"count": len(disabled), "released": released_total}))
