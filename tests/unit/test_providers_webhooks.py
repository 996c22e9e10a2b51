"""Webhook verification (known vectors) and parsing of every shape the providers send."""

import hashlib
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.providers import (
    CustomHttpProvider,
    IgnoredEvent,
    InboundMessage,
    InfobipProvider,
    MetaCloudProvider,
    Reaction,
    StatusUpdate,
    TemplateStatusUpdate,
    TwilioProvider,
    WebhookAuthError,
    WebhookParseError,
    WebhookRequest,
    event_from_json,
    event_to_json,
)
from tools.providers.meta import phone_number_ids, verify_challenge, waba_ids
from tools.providers.twilio import public_url

META = MetaCloudProvider("100000000000001", "token", app_secret="app-secret")
TWILIO = TwilioProvider(account_sid="ACxxx", auth_token="12345")
INFOBIP = InfobipProvider(base_url="http://127.0.0.1:9", api_key="k", webhook_token="s3cret")
CUSTOM = CustomHttpProvider(url="http://127.0.0.1:9/send", body_template="{}", webhook_token="s3cret")


def meta_request(payload, secret="app-secret"):
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return WebhookRequest.build(
        "POST",
        "https://odoo.example/contact_centre/webhook/whatsapp",
        {"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
        body,
    )


def meta_change(value, field="messages", waba="WABA1"):
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba, "changes": [{"field": field, "value": value}]}],
    }


def meta_value(messages=(), statuses=(), number_id="100000000000001"):
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100001", "phone_number_id": number_id},
        "contacts": [{"profile": {"name": "Emma"}, "wa_id": "32470123456"}],
        "messages": list(messages),
        "statuses": list(statuses),
    }


def meta_message(kind, body, **extra):
    return {"from": "32470123456", "id": f"wamid.{kind}", "timestamp": "1700000000", "type": kind, kind: body, **extra}


# Meta: signatures
def test_meta_signature_is_checked_over_the_raw_body():
    request = meta_request(meta_change(meta_value()))
    META.verify_webhook(request)
    with pytest.raises(WebhookAuthError):
        META.verify_webhook(meta_request(meta_change(meta_value()), secret="other"))
    tampered = WebhookRequest.build("POST", request.url, request.headers, request.body + b" ")
    with pytest.raises(WebhookAuthError):
        META.verify_webhook(tampered)
    unsigned = WebhookRequest.build("POST", request.url, {}, request.body)
    with pytest.raises(WebhookAuthError):
        META.verify_webhook(unsigned)


def test_meta_known_hmac_vector():
    # HMAC-SHA256 of b'{"a":1}' with key "secret", computed independently.
    body = b'{"a":1}'
    expected = "sha256=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    provider = MetaCloudProvider("1", "t", app_secret="secret")
    provider.verify_webhook(WebhookRequest.build("POST", "u", {"x-hub-signature-256": expected}, body))


def test_meta_verification_handshake():
    query = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "1158201444"}
    assert verify_challenge(query, ["other", "tok"]) == "1158201444"
    assert verify_challenge(query, ["other"]) is None
    assert verify_challenge({**query, "hub.mode": "unsubscribe"}, ["tok"]) is None
    assert verify_challenge(query, [""]) is None


def test_meta_routing_helpers():
    payload = meta_change(meta_value(number_id="555"))
    assert phone_number_ids(payload) == {"555"}
    assert waba_ids(payload) == {"WABA1"}
    assert phone_number_ids("not an envelope") == set()
    assert phone_number_ids({"entry": 3}) == set()


def test_json_too_deep_or_not_json_is_a_parse_error():
    for body in (b"[" * 100_000 + b"]" * 100_000, b"not json", b"\xff\xfe"):
        with pytest.raises(WebhookParseError):
            WebhookRequest.build("POST", "u", {}, body).json()


