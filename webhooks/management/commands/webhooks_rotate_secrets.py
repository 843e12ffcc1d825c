"""Re-encrypt every signing secret with the first key of WEBHOOKS_SECRET_KEYS."""
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.translation import gettext as _

from webhooks.models import Integration


class Command(BaseCommand):
    help = "Re-encrypt signing secrets with the newest key (put it first in WEBHOOKS_SECRET_KEYS)."

    def handle(self, *args, **options):
        with transaction.atomic():
            integrations = list(Integration.objects.select_for_update().exclude(secret=""))
            for integration in integrations:
                integration.save(update_fields=["secret"])  # decrypted on load, encrypted anew on save
        self.stdout.write(self.style.SUCCESS(_("Re-encrypted %(count)d signing secret(s).") % {"count": len(integrations)}))
