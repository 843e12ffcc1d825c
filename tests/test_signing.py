from webhooks.signing import signature_for_payload, signature_is_valid


def test_signature_matches_a_fixed_vector():
    # given: a vector computed independently with `openssl dgst -sha256 -hmac whsec_test`
    expected = "sha256=7502c6af3fc5ebec53f14953a39833165bbd3cdc1abd37640c36750d3ab3e16e"
    # when
    signature = signature_for_payload(secret="whsec_test", timestamp=1709064000, body=b'{"a":1}')
    # then
    assert signature == expected


def test_secret_and_body_are_utf8():
    body = '{"event":"call.completed","data":{"caller_name":"Zoë 🚗"}}'.encode()
    expected = "sha256=15eba831f8e80085c032d79e4705bef372034324759c7b0f9ff26078434f2e26"
    assert signature_for_payload(secret="sécret", timestamp=1709064000, body=body) == expected


def test_validation_rejects_a_changed_body_timestamp_or_secret():
    signature = signature_for_payload(secret="k", timestamp=10, body=b"{}")
    assert signature_is_valid(secret="k", timestamp="10", body=b"{}", signature=signature)
    assert not signature_is_valid(secret="k", timestamp="11", body=b"{}", signature=signature)
    assert not signature_is_valid(secret="k", timestamp=10, body=b"{ }", signature=signature)
    assert not signature_is_valid(secret="K", timestamp=10, body=b"{}", signature=signature)