def test_meta_events_belong_to_the_number_that_verified_them():
    mine = MetaCloudProvider("555", "token", app_secret="s", waba_id="WABA1")
    other = meta_change(meta_value(number_id="666", messages=[{**meta_message("text", {"body": "x"}), "id": "X"}]))
    own = meta_change(meta_value(number_id="555", messages=[{**meta_message("text", {"body": "y"}), "id": "Y"}]))
    template = meta_change({"event": "APPROVED", "message_template_name": "t"}, "message_template_status_update")
    events = mine.parse_webhook(WebhookRequest.build("POST", "u", {}, json.dumps(own).encode()))
    events += mine.parse_webhook(WebhookRequest.build("POST", "u", {}, json.dumps(other).encode()))
    assert [event.provider_message_id for event in events if mine.owns_event(event)] == ["Y"]
    [update] = mine.parse_webhook(WebhookRequest.build("POST", "u", {}, json.dumps(template).encode()))
    assert mine.owns_event(update)
    assert not MetaCloudProvider("555", "token", app_secret="s", waba_id="WABA2").owns_event(update)


# Meta: parsing
@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (meta_message("text", {"body": "Hello"}), {"message_type": "text", "text": "Hello"}),
        (
            meta_message("image", {"id": "MEDIA1", "mime_type": "image/jpeg", "caption": "look"}),
            {"message_type": "image", "text": "look"},
        ),
        (
            meta_message("document", {"id": "MEDIA2", "mime_type": "application/pdf", "filename": "a.pdf"}),
            {"message_type": "document"},
        ),
        (meta_message("audio", {"id": "MEDIA3", "mime_type": "audio/ogg"}), {"message_type": "audio"}),
        (meta_message("video", {"id": "MEDIA4", "mime_type": "video/mp4"}), {"message_type": "video"}),
        (meta_message("sticker", {"id": "MEDIA5", "mime_type": "image/webp"}), {"message_type": "sticker"}),
        (
            meta_message("location", {"latitude": 50.8, "longitude": 4.3, "name": "Office"}),
            {"message_type": "location", "text": "Office"},
        ),
        (
            meta_message("interactive", {"type": "button_reply", "button_reply": {"id": "opt-1", "title": "Yes"}}),
            {"message_type": "interactive", "interactive_id": "opt-1", "interactive_title": "Yes", "text": "Yes"},
        ),
        (
            meta_message("interactive", {"type": "list_reply", "list_reply": {"id": "row-2", "title": "Blue"}}),
            {"interactive_id": "row-2", "interactive_title": "Blue"},
        ),
        (
            meta_message(
                "interactive",
                {
                    "type": "nfm_reply",
                    "nfm_reply": {
                        "name": "flow",
                        "body": "Sent",
                        "response_json": '{"flow_token": "tok-9", "email": "a@b.c"}',
                    },
                },
            ),
            {"flow_token": "tok-9", "flow_response": {"flow_token": "tok-9", "email": "a@b.c"}},
        ),
        (
            meta_message("button", {"text": "Stop promotions", "payload": "STOP_PROMO"}),
            {"message_type": "button", "interactive_id": "STOP_PROMO", "text": "Stop promotions"},
        ),
        (meta_message("poll", {"question": "?"}), {"message_type": "unknown"}),
    ],
)
def test_meta_inbound_types(item, expected):
    [event] = META.parse_webhook(meta_request(meta_change(meta_value(messages=[item]))))
    assert isinstance(event, InboundMessage)
    assert event.sender == "+32470123456" and event.profile_name == "Emma"
    assert event.recipient == "100000000000001" and event.channel == "whatsapp"
    assert event.timestamp == datetime.fromtimestamp(1700000000, tz=UTC)
    for key, value in expected.items():
        assert getattr(event, key) == value, key
    if event.message_type in ("image", "document", "audio", "video", "sticker"):
        assert event.media[0].ref.startswith("MEDIA")
    assert_survives_the_queue(event)


