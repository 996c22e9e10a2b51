"""Every webhook body the providers document, parsed into the expected normalised events (issue #15).

Each sample in ``payloads/<provider>/<name>.json`` follows the provider's documented example; its
``_source`` key names the page it follows and is removed before parsing. Twilio samples hold the
request's form fields under ``form``. Each sample must have its expectations below, and the other
way round: a sample added without expectations fails ``test_every_sample_is_expected``.

Expectations: a list of (event type, {field: value}) in order; only the fields named are compared.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tools.providers import (
    EVENT_TYPES,
    IgnoredEvent,
    InboundMessage,
    InfobipProvider,
    MetaCloudProvider,
    TwilioProvider,
    WebhookRequest,
    event_from_json,
    event_to_json,
)
from tools.providers.base import INBOUND_MESSAGE_TYPES

PAYLOADS = Path(__file__).parent / "payloads"

# The accounts of Meta's documented examples
WABA, NUMBER_ID = "102290129340398", "106540352242922"
META = MetaCloudProvider(NUMBER_ID, "token", app_secret="app-secret", waba_id=WABA)
TWILIO_SID = "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
TWILIO = TwilioProvider(account_sid=TWILIO_SID, auth_token="token")
INFOBIP = InfobipProvider(base_url="https://123abc.api.infobip.com", api_key="k", webhook_token="s3cret")
PROVIDERS = {"meta": META, "twilio": TWILIO, "infobip": INFOBIP}

USER = "+16505551234"
BSUID, PARENT_BSUID = "US.13491208655302741918", "US.ENT.11815799212886844830"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
OUT_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA"
ORIGINAL = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
GROUP = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjMzOTQzMjAyMzQ4MDQ"
AT = datetime.fromtimestamp(1749416383, tz=UTC)
FROM_USER = {"sender": USER, "sender_kind": "phone", "channel": "whatsapp", "recipient": NUMBER_ID}


def inbound(**fields):
    return ("InboundMessage", {"provider_message_id": WAMID, **FROM_USER, "timestamp": AT, **fields})


def status(state, **fields):
    return ("StatusUpdate", {"provider_message_id": OUT_WAMID, "status": state, "recipient": USER, **fields})


META_EXPECTED = {
    "text": [inbound(message_type="text", text="Does it come in another color?", profile_name="Sheena Nelson")],
    "text_documented_placeholders": [
        (
            "InboundMessage",
            {
                "provider_message_id": "<WHATSAPP_MESSAGE_ID>",
                "sender": "<WHATSAPP_USER_PHONE_NUMBER>",
                "sender_kind": "alphanumeric",
                "text": "<MESSAGE_BODY_TEXT>",
                "timestamp": None,
                "identity_key_hash": "<IDENTITY_KEY_HASH>",
            },
        )
    ],
    "text_bsuid_only": [
        inbound(
            sender=BSUID,
            sender_kind="user_id",
            user_id=BSUID,
            username="@sheena.nelson",
            profile_name="Sheena Nelson",
            text="Hi, I found you through your username",
        )
    ],
    "text_phone_and_bsuid": [inbound(user_id=BSUID, parent_user_id=PARENT_BSUID)],
    "image": [inbound(message_type="image", text="Is this the right one?", media_refs=["1003383421387256"])],
    "video": [inbound(message_type="video", text="Unboxing", media_refs=["1198370245302823"])],
    "document": [inbound(message_type="document", text="Our invoice", media_filename="invoice-2026-01.pdf")],
    "audio_voice_note": [inbound(message_type="audio", voice=True, media_refs=["1003383421387256"])],
    "audio_file": [inbound(message_type="audio", voice=False, media_refs=["1003383421387257"])],
    "sticker_static": [inbound(message_type="sticker", animated=False, media_refs=["1229183348373916"])],
    "sticker_animated": [inbound(message_type="sticker", animated=True, media_refs=["1229183348373917"])],
    "reaction": [
        (
            "Reaction",
            {"provider_message_id": WAMID, "reaction_to": OUT_WAMID, "emoji": "\U0001f44d", "removed": False}
            | {"sender": USER, "sender_kind": "phone", "direction": "inbound"},
        )
    ],
    "reaction_removed": [("Reaction", {"reaction_to": OUT_WAMID, "emoji": None, "removed": True, "sender": USER})],
    "location": [
        inbound(
            message_type="location",
            text="Meta Headquarters - 1 Hacker Way, Menlo Park, CA 94025",
            location={
                "latitude": 37.483307,
                "longitude": -122.148981,
                "name": "Meta Headquarters",
                "address": "1 Hacker Way, Menlo Park, CA 94025",
                "url": "https://meta.com",
            },
        )
    ],
    "location_reply_to_request": [
        inbound(
            message_type="location",
            reply_to_provider_id=OUT_WAMID,
            location={"latitude": 37.483307, "longitude": -122.148981},
        )
    ],
    "contacts": [
        inbound(
            message_type="contacts",
            text="Barbara J. Johnson",
            shared_contacts=(
                {
                    "name": "Barbara J. Johnson",
                    "phones": ["+14155550100", "+16505550123"],
                    "emails": ["bjohnson@luckyshrub.com"],
                    "organization": "Lucky Shrub",
                },
            ),
        )
    ],
    "order": [
        inbound(
            message_type="order",
            text="Is this in stock?",
            order={
                "catalog_id": "194836987003835",
                "text": "Is this in stock?",
                "items": [
                    {"product_retailer_id": "di9ozbzfi4", "quantity": 2, "item_price": 30, "currency": "USD"},
                    {"product_retailer_id": "nqryix03ez", "quantity": 1, "item_price": 25, "currency": "USD"},
                ],
            },
        )
    ],
    "text_click_to_whatsapp_referral": [
        inbound(
            text="Can I get the discount?",
            referral_subset={
                "source_url": "https://fb.me/3cr4Wqqkv",
                "source_id": "120226305854810726",
                "source_type": "ad",
                "headline": "Chat with us",
                "media_type": "image",
            },
        )
    ],
    "text_forwarded": [inbound(forwarded=True, frequently_forwarded=False)],
    "text_frequently_forwarded": [inbound(forwarded=False, frequently_forwarded=True)],
    "text_product_inquiry": [
        inbound(
            reply_to_provider_id=OUT_WAMID,
            referred_product={"catalog_id": "194836987003835", "product_retailer_id": "di9ozbzfi4"},
        )
    ],
    "group_text": [inbound(group_id=GROUP, text="Hi team, is the order ready?")],
    "unsupported": [
        inbound(
            message_type="unsupported",
            text=None,
            errors=(
                {
                    "code": "131051",
                    "title": "Message type unknown",
                    "details": "Message type is currently not supported.",
                    "unsupported_type": "poll_creation",
                },
            ),
        )
    ],
    "interactive_button_reply": [
        inbound(message_type="interactive", interactive_id="cancel-appointment", text="Cancel")
    ],
    "interactive_list_reply": [
        inbound(message_type="interactive", interactive_id="priority_express", interactive_title="Express Shipping")
    ],
    "interactive_nfm_reply": [
        inbound(
            message_type="interactive",
            flow_token="AQAAAAACS5FpgQ_cAAAAAD0QI3s.",
            flow_response={"flow_token": "AQAAAAACS5FpgQ_cAAAAAD0QI3s.", "optional_param1": "<value1>"},
            text="Sent",
        )
    ],
    "interactive_nfm_reply_not_an_object": [
        inbound(flow_token=None, flow_response={"response_json": '["red", "blue"]'}, text="Sent")
    ],
    "interactive_nfm_reply_not_json": [
        inbound(flow_token=None, flow_response={"response_json": "{flow_token: unquoted"}, text="Sent")
    ],
    "interactive_without_content": [inbound(message_type="interactive", text=None, reply_to_provider_id=OUT_WAMID)],
    "button_quick_reply": [inbound(message_type="button", interactive_id="STOP_PROMOTIONS", text="Stop promotions")],
    "edit": [inbound(message_type="text", text="Does it come in another colour? (edited)", edited_of=ORIGINAL)],
    "edit_image_caption": [
        inbound(
            message_type="image",
            text="Updated image caption",
            edited_of="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
            reply_to_provider_id=OUT_WAMID,
        )
    ],
    "revoke": [
        (
            "MessageDeleted",
            {"provider_message_id": ORIGINAL, "event_id": WAMID, "sender": USER, "direction": "inbound"},
        )
    ],
    "request_welcome": [("IgnoredEvent", {"kind": "meta.message.request_welcome", "provider_message_id": WAMID})],
    "system_user_changed_number": [
        ("IdentityChange", {"kind": "number_changed", "sender": USER, "new_sender": "+12195555358"})
    ],
    "system_user_changed_user_id": [
        (
            "IdentityChange",
            {
                "kind": "user_id_changed",
                "sender": BSUID,
                "sender_kind": "user_id",
                "new_user_id": "US.7716351049218823",
            },
        )
    ],
    "system_customer_identity_changed": [
        ("IdentityChange", {"kind": "identity_changed", "sender": USER, "identity_hash": "Sjvjlx8G6Z0="})
    ],
    "status_sent": [
        status(
            "sent",
            recipient_user_id=BSUID,
            pricing_category="utility",
            pricing_model="PMP",
            pricing_type="regular",
            billable=True,
            conversation_id="a8f1b8cde69bfe3c4fd4ad1b8b15d7e0",
            client_ref="cc-message-42",
        )
    ],
    "status_delivered": [status("delivered", pricing_category="utility", billable=True)],
    "status_read": [status("read", provider_status="read")],
    "status_played": [status("read", provider_status="played")],
    "status_failed": [
        status(
            "failed",
            error_code="131049",
            error_title="This message was not delivered to maintain healthy ecosystem engagement.",
            error_details="In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
        )
    ],
    "status_deleted": [("MessageDeleted", {"provider_message_id": WAMID, "sender": USER, "direction": "inbound"})],
    "status_group": [status("read", group_id=GROUP, recipient_user_id=BSUID)],
    "status_to_bsuid": [status("delivered", recipient=BSUID, recipient_user_id=BSUID)],
    "errors": [("AccountUpdate", {"kind": "error", "error_code": "130429", "error_title": "Rate limit hit"})],
    "smb_message_echo_text": [
        (
            "OutboundEcho",
            {
                "provider_message_id": OUT_WAMID,
                "recipient": USER,
                "recipient_kind": "phone",
                "sender": "+15550783881",
                "text": "Yes, it comes in red and blue.",
                "from_history": False,
            },
        )
    ],
    "smb_message_echo_image": [
        ("OutboundEcho", {"message_type": "image", "text": "The blue one", "media_refs": ["1003383421387299"]})
    ],
    "smb_message_echo_edit": [
        ("OutboundEcho", {"edited_of": OUT_WAMID, "text": "Yes, it comes in red, blue and green."})
    ],
    "smb_message_echo_revoke": [("MessageDeleted", {"provider_message_id": OUT_WAMID, "direction": "outbound"})],
    "smb_message_echo_reaction": [
        (
            "Reaction",
            {"reaction_to": WAMID, "emoji": "\u2764\ufe0f", "direction": "outbound", "recipient": USER}
            | {"sender": "+15550783881"},
        )
    ],
    "smb_message_echo_to_bsuid": [
        ("OutboundEcho", {"recipient": BSUID, "recipient_kind": "user_id", "recipient_user_id": BSUID})
    ],
    "history": [
        ("InboundMessage", {"sender": USER, "from_history": True, "text": "Hi, are you open on Sunday?"}),
        ("OutboundEcho", {"recipient": USER, "from_history": True, "history_status": "DELIVERED"}),
        ("InboundMessage", {"message_type": "unknown", "from_history": True}),
    ],
    "history_declined": [("AccountUpdate", {"kind": "history_declined", "error_code": "2593109"})],
    "smb_app_state_sync": [
        ("ContactSync", {"phone": USER, "action": "add", "name": "Sheena Nelson", "first_name": "Sheena"}),
        ("ContactSync", {"phone": "+16505550199", "action": "remove", "name": None}),
    ],
    "user_preferences_stop": [
        (
            "ConsentUpdate",
            {"sender": USER, "granted": False, "channel": "whatsapp", "purpose": "marketing"}
            | {"source": "whatsapp_preferences", "provider_value": "stop"},
        )
    ],
    "user_preferences_resume": [("ConsentUpdate", {"sender": USER, "granted": True, "provider_value": "resume"})],
    "template_status_rejected": [
        (
            "TemplateStatusUpdate",
            {"template_name": "order_confirmation", "status": "REJECTED", "reason": "INVALID_FORMAT"}
            | {"category": "UTILITY", "account_ref": WABA},
        )
    ],
    "template_category_update": [
        (
            "AccountUpdate",
            {"kind": "template_category", "event": "MARKETING", "template_name": "welcome_template"}
            | {"template_id": "278077987929907", "account_ref": WABA},
        )
    ],
    "template_quality_update": [("AccountUpdate", {"kind": "template_quality", "event": "YELLOW"})],
    "template_components_update": [
        ("AccountUpdate", {"kind": "template_components", "template_id": "12345678", "language": "en_US"})
    ],
    "phone_number_quality_update": [
        ("AccountUpdate", {"kind": "phone_number_quality", "event": "FLAGGED", "phone_number": "+15550783881"})
    ],
    "account_update_restriction": [("AccountUpdate", {"kind": "account_update", "event": "ACCOUNT_RESTRICTION"})],
    "account_update_violation": [("AccountUpdate", {"kind": "account_update", "event": "ACCOUNT_VIOLATION"})],
    "field_not_handled": [("IgnoredEvent", {"kind": "meta.field.calls", "account_ref": NUMBER_ID})],
    "odd_beside_good": [
        ("IgnoredEvent", {"kind": "meta.message.text", "provider_message_id": "wamid.ODD"}),
        inbound(text="Does it come in another color?", profile_name="Sheena Nelson"),
    ],
    "odd_status_and_change_beside_good": [
        inbound(message_type="interactive", flow_response={"response_json": "not json"}),
        inbound(provider_message_id="wamid.SECOND", text="and a second message"),
        ("IgnoredEvent", {"kind": "meta.status.warning"}),
        status("delivered"),
        ("IgnoredEvent", {"kind": "meta.field.messages", "account_ref": WABA}),
    ],
}

TWILIO_WHATSAPP = {"sender": USER, "sender_kind": "phone", "channel": "whatsapp", "recipient": "+15550783881"}
TWILIO_EXPECTED = {
    "sms_inbound": [
        (
            "InboundMessage",
            {
                "sender": "+14155550100",
                "sender_kind": "phone",
                "channel": "sms",
                "text": "Hello, is this open on Sunday?",
            },
        )
    ],
    "sms_from_short_code": [("InboundMessage", {"sender": "+5678", "sender_kind": "short_code", "channel": "sms"})],
    "sms_from_alphanumeric": [("InboundMessage", {"sender": "MTN", "sender_kind": "alphanumeric", "channel": "sms"})],
    "mms_inbound": [("InboundMessage", {"message_type": "image", "text": "Here is the receipt", "channel": "sms"})],
    "whatsapp_text": [
        (
            "InboundMessage",
            {**TWILIO_WHATSAPP, "text": "Does it come in another color?", "profile_name": "Sheena Nelson"},
        )
    ],
    "whatsapp_image": [
        ("InboundMessage", {**TWILIO_WHATSAPP, "message_type": "image", "text": "Is this the right one?"})
    ],
    "whatsapp_voice": [("InboundMessage", {**TWILIO_WHATSAPP, "message_type": "audio", "text": ""})],
    "whatsapp_location": [
        (
            "InboundMessage",
            {
                **TWILIO_WHATSAPP,
                "message_type": "location",
                "text": "Meta Headquarters - 1 Hacker Way, Menlo Park, CA 94025",
            }
            | {
                "location": {
                    "latitude": 37.483307,
                    "longitude": -122.148981,
                    "address": "1 Hacker Way, Menlo Park, CA 94025",
                    "name": "Meta Headquarters",
                }
            },
        )
    ],
    "whatsapp_quick_reply_button": [
        (
            "InboundMessage",
            {**TWILIO_WHATSAPP, "message_type": "button", "interactive_id": "STOP_PROMOTIONS"}
            | {"reply_to_provider_id": "MMa0e8ae6ade43cb3c0ce4525424e4058"},
        )
    ],
    "whatsapp_click_to_whatsapp_referral": [
        (
            "InboundMessage",
            {
                **TWILIO_WHATSAPP,
                "referral_subset": {"source_id": "120226305854810726", "source_type": "ad", "headline": "Chat with us"},
            },
        )
    ],
    "whatsapp_forwarded_reply": [
        (
            "InboundMessage",
            {
                **TWILIO_WHATSAPP,
                "forwarded": True,
                "frequently_forwarded": True,
                "reply_to_provider_id": "SMd0e8ae6ade43cb3c0ce4525424e405b",
            },
        )
    ],
    "status_delivered": [
        ("StatusUpdate", {"status": "delivered", "provider_status": "delivered", "account_ref": TWILIO_SID})
    ],
    "status_undelivered": [
        ("StatusUpdate", {"status": "failed", "provider_status": "undelivered", "error_code": "30003"})
    ],
    "status_whatsapp_read": [("StatusUpdate", {"status": "read", "recipient": USER})],
    "status_not_known": [("IgnoredEvent", {"kind": "twilio.status.partially_delivered", "account_ref": TWILIO_SID})],
}

IB_USER, IB_SENDER = "+385919998888", "447860099299"
IB_WHATSAPP = {
    "sender": IB_USER,
    "sender_kind": "phone",
    "channel": "whatsapp",
    "account_ref": IB_SENDER,
    "profile_name": "Frank",
}
IB_MEDIA = "https://123abc.api.infobip.com/whatsapp/1/senders/447860099299/media/"
IB_OUT = "a28dd97c-1ffb-4fcf-99f1-0b557ed381da"
INFOBIP_EXPECTED = {
    "sms_inbound": [
        ("InboundMessage", {"sender": "+385916242493", "channel": "sms", "text": "Correct answer is Paris"})
    ],
    "sms_from_short_code_and_alphanumeric": [
        ("InboundMessage", {"sender": "5678", "sender_kind": "short_code", "channel": "sms"}),
        ("InboundMessage", {"sender": "MTN", "sender_kind": "alphanumeric", "channel": "sms"}),
    ],
    "sms_delivery_report": [
        (
            "StatusUpdate",
            {"provider_message_id": "MESSAGE-ID-123-xyz", "status": "delivered", "client_ref": "cc-message-42"},
        )
    ],
    "whatsapp_delivery_report_failed": [
        ("StatusUpdate", {"provider_message_id": IB_OUT, "status": "failed", "error_code": "7028"})
    ],
    "whatsapp_seen_report": [
        (
            "StatusUpdate",
            {"provider_message_id": IB_OUT, "status": "read", "provider_status": "SEEN", "recipient": IB_USER},
        )
    ],
    "whatsapp_text": [("InboundMessage", {**IB_WHATSAPP, "text": "Support hello"})],
    "whatsapp_text_reply": [("InboundMessage", {**IB_WHATSAPP, "reply_to_provider_id": IB_OUT})],
    "whatsapp_image": [
        (
            "InboundMessage",
            {
                **IB_WHATSAPP,
                "message_type": "image",
                "text": "Is this the right one?",
                "media_refs": [IB_MEDIA + "4d5a08ec-1cde-4b0b-a5c3-d0d3c3c2a111"],
            },
        )
    ],
    "whatsapp_document": [("InboundMessage", {**IB_WHATSAPP, "message_type": "document", "text": "Invoice"})],
    "whatsapp_voice": [("InboundMessage", {**IB_WHATSAPP, "message_type": "audio", "voice": True})],
    "whatsapp_sticker": [("InboundMessage", {**IB_WHATSAPP, "message_type": "sticker"})],
    "whatsapp_location": [
        ("InboundMessage", {**IB_WHATSAPP, "message_type": "location", "text": "Infobip HQ - Zagreb"}),
    ],
    "whatsapp_contact": [
        (
            "InboundMessage",
            {**IB_WHATSAPP, "message_type": "contacts", "text": "John Smith"}
            | {
                "shared_contacts": (
                    {
                        "name": "John Smith",
                        "phones": [IB_USER],
                        "emails": ["john.smith@example.com"],
                        "organization": "Example Ltd",
                    },
                )
            },
        )
    ],
    "whatsapp_quick_reply_button": [
        ("InboundMessage", {**IB_WHATSAPP, "message_type": "button", "interactive_id": "STOP_PROMOTIONS"})
    ],
    "whatsapp_interactive_button_reply": [
        ("InboundMessage", {**IB_WHATSAPP, "message_type": "interactive", "interactive_id": "cancel-appointment"})
    ],
    "whatsapp_interactive_list_reply": [
        ("InboundMessage", {**IB_WHATSAPP, "message_type": "interactive", "interactive_id": "priority_express"})
    ],
    "whatsapp_interactive_flow_reply": [
        (
            "InboundMessage",
            {
                **IB_WHATSAPP,
                "flow_token": "ib-flow-token-1",
                "flow_response": {"flow_token": "ib-flow-token-1", "email": "frank@example.com"},
            },
        )
    ],
    "whatsapp_order": [
        (
            "InboundMessage",
            {
                **IB_WHATSAPP,
                "message_type": "order",
                "order": {
                    "catalog_id": "194836987003835",
                    "text": "Please deliver tomorrow",
                    "items": [
                        {"product_retailer_id": "di9ozbzfi4", "quantity": 2, "item_price": 30.0, "currency": "EUR"}
                    ],
                },
            },
        )
    ],
    "whatsapp_reaction": [
        ("Reaction", {"reaction_to": IB_OUT, "emoji": "\U0001f44d", "removed": False, "sender": IB_USER})
    ],
    "whatsapp_reaction_removed": [("Reaction", {"reaction_to": IB_OUT, "emoji": None, "removed": True})],
    "whatsapp_unsupported": [("InboundMessage", {**IB_WHATSAPP, "message_type": "unsupported"})],
    "whatsapp_text_click_to_whatsapp_referral": [
        (
            "InboundMessage",
            {
                **IB_WHATSAPP,
                "referral_subset": {
                    "source_id": "120226305854810726",
                    "source_type": "AD",
                    "ctwa_clid": "Aff-n8ZTODiE79d22KtAwQKj9e_mIEOOj27vDVwFjN80dp4",
                },
            },
        )
    ],
    "whatsapp_payment_confirmation_message": [
        ("IgnoredEvent", {"kind": "infobip.whatsapp.interactive_payment_confirmation"})
    ],
    "whatsapp_system_user_identity_changed": [
        (
            "IdentityChange",
            {"kind": "identity_changed", "sender": IB_USER, "identity_hash": "Sjvjlx8G6Z0=", "account_ref": IB_SENDER},
        )
    ],
    "whatsapp_payment_notification": [
        ("IgnoredEvent", {"kind": "infobip.whatsapp.payment", "provider_message_id": "pay_123"})
    ],
    "whatsapp_marketing_stop": [("ConsentUpdate", {"sender": IB_USER, "granted": False, "purpose": "marketing"})],
    "whatsapp_template_status_update": [
        ("TemplateStatusUpdate", {"template_name": "order_confirmation", "status": "APPROVED", "language": "en"})
    ],
    "whatsapp_template_category_update": [
        ("AccountUpdate", {"kind": "template_category", "event": "MARKETING", "template_name": "welcome_template"})
    ],
    "odd_beside_good": [
        ("IgnoredEvent", {"kind": "infobip.result"}),
        ("InboundMessage", {**IB_WHATSAPP, "text": "the good one"}),
        ("IgnoredEvent", {"kind": "infobip.report.SOMETHING_NEW", "provider_message_id": "x"}),
    ],
}

EXPECTED = {
    **{f"meta/{name}": events for name, events in META_EXPECTED.items()},
    **{f"twilio/{name}": events for name, events in TWILIO_EXPECTED.items()},
    **{f"infobip/{name}": events for name, events in INFOBIP_EXPECTED.items()},
}
SAMPLES = sorted(f"{path.parent.name}/{path.stem}" for path in PAYLOADS.glob("*/*.json"))


def load(sample):
    """(provider, request) of a sample, its ``_source`` checked and removed."""
    provider, _name = sample.split("/")
    data = json.loads((PAYLOADS / f"{sample}.json").read_text())
    source = data.pop("_source")
    assert source.startswith("https://"), f"{sample}: _source must name the page the sample follows"
    if provider == "twilio":
        form = data["form"]
        return provider, WebhookRequest.build("POST", "u", {}, urlencode(form).encode(), form=form)
    return provider, WebhookRequest.build("POST", "u", {}, json.dumps(data).encode(), query={"token": "s3cret"})


def test_every_sample_is_expected():
    assert SAMPLES, "no samples found"
    assert set(SAMPLES) == set(EXPECTED), set(SAMPLES) ^ set(EXPECTED)


def check(event, expected):
    """``event`` has the ``expected`` fields (``media_refs``, ``media_filename`` and ``referral_subset`` look inside)."""
    for key, value in expected.items():
        if key == "media_refs":
            assert [media.ref for media in event.media] == value, key
        elif key == "media_filename":
            assert event.media[0].filename == value, key
        elif key == "referral_subset":
            assert {k: event.referral.get(k) for k in value} == value, key
        else:
            assert getattr(event, key) == value, key


@pytest.mark.parametrize("sample", SAMPLES)
def test_sample(sample):
    provider_name, request = load(sample)
    provider = PROVIDERS[provider_name]
    events = provider.parse_webhook(request)
    expected = EXPECTED[sample]
    assert [type(event).__name__ for event in events] == [kind for kind, _fields in expected]
    for event, (_kind, fields) in zip(events, expected, strict=True):
        check(event, fields)
        # What the webhook queue stores comes back as the same event.
        assert event_from_json(json.loads(json.dumps(event_to_json(event)))) == event
        if isinstance(event, InboundMessage):
            assert event.message_type in INBOUND_MESSAGE_TYPES
        if sample != "meta/text_documented_placeholders":
            # Every event names the account that the request came to: none is dropped as foreign.
            assert provider.owns_event(event), event


def test_every_event_type_is_covered_by_a_sample():
    seen = set()
    for sample in SAMPLES:
        provider_name, request = load(sample)
        seen |= {type(event).__name__ for event in PROVIDERS[provider_name].parse_webhook(request)}
    assert seen == set(EVENT_TYPES)


@pytest.mark.parametrize("provider_name", ["meta", "infobip"])
def test_one_odd_event_beside_a_good_one(provider_name):
    """The good event of a request is parsed; the odd one next to it is an IgnoredEvent, not a 400."""
    _name, request = load(f"{provider_name}/odd_beside_good")
    events = PROVIDERS[provider_name].parse_webhook(request)
    good = [event for event in events if isinstance(event, InboundMessage)]
    odd = [event for event in events if isinstance(event, IgnoredEvent)]
    assert len(good) == 1 and odd and len(good) + len(odd) == len(events)
    assert all(event.reason for event in odd)


def test_odd_twilio_callback_beside_nothing_is_ignored_not_refused():
    _name, request = load("twilio/status_not_known")
    [event] = TWILIO.parse_webhook(request)
    assert isinstance(event, IgnoredEvent) and TWILIO.owns_event(event)


def test_a_reply_to_a_user_id_goes_to_meta_as_recipient():
    """Meta's business-scoped user ids are answered with "recipient" instead of "to"."""
    from tools.providers import OutboundMessage

    payload = META.message_payload(OutboundMessage(to=BSUID, text="Hello"))
    assert payload["recipient"] == BSUID and "to" not in payload
    assert META.message_payload(OutboundMessage(to=USER, text="Hello"))["to"] == "16505551234"
