"""Save N completed calls for one organization, in this process, and print how long each took.

Run with the environment of the broker under test (CELERY_BROKER_URL); used to show that saves
succeed while the broker is down. An optional fourth argument spaces the saves (seconds), as calls
ending one after another do, so that a fault can land while saving is still going on.
"""
import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inboundflow.settings_test")
django.setup()

from inboundflow.models import Organization  # noqa: E402
from tests.conftest import completed_call  # noqa: E402

organization = Organization.objects.get(pk=sys.argv[1])
pause = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
durations = []
for index in range(int(sys.argv[2])):
    started = time.monotonic()
    completed_call(organization, caller_name=f"{sys.argv[3]} {index}")
    durations.append(time.monotonic() - started)
    time.sleep(pause)
print(json.dumps({"durations": durations}))