def test_meta_reaction_is_its_own_event():
    """Issue #15: a reaction is a ``Reaction`` (it was an "unknown" InboundMessage before)."""
    item = meta_message("reaction", {"message_id": "wamid.X", "emoji": "x"})
    [event] = META.parse_webhook(meta_request(meta_change(meta_value(messages=[item]))))
    assert isinstance(event, Reaction)
    assert (event.reaction_to, event.emoji, event.removed, event.sender) == ("wamid.X", "x", False, "+32470123456")
    assert_survives_the_queue(event)


def assert_survives_the_queue(event):
    """The webhook queue stores events as JSON: what comes back is the same event."""
    assert event_from_json(json.loads(json.dumps(event_to_json(event)))) == event


def test_meta_reply_context():
    item = meta_message("text", {"body": "yes"}, context={"from": "15550100001", "id": "wamid.OUT"})
    [event] = META.parse_webhook(meta_request(meta_change(meta_value(messages=[item]))))
    assert event.reply_to_provider_id == "wamid.OUT"


def test_meta_batches_of_entries_changes_messages_and_statuses():
    statuses = [
        {"id": "wamid.A", "status": "delivered", "timestamp": "1700000001", "recipient_id": "32470123456"},
        {
            "id": "wamid.B",
            "status": "failed",
            "timestamp": "1700000002",
            "recipient_id": "32470123456",
            "errors": [{"code": 131026, "title": "Message undeliverable"}],
        },
        {"id": "wamid.C", "status": "deleted", "timestamp": "1700000003", "recipient_id": "32470123456"},
    ]
    payload = meta_change(meta_value(messages=[meta_message("text", {"body": "1"})], statuses=statuses))
    second = meta_change(meta_value(messages=[meta_message("text", {"body": "2"}, id="wamid.two")], number_id="777"))
    payload["entry"].append(second["entry"][0])
    payload["entry"][0]["changes"].append({"field": "account_update", "value": {"event": "VERIFIED"}})
    events = META.parse_webhook(meta_request(payload))
    # Issue #15: the "deleted" status and the account_update change are events now (they were dropped).
    assert [type(e).__name__ for e in events] == [
        "InboundMessage",
        "StatusUpdate",
        "StatusUpdate",
        "MessageDeleted",
        "AccountUpdate",
        "InboundMessage",
    ]
    failed = events[2]
    assert (failed.status, failed.error_code, failed.error_title) == ("failed", "131026", "Message undeliverable")
    assert events[3].provider_message_id == "wamid.C"
    assert (events[4].kind, events[4].event) == ("account_update", "VERIFIED")
    assert events[5].account_ref == "777"
    for event in events:
        assert_survives_the_queue(event)


def test_meta_template_status_update():
    value = {
        "event": "REJECTED",
        "message_template_id": 1234,
        "message_template_name": "order_shipped",
        "message_template_language": "en_US",
        "reason": "INCORRECT_CATEGORY",
    }
    [event] = META.parse_webhook(meta_request(meta_change(value, field="message_template_status_update")))
    assert isinstance(event, TemplateStatusUpdate)
    assert (event.template_name, event.language, event.status, event.reason) == (
        "order_shipped",
        "en_US",
        "REJECTED",
        "INCORRECT_CATEGORY",
    )
    assert event.template_id == "1234" and event.account_ref == "WABA1"
    assert_survives_the_queue(event)


def test_queue_refuses_unknown_event_types():
    with pytest.raises(ValueError):
        event_from_json({"type": "Nope"})


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'{"entry": {}}',
        b"\xff\xfe",
    ],
)
def test_meta_malformed_payloads(body):
    with pytest.raises(WebhookParseError):
        META.parse_webhook(WebhookRequest.build("POST", "u", {}, body))


