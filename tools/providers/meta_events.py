"""Meta WhatsApp Cloud API webhooks: every documented body, read into normalised events.

Only a body that is not Meta's envelope is refused (``MetaCloudProvider.parse_webhook``). Inside it,
each entry, change, message and status is read on its own: one that cannot be understood becomes an
``IgnoredEvent`` next to the others, one that is understood but odd in a field keeps what can be read.

Fields of the WhatsApp Business Account webhook handled here (Meta, "Webhooks reference"):
messages (messages, statuses, errors), smb_message_echoes, history, smb_app_state_sync,
user_preferences, message_template_status_update, template_category_update,
message_template_quality_update, message_template_components_update, phone_number_quality_update,
phone_number_name_update, account_update, account_review_update, account_alerts,
business_capability_update, security. Any other field is an ``IgnoredEvent``.
"""

import json

from ..phone import PHONE, USER_ID, classify_sender
from .base import (
    AccountUpdate,
    ConsentUpdate,
    ContactSync,
    IdentityChange,
    IgnoredEvent,
    InboundMessage,
    Media,
    MessageDeleted,
    OutboundEcho,
    Reaction,
    StatusUpdate,
    TemplateStatusUpdate,
    e164_or_raw,
    utc_from_timestamp,
)

# Statuses of our messages. "played": a voice message was played, which proves it was read.
STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "played": "read", "failed": "failed"}
MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
CONTENT_TYPES = (*MEDIA_TYPES, "text", "location", "interactive", "button", "contacts", "order", "unsupported")
REFERRAL_KEYS = (
    "source_url",
    "source_id",
    "source_type",
    "headline",
    "body",
    "media_type",
    "image_url",
    "video_url",
    "thumbnail_url",
    "ctwa_clid",
)
ACCOUNT_FIELDS = {
    "account_update": "account_update",
    "account_review_update": "account_review",
    "account_alerts": "account_alert",
    "business_capability_update": "business_capability",
    "phone_number_quality_update": "phone_number_quality",
    "phone_number_name_update": "phone_number_name",
    "security": "security",
    "template_category_update": "template_category",
    "message_template_quality_update": "template_quality",
    "message_template_components_update": "template_components",
}
# user_preferences, category marketing_messages: what each value means for marketing consent
MARKETING_PREFERENCES = {"stop": False, "resume": True, "signup": True}
IDENTITY_SYSTEM_TYPES = {
    "customer_identity_changed": "identity_changed",
    "user_identity_changed": "identity_changed",
    "user_changed_number": "number_changed",
    "customer_changed_number": "number_changed",
    "user_changed_user_id": "user_id_changed",
}
READ_ERRORS = (KeyError, TypeError, AttributeError, ValueError)


def parse_envelope(payload):
    """Events of a decoded body that has an ``entry`` list."""
    events = []
    for entry in payload["entry"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("changes"), list):
            raw = entry if isinstance(entry, dict) else {"entry": entry}
            waba = _str(raw.get("id"))
            events.append(IgnoredEvent("meta.entry", "an entry without a 'changes' list", waba, raw=raw))
            continue
        for change in entry["changes"]:
            events += _guarded(_Change(entry, change), _parse_change)
    return events


class _Change:
    """What every event of one change shares: the accounts it names and the contacts it lists."""

    def __init__(self, entry, change):
        self.entry = entry
        self.change = change if isinstance(change, dict) else {"change": change}
        self.field = _str(self.change.get("field")) or "unknown"
        value = self.change.get("value")
        self.value = value if isinstance(value, dict) else {}
        metadata = self.value.get("metadata") if isinstance(self.value.get("metadata"), dict) else {}
        self.waba = _str(entry.get("id"))
        self.number_id = _str(metadata.get("phone_number_id"))
        self.display = _str(metadata.get("display_phone_number"))
        self.account_ref = self.number_id or self.waba
        self.contacts = [c for c in _list(self.value, "contacts") if isinstance(c, dict)]

    def contact(self, wa_id=None, user_id=None):
        for contact in self.contacts:
            if (wa_id and _str(contact.get("wa_id")) == wa_id) or (user_id and contact.get("user_id") == user_id):
                return contact
        # One contact for the change: it is the sender's (Meta: a user's id and number may differ).
        return self.contacts[0] if len(self.contacts) == 1 else {}

    def ignored(self, kind, reason, raw, message_id=None, account_ref=None):
        return IgnoredEvent(kind, reason, account_ref or self.account_ref, _str(message_id), raw=_dict(raw))


