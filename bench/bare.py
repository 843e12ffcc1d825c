"""The bare limit: POST the same signed body with one keep-alive requests.Session for N seconds.

Prints the number of 2xx responses. Run several at once to measure the machine's ceiling.
"""
import sys
import time

import requests

from webhooks.signing import signature_for_payload

url, seconds = sys.argv[1], float(sys.argv[2])
body = b'{"event":"call.completed","timestamp":"2026-02-24T21:00:00.000Z","organization_id":"x","delivery_id":"bare","data":{"call_id":"x","summary":"bare limit"}}'
session = requests.Session()
count = 0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-InboundFlow-Event": "call.completed",
        "X-InboundFlow-Delivery-Id": "bare",
        "X-InboundFlow-Timestamp": str(timestamp),
        "X-InboundFlow-Signature": signature_for_payload(secret="bench-secret", timestamp=timestamp, body=body),
        "User-Agent": "InboundFlow-Webhook/1.0",
    }
    if session.post(url, data=body, headers=headers, timeout=10).status_code == 200:
        count += 1
print(count)