def test_meta_odd_message_in_an_envelope_is_ignored_not_refused():
    """Issue #15: a message without id or sender inside a valid envelope was a 400; now an IgnoredEvent."""
    body = b'{"entry": [{"changes": [{"field": "messages", "value": {"messages": [{"type": "text"}]}}]}]}'
    [event] = META.parse_webhook(WebhookRequest.build("POST", "u", {}, body))
    assert isinstance(event, IgnoredEvent) and event.kind == "meta.message.text"


# Twilio
def test_twilio_documented_signature_example():
    """The example of Twilio's security documentation."""
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    request = WebhookRequest.build("POST", url, {"X-Twilio-Signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ="}, form=params)
    TWILIO.verify_webhook(request)
    with pytest.raises(WebhookAuthError):
        TWILIO.verify_webhook(WebhookRequest.build("POST", url, {"X-Twilio-Signature": "AAAA"}, form=params))
    with pytest.raises(WebhookAuthError):
        TWILIO.verify_webhook(WebhookRequest.build("POST", url, {}, form=params))
    with pytest.raises(WebhookAuthError):
        TWILIO.verify_webhook(WebhookRequest.build("POST", url, request.headers, form={**params, "Digits": "9"}))


def test_twilio_url_never_taken_from_forwarded_headers():
    """X-Forwarded-* are a proxy's to set: Odoo's proxy mode applies them to the request's URL
    before the provider sees it; anyone could send them to a server without a proxy."""
    request = WebhookRequest.build(
        "POST",
        "http://127.0.0.1:8069/contact_centre/webhook/twilio/1?x=1",
        {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "attacker.example.com"},
    )
    assert public_url(request) == "http://127.0.0.1:8069/contact_centre/webhook/twilio/1?x=1"


def test_twilio_events_belong_to_the_account_that_verified_them():
    form = {"MessageSid": "SM1", "From": "+32470000001", "To": "+15005550006", "Body": "hi", "AccountSid": "ACother"}
    [event] = TWILIO.parse_webhook(twilio_form(**form))
    assert not TWILIO.owns_event(event)
    [event] = TWILIO.parse_webhook(twilio_form(**{**form, "AccountSid": TWILIO.account_sid}))
    assert TWILIO.owns_event(event)


def twilio_form(**values):
    return WebhookRequest.build("POST", "u", {}, urlencode(values).encode(), form=values)


def test_twilio_inbound_sms_whatsapp_and_media():
    [sms] = TWILIO.parse_webhook(
        twilio_form(
            MessageSid="SM1",
            AccountSid="ACxxx",
            From="+32470123456",
            To="+15005550006",
            Body="Hi",
            NumMedia="0",
            SmsStatus="received",
        )
    )
    assert (sms.channel, sms.sender, sms.text, sms.message_type) == ("sms", "+32470123456", "Hi", "text")
    [wa] = TWILIO.parse_webhook(
        twilio_form(
            MessageSid="SM2",
            From="whatsapp:+32470123456",
            To="whatsapp:+15005550006",
            Body="",
            NumMedia="1",
            MediaUrl0="https://api.twilio.com/m/1",
            MediaContentType0="image/jpeg",
            ProfileName="Emma",
            WaId="32470123456",
        )
    )
    assert (wa.channel, wa.sender, wa.profile_name, wa.message_type) == ("whatsapp", "+32470123456", "Emma", "image")
    assert wa.media[0].ref == "https://api.twilio.com/m/1"


@pytest.mark.parametrize(
    ("twilio_status", "status"),
    [
        ("queued", "queued"),
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("read", "read"),
        ("undelivered", "failed"),
        ("failed", "failed"),
        ("canceled", "failed"),
    ],
)
def test_twilio_status_callbacks(twilio_status, status):
    [event] = TWILIO.parse_webhook(
        twilio_form(
            MessageSid="SM9",
            MessageStatus=twilio_status,
            To="+32470123456",
            From="+15005550006",
            ErrorCode="30003" if status == "failed" else "",
        )
    )
    assert isinstance(event, StatusUpdate) and event.status == status
    assert event.error_code == ("30003" if status == "failed" else None)