def _guarded(change, parse, *args):
    """``parse(change, *args)``, or an ``IgnoredEvent`` saying why it could not be read."""
    try:
        return parse(change, *args)
    except READ_ERRORS as error:
        raw = args[0] if args else change.change
        message_id = raw.get("id") if isinstance(raw, dict) else None
        kind = f"meta.{change.field}" + (f".{raw.get('type')}" if isinstance(raw, dict) and raw.get("type") else "")
        return [change.ignored(kind, f"malformed: {type(error).__name__}: {error}", raw, message_id)]


def _parse_change(change):
    if not isinstance(change.change.get("value"), dict):
        return [change.ignored(f"meta.field.{change.field}", "a change without a 'value' object", change.change)]
    if change.field == "messages":
        return _parse_messages_value(change)
    if change.field == "smb_message_echoes":
        return [event for item in _list(change.value, "message_echoes") for event in _guarded(change, _echo, item)]
    if change.field == "history":
        return [event for chunk in _list(change.value, "history") for event in _guarded(change, _history, chunk)]
    if change.field == "smb_app_state_sync":
        return [event for item in _list(change.value, "state_sync") for event in _guarded(change, _state_sync, item)]
    if change.field == "user_preferences":
        items = _list(change.value, "user_preferences")
        return [event for item in items for event in _guarded(change, _user_preference, item)]
    if change.field == "message_template_status_update":
        return _template_status(change)
    if change.field in ACCOUNT_FIELDS:
        return [_account_update(change, ACCOUNT_FIELDS[change.field])]
    return [
        change.ignored(f"meta.field.{change.field}", "a webhook field this integration does not read", change.value)
    ]


def _parse_messages_value(change):
    events = []
    for item in _list(change.value, "messages"):
        events += _guarded(change, _message, item)
    for item in _list(change.value, "statuses"):
        events += _guarded(change, _status, item)
    for error in _list(change.value, "errors"):
        events += _guarded(change, _value_error, error)
    return events


# Messages a person sent
def _message(change, item, history_status=None):
    if not isinstance(item, dict):
        return [change.ignored("meta.message", "a message that is not an object", {"message": item})]
    kind = _str(item.get("type")) or "unknown"
    message_id = _str(item.get("id"))
    wa_id, from_user_id = _str(item.get("from")), _str(item.get("from_user_id"))
    contact = change.contact(wa_id, from_user_id)
    user_id = from_user_id or _str(contact.get("user_id"))
    if kind == "system":
        return _system(change, item, contact)
    address = wa_id or user_id or _str(contact.get("wa_id"))
    if not address:
        return [change.ignored(f"meta.message.{kind}", "a message naming no sender", item, message_id)]
    if not message_id:
        return [change.ignored(f"meta.message.{kind}", "a message without an id", item)]
    sender_kind, sender = classify_sender(address)
    if sender_kind == USER_ID:
        user_id = user_id or sender
    who = {"sender": sender, "sender_kind": sender_kind, "user_id": user_id}
    timestamp = utc_from_timestamp(item.get("timestamp"))
    if kind == "reaction":
        profile_name = _profile(contact).get("name")
        return _reaction(
            change, item, message_id, timestamp, recipient=change.number_id, profile_name=profile_name, **who
        )
    if kind == "revoke":
        return _revoke(change, item, message_id, timestamp, "meta.message.revoke", **who)
    if kind == "request_welcome":
        reason = "the person opened the chat for the first time: no content"
        return [change.ignored("meta.message.request_welcome", reason, item, message_id)]
    edited_of, body = None, item
    if kind == "edit":
        edit = _dict(item.get("edit"))
        edited_of, body = _str(edit.get("original_message_id")), _dict(edit.get("message"))
    content = _content(body)
    context = _dict(body.get("context")) or _dict(item.get("context"))
    profile = _profile(contact)
    return [
        InboundMessage(
            provider_message_id=message_id,
            recipient=change.number_id,
            channel="whatsapp",
            reply_to_provider_id=_str(context.get("id")),
            timestamp=timestamp,
            profile_name=_str(profile.get("name")),
            account_ref=change.account_ref,
            parent_user_id=_str(item.get("from_parent_user_id") or contact.get("parent_user_id")),
            username=_str(profile.get("username")),
            edited_of=edited_of,
            forwarded=context.get("forwarded") is True,
            frequently_forwarded=context.get("frequently_forwarded") is True,
            referral=_referral(item.get("referral")),
            referred_product=_dict(context.get("referred_product")) or None,
            group_id=_str(item.get("group_id")),
            from_history=history_status is not None,
            identity_key_hash=_str(contact.get("identity_key_hash")),
            raw=item,
            **who,
            **content,
        )
    ]


