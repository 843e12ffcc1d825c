"""Run inside a private mount namespace whose /etc/hosts is a file the test controls.

Argument: the port of a plain-HTTP receiver on 127.0.0.1. The name `rebind.test` first resolves
to a public address (the URL is accepted at save time), then to 127.0.0.1 (as a rebinding DNS
server would answer), and the attempt is made. Prints the save-time verdict and the result.
"""
import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inboundflow.settings_test")
django.setup()

from django.core.exceptions import ValidationError  # noqa: E402

from webhooks import transport  # noqa: E402
from webhooks.validators import validate_webhook_url  # noqa: E402

port = int(sys.argv[1])
url = f"http://rebind.test:{port}/hook"
original = open("/etc/hosts").read()


def answer(address: str) -> None:
    with open("/etc/hosts", "w") as hosts:  # written in place: the bind mount stays
        hosts.write(original + f"\n{address} rebind.test\n")


answer("93.184.216.34")
try:
    validate_webhook_url(url)
    saved = "accepted"
except ValidationError as error:
    saved = f"refused: {error.messages[0]}"
answer("127.0.0.1")
result = transport.post(url, body=b"{}", headers={"Content-Type": "application/json"})
print(json.dumps({"saved": saved, "error_class": result.error_class, "message": result.error_message}))