def test_twilio_malformed():
    with pytest.raises(WebhookParseError):
        TWILIO.parse_webhook(WebhookRequest.build("POST", "u", {}, b"x", form={"Body": "no sid"}))
    # Issue #15: a NumMedia that is not a number no longer refuses the message: the media given are counted.
    [event] = TWILIO.parse_webhook(
        twilio_form(MessageSid="SM1", From="+32470123456", Body="x", NumMedia="many", MediaUrl0="https://m/0")
    )
    assert (event.text, [m.ref for m in event.media]) == ("x", ["https://m/0"])


# Infobip
def infobip_request(payload, token="s3cret"):
    return WebhookRequest.build("POST", "u", {}, json.dumps(payload).encode(), query={"token": token})


def test_infobip_token():
    INFOBIP.verify_webhook(infobip_request({}))
    for token in ("wrong", "", None):
        with pytest.raises(WebhookAuthError):
            INFOBIP.verify_webhook(infobip_request({}, token=token))


def test_infobip_delivery_reports_up_to_100():
    groups = ["PENDING", "DELIVERED", "UNDELIVERABLE", "EXPIRED", "REJECTED"]
    results = []
    for index in range(100):
        group = groups[index % 5]
        error = (
            {"groupName": "OK", "id": 0}
            if group in ("PENDING", "DELIVERED")
            else {"groupName": "HANDSET_ERRORS", "id": 27, "name": "EC_ABSENT_SUBSCRIBER", "permanent": False}
        )
        results.append(
            {
                "bulkId": "b",
                "messageId": f"ib-{index}",
                "to": "32470123456",
                "sentAt": "2026-11-25T10:00:00.000+0000",
                "doneAt": "2026-11-25T10:00:05.000+0000",
                "smsCount": 1,
                "status": {"groupId": 1, "groupName": group, "id": 5, "name": group, "description": group},
                "error": error,
                "callbackData": str(index),
            }
        )
    events = INFOBIP.parse_webhook(infobip_request({"results": results}))
    assert len(events) == 100
    assert [e.status for e in events[:5]] == ["sent", "delivered", "failed", "failed", "failed"]
    assert events[2].error_code == "27" and events[0].error_code is None
    assert events[1].recipient == "+32470123456"
    assert events[1].timestamp == datetime(2026, 11, 25, 10, 0, 5, tzinfo=UTC)


def test_infobip_seen_report_means_read():
    [event] = INFOBIP.parse_webhook(
        infobip_request(
            {
                "results": [
                    {
                        "messageId": "ib-1",
                        "to": "32470123456",
                        "sentAt": "2026-11-25T10:00:00.000+0000",
                        "seenAt": "2026-11-25T10:01:00.000+0000",
                    }
                ]
            }
        )
    )
    assert event.status == "read"


def test_infobip_inbound_sms_and_whatsapp():
    [sms] = INFOBIP.parse_webhook(
        infobip_request(
            {
                "results": [
                    {
                        "messageId": "in-1",
                        "from": "32470123456",
                        "to": "ACME",
                        "text": "JOIN now",
                        "cleanText": "JOIN now",
                        "keyword": "JOIN",
                        "receivedAt": "2026-11-25T10:00:00.000+0000",
                        "smsCount": 1,
                    }
                ],
                "messageCount": 1,
                "pendingMessageCount": 0,
            }
        )
    )
    assert (sms.channel, sms.sender, sms.text) == ("sms", "+32470123456", "JOIN now")
    [wa] = INFOBIP.parse_webhook(
        infobip_request(
            {
                "results": [
                    {
                        "from": "32470123456",
                        "to": "447860099299",
                        "integrationType": "WHATSAPP",
                        "messageId": "in-2",
                        "receivedAt": "2026-11-25T10:00:00.000+0000",
                        "message": {"type": "IMAGE", "url": "https://x/i.jpg", "caption": "pic"},
                        "contact": {"name": "Emma"},
                    }
                ]
            }
        )
    )
    assert (wa.channel, wa.message_type, wa.text, wa.profile_name) == ("whatsapp", "image", "pic", "Emma")