def _content(item):
    """The fields of InboundMessage / OutboundEcho that a message's content gives."""
    kind = _str(item.get("type")) or "unknown"
    body = item.get(kind) if isinstance(item.get(kind), dict) else {}
    content = {"message_type": kind if kind in CONTENT_TYPES else "unknown", "text": None}
    errors = _errors(item.get("errors"))
    if kind == "text":
        content["text"] = _str(body.get("body"))
    elif kind in MEDIA_TYPES:
        media_id = _str(body.get("id"))
        caption = _str(body.get("caption"))
        if media_id:
            content["media"] = (Media(media_id, _str(body.get("mime_type")), _str(body.get("filename")), caption),)
        content["text"] = caption
        content["voice"] = body.get("voice") is True
        content["animated"] = body.get("animated") is True
    elif kind == "location":
        content["location"] = _location(body)
        content["text"] = _location_text(content["location"])
    elif kind == "contacts":
        content["shared_contacts"] = tuple(_shared_contact(c) for c in _list(item, "contacts") if isinstance(c, dict))
        content["text"] = ", ".join(c["name"] for c in content["shared_contacts"] if c["name"]) or None
    elif kind == "interactive":
        content.update(_interactive(body))
    elif kind == "button":
        content["interactive_id"] = _str(body.get("payload"))
        content["interactive_title"] = content["text"] = _str(body.get("text"))
    elif kind == "order":
        content["order"] = _order(body)
        content["text"] = content["order"]["text"]
    elif kind == "unsupported" and body.get("type"):
        errors = tuple({**error, "unsupported_type": _str(body.get("type"))} for error in errors) or (
            {"code": None, "title": None, "details": None, "unsupported_type": _str(body.get("type"))},
        )
    if errors:
        content["errors"] = errors
    return content


def _interactive(body):
    """Replies to buttons, lists, Flows and call permission requests."""
    kind = _str(body.get("type"))
    reply = body.get(kind) if kind and isinstance(body.get(kind), dict) else {}
    if kind == "nfm_reply":
        response = reply.get("response_json")
        try:
            decoded = json.loads(response) if isinstance(response, str) else response
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict):
            # Not a JSON object: kept as written, with no flow token to correlate on.
            decoded = {"response_json": response} if response is not None else None
            token = None
        else:
            token = _str(decoded.get("flow_token"))
        return {"flow_response": decoded, "flow_token": token, "text": _str(reply.get("body"))}
    if kind == "call_permission_reply":
        return {"interactive_id": _str(reply.get("response")), "interactive_title": _str(reply.get("response"))}
    title = _str(reply.get("title"))
    return {"interactive_id": _str(reply.get("id")), "interactive_title": title, "text": title}


