"""MMS (Twilio's MediaUrl, Infobip's MMS API, a custom gateway's {{media_url}}) and WhatsApp's
typing indicator: the payloads, over real HTTP against the simulator."""

import pytest

from tools.providers import (
    CustomHttpProvider,
    InfobipProvider,
    MetaCloudProvider,
    OutboundMessage,
    ProviderError,
    TwilioProvider,
)
from tools.providers.infobip import mms_payload
from tools.providers.media import EMPTY, SIZE, TYPE, MediaRefused
from tools.providers.meta import read_payload
from tools.providers.mms import MMS_MAX_BYTES, accepted_types, check_mms_media
from tools.providers.receipts import send_read_receipts_later
from tools.simulator.control import read_receipts, sent_messages

URL = "https://odoo.example/web/content/7/parcel.png?access_token=abc"
NUMBER = "100000000000001"


def mms(**extra):
    return OutboundMessage(
        to="+15005550010", channel="sms", text="Your parcel", media_url=URL, media_type="image",
        filename="parcel.png", **extra,
    )  # fmt: skip


# Typing indicator


def test_read_payload_with_and_without_the_typing_indicator():
    assert read_payload("wamid.A") == {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.A"}
    assert read_payload("wamid.A", typing=True) == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.A",
        "typing_indicator": {"type": "text"},
    }


def test_typing_indicator_reaches_the_simulator(simulator):
    provider = MetaCloudProvider(
        phone_number_id=NUMBER, access_token="token", app_secret="secret", waba_id="2", base_url=simulator
    )
    send_read_receipts_later([(provider, "wamid.T")], typing=True).join(10)
    provider.mark_as_read("wamid.R")
    assert [(r["message_id"], r["typing"]) for r in read_receipts(simulator)] == [
        ("wamid.T", True),
        ("wamid.R", False),
    ]


# MMS


def test_twilio_sends_an_mms_with_its_media_url(simulator):
    provider = TwilioProvider(account_sid="ACsim1", auth_token="t", sender="+15005550006", base_url=simulator)
    provider.send(mms(client_ref="cc-1"))
    [sent] = sent_messages(simulator)
    assert (sent["body"]["To"], sent["body"]["Body"], sent["body"]["MediaUrl"]) == ("+15005550010", "Your parcel", URL)


def test_infobip_mms_payload():
    payload = mms_payload(mms(client_ref="cc-2", status_callback="https://odoo.example/ib"), "ACME")
    assert payload == {
        "messages": [
            {
                "sender": "ACME",
                "destinations": [{"to": "15005550010", "messageId": "cc-2"}],
                "content": {
                    "messageSegments": [
                        {"type": "TEXT", "text": "Your parcel"},
                        {"type": "LINK", "contentUrl": URL, "contentType": "image/png"},
                    ]
                },
                "webhooks": {"delivery": {"url": "https://odoo.example/ib"}, "callbackData": "cc-2"},
            }
        ]
    }
    alone = mms_payload(OutboundMessage(to="+1", channel="sms", media_url=URL), "ACME")["messages"][0]
    assert alone["content"]["messageSegments"] == [{"type": "LINK", "contentUrl": URL}]
    assert "webhooks" not in alone


def test_infobip_sends_an_mms_through_the_mms_api(simulator):
    provider = InfobipProvider(base_url=simulator, api_key="key", sender="ACME")
    result = provider.send(mms(client_ref="cc-3"))
    assert result.provider_message_id == "cc-3"
    [sent] = sent_messages(simulator)
    assert sent["body"]["content"]["messageSegments"][1]["contentUrl"] == URL
    provider.send(OutboundMessage(to="+15005550010", channel="sms", text="no file", client_ref="cc-4"))
    assert sent_messages(simulator)[1]["body"]["content"] == {"text": "no file"}, "an SMS still goes as an SMS"


def test_infobip_mms_errors_say_what_infobip_said(simulator):
    provider = InfobipProvider(base_url=simulator, api_key="", sender="ACME")
    with pytest.raises(ProviderError) as caught:
        provider.send(mms())
    assert "HTTP 401" in str(caught.value) and "Invalid login details" in str(caught.value)


def test_custom_gateway_passes_the_media_url(simulator):
    provider = CustomHttpProvider(
        url=f"{simulator}/custom/send",
        body_template='{"to": "{{to}}", "text": "{{text}}", "media": "{{media_url}}"}',
        message_id_path="data.id",
    )
    provider.send(mms())
    assert sent_messages(simulator)[0]["body"]["media"] == URL


@pytest.mark.parametrize(
    ("mime_type", "size", "reason"),
    [
        ("application/zip", 10, TYPE),
        ("image/png", 0, EMPTY),
        ("image/png", MMS_MAX_BYTES + 1, SIZE),
    ],
)
def test_mms_refuses_what_providers_do_not_take(mime_type, size, reason):
    with pytest.raises(MediaRefused) as caught:
        check_mms_media(mime_type, size)
    assert caught.value.reason == reason


def test_mms_takes_images_video_audio_pdf():
    assert [check_mms_media(t, 1000) for t in ("image/gif", "image/jpg", "video/mp4", "audio/mpeg")] == [
        "image",
        "image",
        "video",
        "audio",
    ]
    assert check_mms_media("application/pdf", MMS_MAX_BYTES) == "document"
    assert accepted_types()["image/png"] == MMS_MAX_BYTES