@pytest.mark.parametrize("payload", [[], {"results": {}}, {"no": "results"}])
def test_infobip_malformed(payload):
    with pytest.raises(WebhookParseError):
        INFOBIP.parse_webhook(infobip_request(payload))


@pytest.mark.parametrize("result", [{"no": "id"}, 3])
def test_infobip_odd_result_is_ignored_not_refused(result):
    """Issue #15: an odd result in a ``results`` list was a 400; now an IgnoredEvent."""
    [event] = INFOBIP.parse_webhook(infobip_request({"results": [result]}))
    assert isinstance(event, IgnoredEvent)


# Custom gateway
def test_custom_webhook_contract():
    request = WebhookRequest.build(
        "POST",
        "u",
        {},
        json.dumps(
            {
                "events": [
                    {"id": "g-1", "status": "delivered"},
                    {"id": "g-2", "status": "failed", "error_code": 7, "error": "Absent"},
                    {"id": "g-3", "from": "32470123456", "to": "ACME", "text": "hello"},
                    {"id": "g-4", "status": "weird"},
                ]
            }
        ).encode(),
        query={"token": "s3cret"},
    )
    CUSTOM.verify_webhook(request)
    events = CUSTOM.parse_webhook(request)
    assert [(type(e).__name__, e.provider_message_id) for e in events] == [
        ("StatusUpdate", "g-1"),
        ("StatusUpdate", "g-2"),
        ("InboundMessage", "g-3"),
    ]
    assert events[1].error_code == "7" and events[2].sender == "+32470123456"
    with pytest.raises(WebhookAuthError):
        CUSTOM.verify_webhook(WebhookRequest.build("POST", "u", {}, b"{}", query={"token": "nope"}))
    with pytest.raises(WebhookParseError):
        CUSTOM.parse_webhook(WebhookRequest.build("POST", "u", {}, b'[{"status": "sent"}]'))


# Garbage in: only WebhookParseError may come out
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)
shaped = st.fixed_dictionaries(
    {
        "entry": st.lists(
            st.fixed_dictionaries(
                {
                    "id": json_values,
                    "changes": st.lists(
                        st.fixed_dictionaries(
                            {
                                "field": st.sampled_from(["messages", "message_template_status_update", "x"]),
                                "value": json_values,
                            }
                        ),
                        max_size=3,
                    ),
                }
            ),
            max_size=3,
        )
    }
)


def _only_parse_errors(provider, request):
    try:
        events = provider.parse_webhook(request)
    except WebhookParseError:
        return
    assert isinstance(events, list)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        shaped.map(lambda v: json.dumps(v).encode()),
    )
)
def test_garbage_meta(body):
    _only_parse_errors(META, WebhookRequest.build("POST", "u", {}, body))


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries({"results": st.lists(json_values, max_size=4)}).map(lambda v: json.dumps(v).encode()),
    )
)
def test_garbage_infobip_and_custom(body):
    request = WebhookRequest.build("POST", "u", {}, body, query={"token": "s3cret"})
    _only_parse_errors(INFOBIP, request)
    _only_parse_errors(CUSTOM, request)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "MessageSid",
                "From",
                "To",
                "Body",
                "NumMedia",
                "MessageStatus",
                "SmsStatus",
                "MediaUrl0",
                "ErrorCode",
                "x",
            ]
        ),
        st.text(max_size=15),
        max_size=8,
    )
)
def test_garbage_twilio(form):
    _only_parse_errors(TWILIO, WebhookRequest.build("POST", "u", {}, b"", form=form))