def _system(change, item, contact):
    """System messages: the person changed number, user id or identity (new device, reinstall)."""
    system = _dict(item.get("system"))
    kind = IDENTITY_SYSTEM_TYPES.get(_str(system.get("type")) or "")
    if kind is None:
        return [
            change.ignored(f"meta.system.{system.get('type')}", "a system message this integration does not read", item)
        ]
    address = (
        _str(item.get("from"))
        or _str(item.get("from_user_id"))
        or _str(system.get("customer"))
        or _str(system.get("previous_user_id"))
        or _str(contact.get("wa_id") or contact.get("user_id"))
    )
    if not address:
        return [change.ignored("meta.system", "a system message naming no one", item, item.get("id"))]
    sender_kind, sender = classify_sender(address)
    new_number = _str(system.get("wa_id") or system.get("new_wa_id")) if kind == "number_changed" else None
    identity = _dict(item.get("identity"))
    return [
        IdentityChange(
            sender=sender,
            kind=kind,
            new_sender=e164_or_raw(new_number) if new_number else None,
            new_user_id=_str(system.get("user_id")) if kind != "identity_changed" else None,
            sender_kind=sender_kind,
            user_id=_str(item.get("from_user_id")) or (sender if sender_kind == USER_ID else None),
            identity_hash=_str(identity.get("hash") or system.get("identity")),
            detail=_str(system.get("body")),
            provider_message_id=_str(item.get("id")),
            timestamp=utc_from_timestamp(item.get("timestamp")),
            account_ref=change.account_ref,
            raw=item,
        )
    ]


# Statuses of our messages
def _status(change, item):
    if not isinstance(item, dict):
        return [change.ignored("meta.status", "a status that is not an object", {"status": item})]
    message_id, status = _str(item.get("id")), _str(item.get("status"))
    if not message_id:
        return [change.ignored(f"meta.status.{status}", "a status without a message id", item)]
    group = item.get("recipient_type") == "group"
    recipient = _str(item.get("recipient_participant_id") if group else item.get("recipient_id"))
    recipient_user_id = _str(item.get("recipient_participant_user_id") if group else item.get("recipient_user_id")) or (
        recipient if recipient and classify_sender(recipient)[0] == USER_ID else None
    )
    timestamp = utc_from_timestamp(item.get("timestamp"))
    if status == "deleted":
        # Meta: "a message sent by the customer was deleted by the customer".
        sender_kind, sender = classify_sender(recipient) if recipient else (PHONE, None)
        return [
            MessageDeleted(
                provider_message_id=message_id,
                sender=sender,
                sender_kind=sender_kind,
                user_id=recipient_user_id,
                timestamp=timestamp,
                account_ref=change.account_ref,
                raw=item,
            )
        ]
    if status not in STATUSES:
        return [change.ignored(f"meta.status.{status}", "a status this integration does not know", item, message_id)]
    errors = _errors(item.get("errors"))
    error = errors[0] if errors else {}
    pricing, conversation = _dict(item.get("pricing")), _dict(item.get("conversation"))
    billable = pricing.get("billable")
    return [
        StatusUpdate(
            provider_message_id=message_id,
            status=STATUSES[status],
            timestamp=timestamp,
            error_code=error.get("code"),
            error_title=error.get("title"),
            recipient=e164_or_raw(recipient),
            account_ref=change.account_ref,
            provider_status=status,
            error_details=error.get("details"),
            recipient_user_id=recipient_user_id,
            pricing_category=_str(pricing.get("category")),
            pricing_model=_str(pricing.get("pricing_model")),
            pricing_type=_str(pricing.get("type")),
            billable=billable if isinstance(billable, bool) else None,
            conversation_id=_str(conversation.get("id")),
            group_id=_str(item.get("recipient_id")) if group else None,
            client_ref=_str(item.get("biz_opaque_callback_data")),
            raw=item,
        )
    ]


