"""What the management commands share: reading an id given on the command line, with one wording."""
import uuid

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from webhooks.models import Integration


def integration_given(value: str) -> Integration:
    """The integration `--integration` names, or a CommandError saying what is wrong."""
    try:
        integration_id = uuid.UUID(value.strip())
    except ValueError:
        raise CommandError(_("“%(value)s” is not an integration id (a UUID).") % {"value": value})
    integration = Integration.objects.select_related("organization").filter(pk=integration_id).first()
    if integration is None:
        raise CommandError(_("No integration has the id %(id)s.") % {"id": integration_id})
    return integration
