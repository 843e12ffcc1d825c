"""The HTTP edge. `responses` for the mapping of outcomes; real loopback sockets for what a
mock cannot show (the total deadline, the address filter, redirects)."""
import socket
import time

import pytest
import requests
import responses
from django.test import override_settings

from webhooks import transport
from webhooks.devtools.receiver import Receiver, always

from .helpers.servers import RawServer, trickling

URL = "https://hooks.example.com/catch/123/abc"


def post(url=URL, **kwargs):
    return transport.post(url, body=b'{"a":1}', headers={"Content-Type": "application/json"}, **kwargs)


@responses.activate
def test_a_2xx_is_a_success_with_a_bounded_excerpt():
    responses.post(URL, body="x" * 100_000, status=202)
    result = post()
    assert result.ok and result.status_code == 202 and result.error_class == ""
    assert len(result.excerpt) == 1024
    sent = responses.calls[0].request
    assert sent.body == b'{"a":1}'
    assert sent.headers["User-Agent"] == "InboundFlow-Webhook/1.0"


@responses.activate
def test_a_500_is_a_failure_with_its_status_and_body():
    responses.post(URL, body="boom", status=500)
    result = post()
    assert not result.ok and result.status_code == 500
    assert result.excerpt == "boom" and result.error_message.startswith("HTTP 500")


@responses.activate
def test_a_redirect_is_not_followed():
    responses.post(URL, status=302, headers={"Location": "https://elsewhere.example.com/"})
    result = post()
    assert result.status_code == 302 and not result.ok
    assert len(responses.calls) == 1


@responses.activate
def test_retry_after_is_passed_on():
    responses.post(URL, status=429, headers={"Retry-After": "120"})
    assert post().retry_after == "120"


@pytest.mark.parametrize(
    "exception, error_class",
    [
        (requests.exceptions.ConnectTimeout(), "timeout"),
        (requests.exceptions.ReadTimeout(), "timeout"),
        (requests.exceptions.SSLError("certificate verify failed"), "tls"),
        (requests.exceptions.ConnectionError("Connection refused"), "connection"),
        (requests.exceptions.ConnectionError("Failed to resolve domain"), "dns"),
    ],
)
@responses.activate
def test_errors_are_classified_never_raised(exception, error_class):
    responses.post(URL, body=exception)
    result = post()
    assert result.status_code is None and result.error_class == error_class


@responses.activate
def test_error_messages_hide_the_hook_path():
    responses.post(URL, body=requests.exceptions.ConnectionError(
        "HTTPSConnectionPool(host='hooks.example.com', port=443): Max retries exceeded with url: /catch/123/abc"
    ))
    assert "/catch/123/abc" not in post().error_message


@override_settings(WEBHOOKS_ALLOW_HTTP=False)
def test_plain_http_is_refused_before_any_connection():
    result = post("http://hooks.example.com/x")
    assert result.error_class == "refused" and "https" in result.error_message


# --- Real sockets on 127.0.0.1 --------------------------------------------------------------


# Headers without end, a byte every 0.1 s: every read is quick, the whole is not.
trickle_headers = trickling(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nX-Pad: " + b"a" * 10_000, interval=0.1)


def test_a_trickling_server_is_cut_at_the_total_deadline():
    # given: a server that never stops sending, a byte every 0.1 s
    with RawServer(trickle_headers) as server:
        # when
        started = time.monotonic()
        result = post(server.url(), timeout=1.5)
        elapsed = time.monotonic() - started
    # then: cut at the deadline, not after the (1000 s) response
    assert result.error_class == "timeout"
    assert 1.4 <= elapsed < 4


def trickle_tls_record(conn, server):
    """Start a 16 KB TLS record and send its body a byte every 0.1 s: a handshake that crawls."""
    conn.recv(65536)  # the ClientHello
    conn.send(b"\x16\x03\x03\x40\x00")
    while not server.closed.is_set():
        conn.send(b"\x00")
        time.sleep(0.1)


def test_a_crawling_tls_handshake_is_cut_at_the_total_deadline():
    with RawServer(trickle_tls_record) as server:
        started = time.monotonic()
        result = post(server.url(scheme="https"), timeout=1.5)
        elapsed = time.monotonic() - started
    assert result.error_class in ("timeout",), result
    assert 1.4 <= elapsed < 4


def test_a_silent_server_is_cut_at_the_total_deadline():
    sock = socket.create_server(("127.0.0.1", 0))  # accepts (backlog) and never answers
    try:
        result = post(f"http://127.0.0.1:{sock.getsockname()[1]}/", timeout=1)
    finally:
        sock.close()
    assert result.error_class == "timeout" and 900 <= result.duration_ms < 3000


def test_a_closed_port_is_a_connection_error():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    assert post(f"http://127.0.0.1:{port}/").error_class == "connection"


@override_settings(WEBHOOKS_ALLOW_LOOPBACK=False)
def test_loopback_is_refused_at_send_without_the_test_setting():
    with Receiver(responder=always(200)) as receiver:
        result = post(receiver.url)
        assert result.error_class == "refused"
        assert receiver.received == []


def test_a_redirect_to_an_internal_address_is_not_followed():
    with Receiver(responder=always(200)) as internal:
        with Receiver(responder=lambda r: (302, b"", {"Location": internal.url})) as outside:
            result = post(outside.url)
        assert result.status_code == 302
        assert internal.received == []


def test_keep_alive_connection_is_reused_and_still_bounded():
    with Receiver(responder=always(200)) as receiver:
        assert post(receiver.url).ok
        assert post(receiver.url).ok
        assert len(receiver.received) == 2


def test_a_cookie_one_receiver_sets_is_never_sent_with_another_delivery():
    # Two customers' hooks on one host (hooks.zapier.com, say): what one endpoint answers must
    # not travel with the next delivery, which may be another organization's.
    with Receiver(responder=lambda r: (200, b"", {"Set-Cookie": "session=first-customer; Path=/"})) as receiver:
        assert post(receiver.url).ok
        assert post(receiver.url + "?other-hook").ok
        assert [r.headers.get("Cookie") for r in receiver.received] == [None, None]
        assert receiver.received[1].headers["User-Agent"] == "InboundFlow-Webhook/1.0"