def _value_error(change, error):
    """``value.errors`` of the messages field: rate limits, account and app problems."""
    [normalised] = _errors([error]) or [{}]
    details = {k: v for k, v in _dict(error).items() if k not in ("code", "title")}
    return [
        AccountUpdate(
            kind="error",
            event=normalised.get("title"),
            account_ref=change.account_ref,
            error_code=normalised.get("code"),
            error_title=normalised.get("title"),
            details=details,
            raw=_dict(error),
        )
    ]


# Coexistence: messages sent from the WhatsApp Business app, history, contacts
def _echo(change, item, history_status=None, thread=None):
    if not isinstance(item, dict):
        return [change.ignored("meta.echo", "an echo that is not an object", {"echo": item})]
    kind = _str(item.get("type")) or "unknown"
    message_id = _str(item.get("id"))
    address = _str(item.get("to")) or _str(item.get("to_user_id")) or thread
    if not address or not message_id:
        return [change.ignored(f"meta.echo.{kind}", "an echo without an id or a recipient", item, message_id)]
    recipient_kind, recipient = classify_sender(address)
    recipient_user_id = _str(item.get("to_user_id")) or (recipient if recipient_kind == USER_ID else None)
    business = e164_or_raw(item.get("from")) or e164_or_raw(change.display)
    timestamp = utc_from_timestamp(item.get("timestamp"))
    if kind == "reaction":
        return _reaction(
            change, item, message_id, timestamp, sender=business or "", recipient=recipient, direction="outbound"
        )
    if kind == "revoke":
        return _revoke(change, item, message_id, timestamp, "meta.echo.revoke", sender=business, direction="outbound")
    edited_of, body = None, item
    if kind == "edit":
        edit = _dict(item.get("edit"))
        edited_of, body = _str(edit.get("original_message_id")), _dict(edit.get("message"))
    content = _content(body)
    message_type = content.pop("message_type")
    content.pop("errors", None)
    kept = ("text", "media", "location", "shared_contacts")
    return [
        OutboundEcho(
            provider_message_id=message_id,
            recipient=recipient,
            message_type=message_type if message_type != "unknown" else kind,
            reply_to_provider_id=_str(_dict(body.get("context")).get("id")),
            timestamp=timestamp,
            recipient_kind=recipient_kind,
            recipient_user_id=recipient_user_id,
            sender=business,
            edited_of=edited_of,
            from_history=history_status is not None,
            history_status=history_status or None,
            account_ref=change.account_ref,
            raw=item,
            **{key: value for key, value in content.items() if key in kept},
        )
    ]


def _history(change, chunk):
    """One chunk of the chat history a business shared when it was onboarded (coexistence)."""
    if not isinstance(chunk, dict):
        return [change.ignored("meta.history", "a history chunk that is not an object", {"history": chunk})]
    events = []
    for error in _errors(chunk.get("errors")):
        # Meta: the business declined to share its history (2593109).
        events.append(
            AccountUpdate(
                kind="history_declined",
                event=error.get("title"),
                account_ref=change.account_ref,
                error_code=error.get("code"),
                error_title=error.get("title"),
                details={"details": error.get("details")},
                raw=chunk,
            )
        )
    business = classify_sender(change.display)[1] if change.display else None
    for thread in _list(chunk, "threads"):
        thread_id = _str(thread.get("id")) if isinstance(thread, dict) else None
        for item in _list(thread, "messages"):
            if not isinstance(item, dict):
                events.append(change.ignored("meta.history", "a message that is not an object", {"message": item}))
                continue
            status = _str(_dict(item.get("history_context")).get("status")) or ""
            sent_by_us = "to" in item or (business and e164_or_raw(item.get("from")) == business)
            if sent_by_us:
                events += _guarded(change, _echo, item, status, thread_id)
            else:
                events += _guarded(change, _message, item, status)
    return events


def _state_sync(change, item):
    if not isinstance(item, dict) or item.get("type") != "contact" or not isinstance(item.get("contact"), dict):
        kind = item.get("type") if isinstance(item, dict) else None
        return [change.ignored(f"meta.smb_app_state_sync.{kind}", "a state sync this integration does not read", item)]
    contact = item["contact"]
    address = _str(contact.get("phone_number")) or _str(contact.get("user_id"))
    if not address:
        return [change.ignored("meta.smb_app_state_sync.contact", "a contact without a number", item)]
    phone_kind, phone = classify_sender(address)
    return [
        ContactSync(
            phone=phone,
            action=_str(item.get("action")) or "add",
            name=_str(contact.get("full_name")),
            first_name=_str(contact.get("first_name")),
            phone_kind=phone_kind,
            user_id=_str(contact.get("user_id")) or (phone if phone_kind == USER_ID else None),
            timestamp=utc_from_timestamp(_dict(item.get("metadata")).get("timestamp")),
            account_ref=change.account_ref,
            raw=item,
        )
    ]


def _user_preference(change, item):
    """A person stopping or resuming marketing messages in WhatsApp itself."""
    if not isinstance(item, dict):
        return [change.ignored("meta.user_preferences", "a preference that is not an object", {"item": item})]
    value = (_str(item.get("value")) or "").lower()
    if item.get("category") != "marketing_messages" or value not in MARKETING_PREFERENCES:
        reason = f"a preference this integration does not read ({item.get('category')}: {value})"
        return [change.ignored("meta.user_preferences", reason, item)]
    address = _str(item.get("wa_id")) or _str(item.get("user_id"))
    if not address:
        contact = change.contact()
        address = _str(contact.get("wa_id") or contact.get("user_id"))
    if not address:
        return [change.ignored("meta.user_preferences", "a preference naming no one", item)]
    sender_kind, sender = classify_sender(address)
    return [
        ConsentUpdate(
            sender=sender,
            granted=MARKETING_PREFERENCES[value],
            sender_kind=sender_kind,
            user_id=_str(item.get("user_id")) or (sender if sender_kind == USER_ID else None),
            detail=_str(item.get("detail")),
            provider_value=value,
            timestamp=utc_from_timestamp(item.get("timestamp")),
            account_ref=change.account_ref,
            raw=item,
        )
    ]


# Templates and account
def _template_status(change):
    value = change.value
    name = _str(value.get("message_template_name"))
    if not name:
        return [change.ignored("meta.message_template_status_update", "a template update naming no template", value)]
    return [
        TemplateStatusUpdate(
            template_name=name,
            language=_str(value.get("message_template_language")),
            status=(_str(value.get("event")) or "").upper(),
            reason=_str(value.get("reason")),
            template_id=_str(value.get("message_template_id")),
            account_ref=change.waba or change.account_ref,
            category=_str(value.get("message_template_category")),
            explanation=_template_explanation(value),
            raw=value,
        )
    ]


def _template_explanation(value):
    """Meta's words on a template's review: ``rejection_info`` (reason, recommendation) of a
    rejection, ``other_info`` (title, description) of a pause or a disabling."""
    rejection, other = _dict(value.get("rejection_info")), _dict(value.get("other_info"))
    parts = [
        " ".join(text for text in (_str(rejection.get("reason")), _str(rejection.get("recommendation"))) if text),
        ": ".join(text for text in (_str(other.get("title")), _str(other.get("description"))) if text),
    ]
    return " ".join(part for part in parts if part) or None


def _account_update(change, kind):
    value = change.value
    event = (
        value.get("event")
        or value.get("decision")
        or value.get("new_category")
        or value.get("new_quality_score")
        or value.get("alert_type")
    )
    template = kind.startswith("template_")
    skipped = ("message_template_id", "message_template_name", "message_template_language", "messaging_product")
    return AccountUpdate(
        kind=kind,
        event=_str(event),
        account_ref=change.account_ref if not template else (change.waba or change.account_ref),
        template_id=_str(value.get("message_template_id")) if template else None,
        template_name=_str(value.get("message_template_name")) if template else None,
        language=_str(value.get("message_template_language")) if template else None,
        phone_number=e164_or_raw(value.get("display_phone_number") or value.get("phone_number")),
        details={key: val for key, val in value.items() if key not in skipped},
        timestamp=utc_from_timestamp(change.entry.get("time")),
        raw=value,
    )


# Small readers
def _str(value):
    """A non-empty string of a scalar the provider wrote (ids can be numbers), else None."""
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return None
    text = str(value)
    return text if text else None


def _dict(value):
    return value if isinstance(value, dict) else {}


def _list(container, key):
    value = container.get(key) if isinstance(container, dict) else None
    return value if isinstance(value, list) else []


def _profile(contact):
    return _dict(contact.get("profile"))


def _errors(errors):
    """Meta's error objects as ({"code", "title", "details"}, ...)."""
    result = []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            result.append(
                {
                    "code": _str(error.get("code")),
                    "title": _str(error.get("title")) or _str(error.get("message")),
                    "details": _str(_dict(error.get("error_data")).get("details")),
                }
            )
    return tuple(result)


def _referral(referral):
    """A click-to-WhatsApp ad's referral, with Meta's key names."""
    referral = _dict(referral)
    kept = {key: referral[key] for key in REFERRAL_KEYS if _str(referral.get(key))}
    return kept or None


def _location(body):
    keys = ("latitude", "longitude", "name", "address", "url")
    return {key: body[key] for key in keys if body.get(key) is not None and not isinstance(body[key], (dict, list))}


def _location_text(location):
    parts = [str(location[key]) for key in ("name", "address") if location.get(key)]
    if parts:
        return " - ".join(parts)
    if "latitude" in location and "longitude" in location:
        return f"{location['latitude']}, {location['longitude']}"
    return None


def _shared_contact(contact):
    name = _dict(contact.get("name"))
    full = _str(name.get("formatted_name")) or " ".join(
        part for part in (_str(name.get("first_name")), _str(name.get("last_name"))) if part
    )
    phones = []
    for phone in _list(contact, "phones"):
        if isinstance(phone, dict) and (phone.get("wa_id") or phone.get("phone")):
            phones.append(e164_or_raw(phone.get("wa_id") or phone.get("phone")))
    emails = [_str(e.get("email")) for e in _list(contact, "emails") if isinstance(e, dict) and _str(e.get("email"))]
    return {
        "name": full or None,
        "phones": phones,
        "emails": emails,
        "organization": _str(_dict(contact.get("org")).get("company")),
    }


def _order(body):
    items = []
    for product in _list(body, "product_items"):
        if isinstance(product, dict):
            items.append(
                {
                    "product_retailer_id": _str(product.get("product_retailer_id")),
                    "quantity": product.get("quantity"),
                    "item_price": product.get("item_price"),
                    "currency": _str(product.get("currency")),
                }
            )
    return {"catalog_id": _str(body.get("catalog_id")), "text": _str(body.get("text")), "items": items}


def _reaction(change, item, message_id, timestamp, **who):
    """A reaction (inbound, or the business's from the app): an empty emoji takes it off."""
    reaction = _dict(item.get("reaction"))
    emoji = _str(reaction.get("emoji"))
    return [
        Reaction(
            provider_message_id=message_id,
            reaction_to=_str(reaction.get("message_id")),
            emoji=emoji,
            removed=not emoji,
            timestamp=timestamp,
            account_ref=change.account_ref,
            raw=item,
            **who,
        )
    ]


def _revoke(change, item, message_id, timestamp, kind, **who):
    """A message deleted for everyone by whoever sent it (the person, or the business from the app)."""
    original = _str(_dict(item.get("revoke")).get("original_message_id"))
    if not original:
        return [change.ignored(kind, "a deletion naming no message", item, message_id)]
    return [
        MessageDeleted(
            provider_message_id=original,
            event_id=message_id,
            timestamp=timestamp,
            account_ref=change.account_ref,
            raw=item,
            **who,
        )
    ]
