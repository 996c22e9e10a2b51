"""The simulator's HTTP server: provider send endpoints, signed status callbacks, a control API.

Control API (JSON):
- ``POST /_sim/config``: merge settings: ``latency_ms``, ``fail_next`` (error codes answered to the
  next sends, one each: a provider code such as ``131047`` or ``21610``, or ``"http:503"``),
  ``statuses`` (the callbacks posted after each send, e.g. ``["sent", "delivered", "read"]``),
  ``status_delay_ms``, ``shuffle`` (post them out of order), ``duplicate`` (post each twice),
  ``callbacks`` (false: post none), ``meta_webhook_url``, ``meta_app_secret``, ``meta_access_token``,
  ``twilio_credentials`` ({sid: token}), ``infobip_api_key``, ``callback_headers``.
- ``GET /_sim/messages``: what was sent, in order; ``POST /_sim/reset``: forget it and reset settings.
- ``POST /_sim/inbound``: post a correctly signed inbound webhook of ``provider`` to ``url``: a text
  message by default, or any ``kind`` of ``INBOUND_KINDS`` (reactions, edits, media, statuses,
  coexistence echoes, consent, identity and account events...) in the provider's documented shape.
- Account health: ``GET /<phone-number-id>?fields=...`` (quality rating, messaging limit tier...),
  Twilio's ``GET /2010-04-01/Accounts/<sid>.json`` (``twilio_account_status``, ``twilio_account_type``),
  Infobip's ``GET /account/1/balance`` (``infobip_balance``), ``GET /custom/health``; ``POST
  /_sim/phone_number`` sets a number's ``quality_rating``/``messaging_limit_tier`` and posts the signed
  ``phone_number_quality_update`` webhook; ``GET /_sim/read_receipts`` lists the "mark as read" received.
- Meta message templates: ``POST /_sim/templates`` adds templates made elsewhere (WhatsApp Manager),
  ``GET /_sim/templates`` lists them all; ``POST /_sim/templates/<name>/status`` is Meta's review
  (``{"status": "APPROVED"|"REJECTED"..., "reason", "quality", "category", "language", "url"}``),
  posted back as signed ``message_template_status_update`` (quality, category) webhooks. Templates
  are created PENDING through the Graph API, listed page by page (``paging.cursors.after``, ``next``),
  edited through ``POST /<template-id>``; header samples go through the Resumable Upload API
  (``POST /<app-id>/uploads``, ``POST /upload:<session>``). A template the simulator knows is refused
  when sent unapproved (132001) or with the wrong number of parameters (132000). A FLOW button
  (``flow_id``/``flow_name``/``flow_json``, ``flow_action``, ``navigate_screen``; one per template, on
  a flow the simulator does not list as unpublished) is sent with one ``action`` parameter (its
  ``flow_token``).
- WhatsApp Flows: ``GET /<waba-id>/flows`` lists the WABA's flows page by page (``limit``, ``after``;
  ``id``, ``name``, ``status``, ``categories``, ``validation_errors``): ``DEFAULT_FLOWS`` until ``POST
  /_sim/flows`` (``{"waba_id", "flows": [...]}``) replaces that WABA's list. A flow message naming a flow
  the simulator lists that is not published is refused (131009), as Meta does.
"""

import base64
import gc
import hashlib
import hmac
import json
import logging
import random
import re
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from twilio.request_validator import RequestValidator

_logger = logging.getLogger(__name__)

DEFAULTS = {
    "latency_ms": 0,
    "fail_next": [],
    "statuses": None,  # None: each provider's usual sequence
    "status_delay_ms": 20,
    "shuffle": False,
    "duplicate": False,
    "callbacks": True,
    "callback_loss": 0.0,  # share of status callbacks never posted (a provider's lost webhook)
    "callback_duplicates": 0.0,  # share of status callbacks posted twice
    "callback_retries": True,  # a callback the receiver did not take is posted again later
    "meta_webhook_url": None,
    "meta_app_secret": "demo-app-secret",
    "meta_access_token": None,
    "twilio_credentials": None,
    "infobip_api_key": None,
    "callback_headers": {},  # added to every callback (e.g. a test server's session cookie)
    "twilio_account_status": "active",  # GET /Accounts/<sid>.json: active, suspended, closed
    "twilio_account_type": "Full",  # or Trial
    "infobip_balance": 100.0,  # GET /account/1/balance
}
# A Meta phone number node (GET /<phone-number-id>?fields=...) until POST /_sim/phone_number changes it
PHONE_NUMBER_DEFAULTS = {
    "display_phone_number": "+1 555-010-0001",
    "verified_name": "Simulated Business",
    "quality_rating": "GREEN",
    "messaging_limit_tier": "TIER_1K",
    "name_status": "APPROVED",
    "code_verification_status": "VERIFIED",
}
# What GET /<waba-id>/flows lists for a WABA nobody seeded (POST /_sim/flows)
DEFAULT_FLOWS = (
    {"id": "1234567890", "name": "Sign up", "status": "PUBLISHED", "categories": ["SIGN_UP"]},
    {"id": "1234567891", "name": "Book an appointment", "status": "PUBLISHED", "categories": ["APPOINTMENT_BOOKING"]},
    {"id": "1234567892", "name": "Customer satisfaction", "status": "DRAFT", "categories": ["SURVEY"]},
    {"id": "1234567893", "name": "Lead form 2024", "status": "DEPRECATED", "categories": ["LEAD_GENERATION", "OTHER"]},
)
TIER_ORDER = ("TIER_NOT_SET", "TIER_50", "TIER_250", "TIER_1K", "TIER_2K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED")
CALLBACK_ATTEMPTS = 12  # about two minutes of retries
USUAL_STATUSES = {"meta": ["sent", "delivered", "read"], "twilio": ["sent", "delivered"], "infobip": ["delivered"]}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
META_SEND = re.compile(r"^/v[\d.]+/(?P<number>[^/]+)/messages$")
META_TEMPLATES = re.compile(r"^/v[\d.]+/(?P<waba>[^/]+)/message_templates$")
META_FLOWS = re.compile(r"^/v[\d.]+/(?P<waba>[^/]+)/flows$")
META_MEDIA_UPLOAD = re.compile(r"^/v[\d.]+/(?P<number>[^/]+)/media$")
META_NODE = re.compile(r"^/v[\d.]+/(?P<node>[^/]+)$")
META_TEMPLATE_NODE = re.compile(r"^/v[\d.]+/(?P<template_id>\d+)$")
META_UPLOAD_START = re.compile(r"^/v[\d.]+/(?P<app>[^/]+)/uploads$")
META_UPLOAD = re.compile(r"^/v[\d.]+/upload:(?P<session>[^/]+)$")
SIM_TEMPLATE_STATUS = re.compile(r"^/_sim/templates/(?P<name>[^/]+)/status$")
# Fields of GET /<waba-id>/message_templates when none are asked (quality and rejection only on request)
META_TEMPLATE_DEFAULT_FIELDS = ("id", "name", "parameter_format", "components", "language", "status", "category")
TWILIO_SEND = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
TWILIO_ACCOUNT = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)\.json$")


class SimState:
    """What the simulator was told and what it received; shared by the handler threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.settings = dict(DEFAULTS)
        self.sent = []
        self.templates = []  # Meta message templates, each with its WABA under "_waba"
        self.uploads = {}  # resumable upload session -> {"length", "type", "name", "received"}
        self.handles = set()  # handles of finished uploads (template header samples)
        self.infobip_logs = {}  # Infobip messageId -> {"to", "status", "sentAt"}: GET /sms/3/logs
        self.read_receipts = []  # {"phone_number_id", "message_id", "typing", "at"} of each "mark as read"
        self.phone_numbers = {}  # phone number id -> changes to PHONE_NUMBER_DEFAULTS
        self.flows = {}  # WABA id -> its flows (POST /_sim/flows), else DEFAULT_FLOWS
        self.callbacks = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sim-callback")
        self.http = requests.Session()

    def configure(self, values):
        with self.lock:
            self.settings.update({k: v for k, v in values.items() if k in DEFAULTS})
            self.settings["fail_next"] = list(self.settings.get("fail_next") or [])

    def reset(self):
        with self.lock:
            self.read_receipts = []
            self.phone_numbers = {}
            self.flows = {}
            self.settings = dict(DEFAULTS)
            self.sent = []
            self.templates = []
            self.uploads = {}
            self.handles = set()
            self.infobip_logs = {}

    def take_failure(self):
        with self.lock:
            return self.settings["fail_next"].pop(0) if self.settings["fail_next"] else None

    def record(self, provider, message_id, to, body, callback=None, at=None):
        """Keep a message sent to the simulator; ``at`` is when its request arrived (what a
        provider's rate limit counts), not when it is answered after the simulated latency."""
        with self.lock:
            self.sent.append(
                {
                    "provider": provider,
                    "id": message_id,
                    "to": to,
                    "body": body,
                    "callback": callback,
                    "at": at or time.time(),
                }
            )
            if len(self.sent) % 1000 == 0:
                # Kept until a reset: out of the cyclic collector, whose full passes over tens of
                # thousands of them stalled every thread for tens of ms, then stamped the requests
                # that waited meanwhile as arriving together (bench_dispatch --processes: 538
                # arrivals in one second for 497 departures; 501 without those passes).
                gc.freeze()

    def statuses_for(self, provider):
        statuses = self.settings["statuses"] or USUAL_STATUSES[provider]
        statuses = list(statuses)
        if self.settings["shuffle"]:
            random.shuffle(statuses)
        if self.settings["duplicate"]:
            statuses = [status for status in statuses for _ in (0, 1)]
        return statuses

    def post_later(self, post, statuses):
        """Post the status callbacks in the background, ``status_delay_ms`` apart."""
        if not self.settings["callbacks"]:
            return
        delay = self.settings["status_delay_ms"] / 1000

        loss, duplicates = self.settings["callback_loss"], self.settings["callback_duplicates"]
        posted = [
            status
            for status in statuses
            if random.random() >= loss
            for _copy in range(2 if random.random() < duplicates else 1)
        ]

        def run():
            for status in posted:
                time.sleep(delay)
                self._post_or_retry(post, status, 0)

        self.callbacks.submit(run)

    def _post_or_retry(self, post, status, attempt):
        """Post one callback; as the providers do, try again later (backing off, for about two
        minutes) when the receiver is down or answers an error, so that a restart loses none."""
        try:
            response = post(status)
            failed = isinstance(response, requests.Response) and response.status_code >= 500
        except requests.RequestException as error:
            failed, response = True, error
        if not failed:
            return
        if attempt >= CALLBACK_ATTEMPTS or not self.settings["callback_retries"]:
            _logger.warning("callback %s given up: %s", status, response)
            return
        timer = threading.Timer(
            min(0.5 * 2**attempt, 15.0),
            lambda: self.callbacks.submit(self._post_or_retry, post, status, attempt + 1),
        )
        timer.daemon = True
        timer.start()


def meta_signature(body, secret):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def meta_envelope(waba_id, number_id, value_key, items, contacts=None):
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100001", "phone_number_id": number_id},
        value_key: items,
    }
    if contacts:
        value["contacts"] = contacts
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"field": "messages", "value": value}]}],
    }


# Inbound kinds (``POST /_sim/inbound`` with a "kind"), each in its provider's documented shape: the
# samples of tests/unit/payloads name the pages. Spec keys they read, all optional but "from":
# id, from, to, text, user_id (a WhatsApp business-scoped user id: with no "from", the message names
# no phone number), profile_name, context_id (replied to), reaction_to, emoji, original_id (edited or
# deleted message), media_id / media_url, mime_type, latitude, longitude, status, error_code.
META_MESSAGE_KINDS = (
    "text",
    "image",
    "video",
    "document",
    "audio",
    "voice",
    "sticker",
    "sticker_animated",
    "location",
    "contacts",
    "order",
    "reaction",
    "reaction_removed",
    "edit",
    "revoke",
    "unsupported",
    "button",
    "button_reply",
    "list_reply",
    "nfm_reply",
    "referral",
    "forwarded",
    "frequently_forwarded",
    "group",
    "system_identity_changed",
    "system_number_changed",
    "request_welcome",
    "odd_beside_good",
)
META_OTHER_KINDS = (
    "status",
    "errors",
    "echo",
    "echo_edit",
    "echo_revoke",
    "history",
    "state_sync",
    "preferences_stop",
    "preferences_resume",
    "template_status",
    "template_category",
    "template_quality",
    "template_components",
    "phone_number_quality",
    "account_update",
    "unknown_field",
)
TWILIO_KINDS = ("text", "media", "location", "button", "referral", "forwarded", "status")
INFOBIP_KINDS = (
    "sms",
    "text",
    "image",
    "document",
    "voice",
    "sticker",
    "location",
    "contact",
    "button",
    "button_reply",
    "list_reply",
    "flow_reply",
    "order",
    "reaction",
    "reaction_removed",
    "unsupported",
    "referral",
    "seen",
    "delivery",
    "identity_changed",
    "payment",
    "marketing_stop",
    "template_status",
    "odd_beside_good",
)
INBOUND_KINDS = {"meta": META_MESSAGE_KINDS + META_OTHER_KINDS, "twilio": TWILIO_KINDS, "infobip": INFOBIP_KINDS}
REFERRAL = {
    "source_url": "https://fb.me/3cr4Wqqkv",
    "source_id": "120226305854810726",
    "source_type": "ad",
    "headline": "Chat with us",
    "body": "Summer succulents are here!",
    "media_type": "image",
    "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0",
}


def _now():
    return str(int(time.time()))


def _iso_now():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())


def _meta_content(kind, spec):
    """The type-specific part of a Meta message of ``kind``."""
    text = spec.get("text", "")
    media = {"id": spec.get("media_id") or f"media-{uuid.uuid4().hex[:12]}", "sha256": "c2ltdWxhdGVk"}
    context = {"from": "15550100001", "id": spec.get("context_id") or f"wamid.SIMOUT{uuid.uuid4().hex}"}
    if kind in ("text", "referral", "forwarded", "frequently_forwarded", "group"):
        message = {"type": "text", "text": {"body": text or "Hello"}}
        if kind == "referral":
            message["referral"] = dict(REFERRAL)
        elif kind in ("forwarded", "frequently_forwarded"):
            message["context"] = {kind: True}
        elif kind == "group":
            message["group_id"] = spec.get("group_id") or "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjMzOTQzMjAyMzQ4MDQ"
        return message
    if kind in ("image", "video", "document"):
        mime = (
            spec.get("mime_type") or {"image": "image/jpeg", "video": "video/mp4", "document": "application/pdf"}[kind]
        )
        body = {**media, "mime_type": mime, "caption": text or None}
        if kind == "document":
            body["filename"] = spec.get("filename") or "document.pdf"
        return {"type": kind, kind: {k: v for k, v in body.items() if v is not None}}
    if kind in ("audio", "voice"):
        return {"type": "audio", "audio": {**media, "mime_type": "audio/ogg; codecs=opus", "voice": kind == "voice"}}
    if kind in ("sticker", "sticker_animated"):
        return {
            "type": "sticker",
            "sticker": {**media, "mime_type": "image/webp", "animated": kind == "sticker_animated"},
        }
    if kind == "location":
        location = {"latitude": spec.get("latitude", 50.8466), "longitude": spec.get("longitude", 4.3528)}
        location.update({k: spec[k] for k in ("name", "address") if spec.get(k)})
        return {"type": "location", "location": location}
    if kind == "contacts":
        card = {
            "name": {"formatted_name": spec.get("contact_name", "Barbara Johnson"), "first_name": "Barbara"},
            "phones": [{"phone": spec.get("contact_phone", "+1 (415) 555-0100"), "type": "WORK"}],
        }
        return {"type": "contacts", "contacts": [card]}
    if kind == "order":
        items = [{"product_retailer_id": "di9ozbzfi4", "quantity": 2, "item_price": 30, "currency": "USD"}]
        return {"type": "order", "order": {"catalog_id": "194836987003835", "text": text, "product_items": items}}
    if kind in ("reaction", "reaction_removed"):
        reaction = {"message_id": spec.get("reaction_to") or context["id"]}
        if kind == "reaction":
            reaction["emoji"] = spec.get("emoji", "\U0001f44d")
        return {"type": "reaction", "reaction": reaction}
    if kind == "edit":
        original = spec.get("original_id") or f"wamid.SIM{uuid.uuid4().hex}"
        edited = {"type": "text", "text": {"body": text or "(edited)"}}
        return {"type": "edit", "edit": {"original_message_id": original, "message": edited}}
    if kind == "revoke":
        return {
            "type": "revoke",
            "revoke": {"original_message_id": spec.get("original_id") or f"wamid.SIM{uuid.uuid4().hex}"},
        }
    if kind == "unsupported":
        error = {"code": 131051, "title": "Message type unknown", "message": "Message type unknown"}
        error["error_data"] = {"details": "Message type is currently not supported."}
        return {"type": "unsupported", "unsupported": {"type": "poll_creation"}, "errors": [error]}
    if kind == "button":
        payload = spec.get("payload", "STOP_PROMOTIONS")
        return {"type": "button", "button": {"payload": payload, "text": text or payload}, "context": context}
    if kind in ("button_reply", "list_reply"):
        reply = {"id": spec.get("payload", "option-1"), "title": text or "Option 1"}
        return {"type": "interactive", "interactive": {"type": kind, kind: reply}, "context": context}
    if kind == "nfm_reply":
        response = spec.get("response_json") or json.dumps({"flow_token": spec.get("flow_token", "sim-flow-token")})
        reply = {"name": "flow", "body": "Sent", "response_json": response}
        return {"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": reply}, "context": context}
    if kind == "system_identity_changed":
        identity = {"acknowledged": True, "created_timestamp": _now(), "hash": "Sjvjlx8G6Z0="}
        return {
            "type": "system",
            "system": {"body": "User identity changed", "type": "customer_identity_changed"},
            "identity": identity,
        }
    if kind == "system_number_changed":
        new = spec.get("new_number", "+12195555358").lstrip("+")
        body = f"User changed from {spec.get('from', '').lstrip('+')} to {new}"
        return {"type": "system", "system": {"body": body, "wa_id": new, "type": "user_changed_number"}}
    return {"type": kind}  # request_welcome


def meta_inbound_body(spec):
    """(id, decoded body) of a Meta webhook of ``spec["kind"]`` (see INBOUND_KINDS)."""
    kind = spec.get("kind") or "text"
    waba, number_id = spec.get("waba_id", "waba"), spec.get("phone_number_id", "100000000000001")
    wa_id = (spec.get("from") or "").lstrip("+") or None
    user_id = spec.get("user_id")
    event_id = spec.get("id") or f"wamid.SIM{uuid.uuid4().hex}"
    contact = {"profile": {"name": spec.get("profile_name", "Simulated Customer")}}
    contact.update({key: value for key, value in (("wa_id", wa_id), ("user_id", user_id)) if value})

    def envelope(field, value, metadata=True):
        if metadata:
            value = {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550100001", "phone_number_id": number_id},
                **value,
            }
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": waba, "time": int(time.time()), "changes": [{"field": field, "value": value}]}],
        }

    if kind in META_MESSAGE_KINDS:
        sender = {key: value for key, value in (("from", wa_id), ("from_user_id", user_id)) if value}
        if kind == "odd_beside_good":
            good = {
                **sender,
                "id": event_id,
                "timestamp": _now(),
                "type": "text",
                "text": {"body": spec.get("text", "")},
            }
            odd = {"id": f"wamid.SIMODD{uuid.uuid4().hex}", "timestamp": _now(), "type": "text", "text": {"body": "?"}}
            return event_id, envelope(
                "messages", {"contacts": [contact, {"profile": {"name": "?"}, "wa_id": "0"}], "messages": [odd, good]}
            )
        message = {**sender, "id": event_id, "timestamp": _now(), **_meta_content(kind, spec)}
        if spec.get("context_id") and "context" not in message:
            message["context"] = {"from": "15550100001", "id": spec["context_id"]}
        value = (
            {"messages": [message]} if kind.startswith("system_") else {"contacts": [contact], "messages": [message]}
        )
        return event_id, envelope("messages", value)
    if kind == "status":
        item = {
            "id": spec.get("id") or f"wamid.SIMOUT{uuid.uuid4().hex}",
            "status": spec.get("status", "delivered"),
            "timestamp": _now(),
        }
        item.update(
            {key: value for key, value in (("recipient_id", wa_id or user_id), ("recipient_user_id", user_id)) if value}
        )
        if item["status"] == "failed":
            item["errors"] = [{"code": int(spec.get("error_code", 131026)), "title": "Message undeliverable"}]
        elif item["status"] in ("sent", "delivered"):
            item["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}
        return item["id"], envelope("messages", {"statuses": [item]})
    if kind == "errors":
        error = {
            "code": int(spec.get("error_code", 130429)),
            "title": "Rate limit hit",
            "message": "(#130429) Rate limit hit",
        }
        return event_id, envelope("messages", {"errors": [error]})
    if kind in ("echo", "echo_edit", "echo_revoke"):
        echo = {"from": "15550100001", "id": event_id, "timestamp": _now()}
        echo.update({key: value for key, value in (("to", wa_id), ("to_user_id", user_id)) if value})
        if kind == "echo":
            echo.update(type="text", text={"body": spec.get("text", "Sent from the WhatsApp Business app")})
        else:
            original = spec.get("original_id") or f"wamid.SIMOUT{uuid.uuid4().hex}"
            if kind == "echo_edit":
                edited = {"type": "text", "text": {"body": spec.get("text", "(edited)")}}
                echo.update(type="edit", edit={"original_message_id": original, "message": edited})
            else:
                echo.update(type="revoke", revoke={"original_message_id": original})
        return event_id, envelope("smb_message_echoes", {"message_echoes": [echo]})
    if kind == "history":
        theirs = {
            "from": wa_id,
            "id": event_id,
            "timestamp": _now(),
            "type": "text",
            "text": {"body": spec.get("text", "Are you open on Sunday?")},
            "history_context": {"status": "READ"},
        }
        ours = {
            "from": "15550100001",
            "to": wa_id,
            "id": f"wamid.SIMOUT{uuid.uuid4().hex}",
            "timestamp": _now(),
            "type": "text",
            "text": {"body": "Yes, from 10 to 4."},
            "history_context": {"status": "DELIVERED"},
        }
        chunk = {
            "metadata": {"phase": 0, "chunk_order": 1, "progress": 100},
            "threads": [{"id": wa_id, "messages": [theirs, ours]}],
        }
        return event_id, envelope("history", {"history": [chunk]})
    if kind == "state_sync":
        item = {
            "type": "contact",
            "contact": {"full_name": spec.get("profile_name", "Simulated Customer"), "phone_number": wa_id},
            "action": spec.get("action", "add"),
            "metadata": {"timestamp": _now()},
        }
        return event_id, envelope("smb_app_state_sync", {"state_sync": [item]})
    if kind in ("preferences_stop", "preferences_resume"):
        value = kind.split("_")[1]
        item = {
            "wa_id": wa_id,
            "detail": f"User requested to {value} marketing messages",
            "category": "marketing_messages",
            "value": value,
            "timestamp": int(time.time()),
        }
        return event_id, envelope("user_preferences", {"contacts": [contact], "user_preferences": [item]})
    template = {
        "message_template_id": int(spec.get("template_id", 1689556908129832)),
        "message_template_name": spec.get("template_name", "order_confirmation"),
        "message_template_language": spec.get("language", "en_US"),
    }
    if kind == "template_status":
        value = {
            "event": spec.get("status", "APPROVED"),
            **template,
            "reason": spec.get("reason", "NONE"),
            "message_template_category": "UTILITY",
        }
        return event_id, envelope("message_template_status_update", value, metadata=False)
    if kind == "template_category":
        value = {**template, "previous_category": "UTILITY", "new_category": spec.get("category", "MARKETING")}
        return event_id, envelope("template_category_update", value, metadata=False)
    if kind == "template_quality":
        value = {"previous_quality_score": "GREEN", "new_quality_score": spec.get("quality", "YELLOW"), **template}
        return event_id, envelope("message_template_quality_update", value, metadata=False)
    if kind == "template_components":
        value = {**template, "message_template_element": spec.get("text", "Hi {{1}}! Welcome.")}
        return event_id, envelope("message_template_components_update", value, metadata=False)
    if kind == "phone_number_quality":
        value = {
            "display_phone_number": "15550100001",
            "event": spec.get("event", "FLAGGED"),
            "current_limit": "TIER_10K",
        }
        return event_id, envelope("phone_number_quality_update", value, metadata=False)
    if kind == "account_update":
        value = {
            "event": spec.get("event", "ACCOUNT_RESTRICTION"),
            "restriction_info": [
                {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": int(time.time()) + 86400}
            ],
        }
        return event_id, envelope("account_update", value, metadata=False)
    if kind == "unknown_field":
        call = {
            "id": f"wacid.SIM{uuid.uuid4().hex}",
            "from": wa_id,
            "to": "15550100001",
            "event": "connect",
            "timestamp": _now(),
        }
        return event_id, envelope("calls", {"contacts": [contact], "calls": [call]})
    raise ValueError(f"unknown Meta inbound kind {kind!r}")


def twilio_inbound_form(spec):
    """(sid, form) of a Twilio webhook of ``spec["kind"]`` (see INBOUND_KINDS)."""
    kind = spec.get("kind") or "text"
    sid = spec.get("id") or f"SM{uuid.uuid4().hex}"
    account = spec.get("account_sid", "ACsim")
    if kind == "status":
        status = spec.get("status", "delivered")
        form = {"MessageSid": sid, "SmsSid": sid, "AccountSid": account, "MessageStatus": status, "SmsStatus": status}
        form.update({"To": spec["from"], "From": spec.get("to", "+15005550006"), "ApiVersion": "2010-04-01"})
        if spec.get("error_code"):
            form["ErrorCode"] = str(spec["error_code"])
        return sid, form
    whatsapp = spec["from"].startswith("whatsapp:")
    form = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": account,
        "From": spec["from"],
        "To": spec.get("to", "+15005550006"),
        "Body": spec.get("text", ""),
        "NumMedia": "0",
        "SmsStatus": "received",
    }
    if spec.get("kind") and whatsapp:
        form.update(
            ProfileName=spec.get("profile_name", "Simulated Customer"), WaId=spec["from"][10:], MessageType="text"
        )
    if kind == "media":
        mime = spec.get("mime_type", "image/jpeg")
        form.update(
            NumMedia="1",
            MediaContentType0=mime,
            MediaUrl0=spec.get(
                "media_url", f"https://api.twilio.com/2010-04-01/Accounts/{account}/Messages/{sid}/Media/ME1"
            ),
        )
        form["MessageType"] = mime.split("/")[0] if whatsapp else form.get("MessageType")
    elif kind == "location":
        form.update(
            MessageType="location",
            Latitude=str(spec.get("latitude", 50.8466)),
            Longitude=str(spec.get("longitude", 4.3528)),
            Label=spec.get("name", "Grand-Place"),
            Address=spec.get("address", "Brussels"),
        )
    elif kind == "button":
        payload = spec.get("payload", "STOP_PROMOTIONS")
        form.update(
            MessageType="button",
            ButtonPayload=payload,
            ButtonText=spec.get("text") or payload,
            Body=spec.get("text") or payload,
        )
    elif kind == "referral":
        form.update(
            ReferralSourceId=REFERRAL["source_id"],
            ReferralSourceType=REFERRAL["source_type"],
            ReferralSourceUrl=REFERRAL["source_url"],
            ReferralHeadline=REFERRAL["headline"],
            ReferralBody=REFERRAL["body"],
            ReferralCtwaClid=REFERRAL["ctwa_clid"],
        )
    elif kind == "forwarded":
        form.update(Forwarded="true", FrequentlyForwarded=str(bool(spec.get("frequently"))).lower())
    if spec.get("context_id"):
        form.update(OriginalRepliedMessageSid=spec["context_id"], OriginalRepliedMessageSender=form["To"])
    return sid, {key: value for key, value in form.items() if value is not None}


def infobip_inbound_body(spec):
    """(id, decoded body) of an Infobip webhook of ``spec["kind"]`` (see INBOUND_KINDS)."""
    kind = spec.get("kind") or "sms"
    message_id = spec.get("id") or f"ib-in-{uuid.uuid4().hex}"
    sender = spec["from"].lstrip("+")
    to = spec.get("to", "ACME" if kind == "sms" else "447860099299")
    text = spec.get("text", "")
    if kind == "sms":
        result = {
            "messageId": message_id,
            "from": sender,
            "to": to,
            "text": text,
            "cleanText": text,
            "receivedAt": _iso_now(),
            "smsCount": 1,
        }
        return message_id, {"results": [result], "messageCount": 1, "pendingMessageCount": 0}
    if kind == "seen":
        return message_id, {
            "results": [{"messageId": message_id, "from": sender, "to": to, "sentAt": _iso_now(), "seenAt": _iso_now()}]
        }
    if kind == "delivery":
        groups = {
            "delivered": (3, "DELIVERED", "DELIVERED_TO_HANDSET"),
            "failed": (2, "UNDELIVERABLE", "UNDELIVERABLE_NOT_DELIVERED"),
        }
        group_id, group, name = groups.get(spec.get("status", "delivered"), groups["delivered"])
        result = {
            "messageId": message_id,
            "to": sender,
            "sentAt": _iso_now(),
            "doneAt": _iso_now(),
            "messageCount": 1,
            "status": {"groupId": group_id, "groupName": group, "id": 5, "name": name},
        }
        result["error"] = {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "permanent": False}
        return message_id, {"results": [result]}
    if kind == "identity_changed":
        content = {
            "type": "user_identity_changed",
            "description": "User identity changed",
            "hash": "Sjvjlx8G6Z0=",
            "userNumber": sender,
        }
        return message_id, {"from": to, "content": content, "createdAt": _iso_now()}
    if kind == "payment":
        content = {
            "from": sender,
            "type": "payment",
            "referenceId": "order-42",
            "paymentId": message_id,
            "paymentStatus": "CAPTURED",
            "currency": "INR",
            "totalAmountValue": 21000,
            "totalAmountOffset": 100,
        }
        return message_id, {"from": to, "content": content, "createdAt": _iso_now()}
    if kind == "marketing_stop":
        content = {
            "sender": to,
            "from": sender,
            "notificationMessagesStatus": "STOPPED",
            "description": "User requested to stop marketing messages",
        }
        return message_id, {"from": to, "content": content, "createdAt": _iso_now()}
    if kind == "template_status":
        change = {"type": "TEMPLATE_STATUS_UPDATE", "newStatus": spec.get("status", "APPROVED"), "reason": "NONE"}
        body = {
            "messageTemplateId": 1689556908129832,
            "messageTemplateName": spec.get("template_name", "order_confirmation"),
            "messageTemplateLanguage": spec.get("language", "en"),
            "timestamp": _iso_now(),
            "change": change,
        }
        return message_id, body
    context = {"from": to, "id": spec["context_id"]} if spec.get("context_id") else None
    media_url = spec.get("media_url") or f"https://api.infobip.com/whatsapp/1/senders/{to}/media/{uuid.uuid4().hex}"
    messages = {
        "text": {"type": "TEXT", "text": text or "Hello"},
        "image": {"type": "IMAGE", "url": media_url, "caption": text or None},
        "document": {"type": "DOCUMENT", "url": media_url, "caption": text or None},
        "voice": {"type": "VOICE", "url": media_url},
        "sticker": {"type": "STICKER", "url": media_url},
        "location": {
            "type": "LOCATION",
            "latitude": spec.get("latitude", 45.8131647),
            "longitude": spec.get("longitude", 15.9779624),
            "name": spec.get("name"),
            "address": spec.get("address"),
        },
        "contact": {
            "type": "CONTACT",
            "contacts": [
                {
                    "name": {"formattedName": spec.get("contact_name", "John Smith")},
                    "phones": [{"phone": spec.get("contact_phone", "+385919998888"), "type": "CELL"}],
                }
            ],
        },
        "button": {
            "type": "BUTTON",
            "text": text or "Stop promotions",
            "payload": spec.get("payload", "STOP_PROMOTIONS"),
        },
        "button_reply": {
            "type": "INTERACTIVE_BUTTON_REPLY",
            "id": spec.get("payload", "option-1"),
            "title": text or "Option 1",
        },
        "list_reply": {"type": "INTERACTIVE_LIST_REPLY", "id": spec.get("payload", "row-1"), "title": text or "Row 1"},
        "flow_reply": {
            "type": "INTERACTIVE_FLOW_REPLY",
            "text": "Sent",
            "response": {"flow_token": spec.get("flow_token", "sim-flow-token")},
        },
        "order": {
            "type": "ORDER",
            "catalogId": "194836987003835",
            "text": text,
            "productItems": [{"productRetailerId": "di9ozbzfi4", "quantity": 2, "itemPrice": 30.0, "currency": "EUR"}],
        },
        "reaction": {"type": "REACTION", "emoji": spec.get("emoji", "\U0001f44d"), "action": "ADDED"},
        "reaction_removed": {"type": "REACTION", "action": "REMOVED"},
        "unsupported": {"type": "UNSUPPORTED"},
        "referral": {
            "type": "TEXT",
            "text": text or "Hello",
            "referral": {
                "sourceType": "AD",
                "sourceId": REFERRAL["source_id"],
                "sourceUrl": REFERRAL["source_url"],
                "headline": REFERRAL["headline"],
                "body": REFERRAL["body"],
                "ctwaClickId": REFERRAL["ctwa_clid"],
            },
        },
        "odd_beside_good": {"type": "TEXT", "text": text or "Hello"},
    }
    if kind not in messages:
        raise ValueError(f"unknown Infobip inbound kind {kind!r}")
    message = {key: value for key, value in messages[kind].items() if value is not None}
    if kind in ("reaction", "reaction_removed"):
        context = {"from": to, "id": spec.get("reaction_to") or f"ib-out-{uuid.uuid4().hex}"}
    if context:
        message["context"] = context
    result = {
        "from": sender,
        "to": to,
        "integrationType": "WHATSAPP",
        "receivedAt": _iso_now(),
        "messageId": message_id,
        "message": message,
        "contact": {"name": spec.get("profile_name", "Simulated Customer")},
        "price": {"pricePerMessage": 0, "currency": "EUR"},
    }
    results = [result]
    if kind == "odd_beside_good":
        results.insert(0, {"to": to, "integrationType": "WHATSAPP", "message": {"type": "TEXT", "text": "no id"}})
    return message_id, {"results": results, "messageCount": len(results), "pendingMessageCount": 0}


def _meta_error(message, code, title=None, user_message=None, details=None):
    """A Graph API error body."""
    error = {"message": message, "type": "OAuthException", "code": 100 if code > 1000000 else code}
    if code > 1000000:
        error["error_subcode"] = code
    if title:
        error.update(error_user_title=title, error_user_msg=user_message or title)
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


def _stored_template(waba, payload, status="PENDING", quality=None):
    """A template as the simulator keeps it (Meta's fields, and its WABA under ``_waba``)."""
    return {
        "id": str(random.randint(10**14, 10**15)),
        "name": payload["name"],
        "language": payload["language"],
        "category": payload.get("category") or "UTILITY",
        "components": payload.get("components") or [],
        "parameter_format": payload.get("parameter_format") or "POSITIONAL",
        "status": status,
        "quality_score": {"score": quality or "UNKNOWN", "date": int(time.time())},
        "rejected_reason": "NONE",
        "_waba": waba,
    }


def _template_parameter_counts(components):
    """{component: number of parameters a send must give}: header (its text variable or media),
    body (its variables), ``button:<index>`` (a URL's variable, a coupon code)."""
    counts = {}
    for component in components:
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            if component.get("format") in ("IMAGE", "VIDEO", "DOCUMENT") or "{{" in (component.get("text") or ""):
                counts["header"] = 1
        elif kind == "BODY" and "text" not in component:
            counts["body"] = 1  # an authentication template: Meta's text, with the code
        elif kind == "BODY":
            names = set(re.findall(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}", component.get("text") or ""))
            if names:
                counts["body"] = len(names)
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or ()):
                if (button.get("type") == "URL" and "{{" in (button.get("url") or "")) or button.get("type") in (
                    "COPY_CODE",
                    "OTP",
                    "FLOW",  # its action parameter: the flow token (this addon always sends one)
                ):
                    counts[f"button:{index}"] = 1
    return counts


def _flow_button_problem(components, flows):
    """Meta's error for the FLOW buttons of a template being created or edited, or None: one flow
    button at most, naming its flow (id, name or Flow JSON), navigating to a screen; a flow of
    ``flows`` (the WABA's, as listed) must be published."""
    buttons = [
        button
        for component in components
        if isinstance(component, dict) and str(component.get("type", "")).upper() == "BUTTONS"
        for button in component.get("buttons") or ()
        if isinstance(button, dict) and button.get("type") == "FLOW"
    ]
    if len(buttons) > 1:
        return _meta_error("Invalid parameter", 100, "Too many flow buttons", "A template has one FLOW button.")
    for button in buttons:
        if not (button.get("text") or "").strip():
            return _meta_error("Invalid parameter", 100, "Button text is required", "The FLOW button needs text.")
        if not any(button.get(key) for key in ("flow_id", "flow_name", "flow_json")):
            return _meta_error(
                "Invalid parameter", 100, "Flow is required", "Give the FLOW button a flow_id, flow_name or flow_json."
            )
        action = str(button.get("flow_action") or "navigate").lower()
        if action not in ("navigate", "data_exchange"):
            return _meta_error("Invalid parameter", 100, "Invalid flow_action", f"Unknown flow_action {action}.")
        if action == "navigate" and not button.get("navigate_screen"):
            return _meta_error(
                "Invalid parameter", 100, "navigate_screen is required", "A navigating FLOW button names its screen."
            )
        known = next((flow for flow in flows if flow["id"] == str(button.get("flow_id"))), None)
        if known is not None and known["status"] not in ("PUBLISHED", "THROTTLED"):
            return _meta_error(
                "Invalid parameter", 100, "Flow is not published", f"Flow {known['id']} is {known['status']}."
            )
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ProviderSimulator/1.0"
    # Headers and body are two writes: without TCP_NODELAY, Nagle's algorithm holds the body until
    # the client's delayed ACK (about 40 ms), which would add latency no real provider adds.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        _logger.debug("%s " + format, self.address_string(), *args)

    @property
    def state(self):
        return self.server.state

    # Plumbing
    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self):
        try:
            return json.loads(self._body() or b"{}")
        except ValueError:
            return None

    def _answer(self, status, payload=None, content_type="application/json", raw=None, headers=None):
        body = raw if raw is not None else json.dumps(payload if payload is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        # The demo and the inbox tours drive the control API from a browser page served by Odoo.
        self.send_header("Access-Control-Allow-Origin", "*")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _latency(self):
        latency = self.state.settings["latency_ms"]
        if latency:
            time.sleep(latency / 1000)

    def do_GET(self):
        self._route("GET")

    def do_OPTIONS(self):
        """CORS preflight: any origin may call the simulator (it is a local test tool)."""
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        self._route("POST")

    def _route(self, method):
        self.arrived_at = time.time()
        path = urlsplit(self.path).path
        routes = [
            ("POST", "/_sim/config", self._sim_config),
            ("POST", "/_sim/reset", self._sim_reset),
            ("GET", "/_sim/messages", self._sim_messages),
            ("POST", "/_sim/inbound", self._sim_inbound),
            ("GET", "/_sim/health", lambda: self._answer(200, {"ok": True})),
            ("GET", "/_sim/read_receipts", self._sim_read_receipts),
            ("POST", "/_sim/phone_number", self._sim_phone_number),
            ("GET", META_NODE, self._meta_phone_number),
            ("GET", TWILIO_ACCOUNT, self._twilio_account),
            ("GET", "/account/1/balance", self._infobip_balance),
            ("GET", "/custom/health", self._custom_health),
            ("POST", META_SEND, self._meta_send),
            ("GET", META_TEMPLATES, self._meta_list_templates),
            ("POST", META_TEMPLATES, self._meta_create_template),
            ("GET", META_FLOWS, self._meta_flows),
            ("POST", "/_sim/flows", self._sim_flows_seed),
            ("POST", META_MEDIA_UPLOAD, self._meta_upload),
            ("POST", TWILIO_SEND, self._twilio_send),
            ("POST", "/sms/3/messages", self._infobip_send),
            ("GET", "/sms/3/logs", self._infobip_logs),
            ("POST", "/sms/2/text/advanced", self._infobip_send),
            ("POST", "/mms/2/messages", self._infobip_send),  # MMS: same envelope, content.messageSegments
            ("POST", "/whatsapp/1/message/text", self._infobip_whatsapp_send),
            ("POST", "/custom/send", self._custom_send),
            ("GET", re.compile(r"^/_sim/media/(?P<media>[^/]+)$"), self._media_bytes),
            ("POST", "/_sim/templates", self._sim_templates_seed),
            ("GET", "/_sim/templates", self._sim_templates_list),
            ("POST", SIM_TEMPLATE_STATUS, self._sim_template_status),
            ("POST", META_UPLOAD_START, self._meta_upload_start),
            ("POST", META_UPLOAD, self._meta_upload_bytes),
            ("GET", META_UPLOAD, self._meta_upload_offset),
            ("POST", META_TEMPLATE_NODE, self._meta_edit_template),
            ("GET", META_NODE, self._meta_media_info),
        ]
        for route_method, pattern, handler in routes:
            if route_method != method:
                continue
            if isinstance(pattern, str) and pattern == path:
                return handler()
            # A handler answering NotImplemented leaves the request to the next route of its path.
            if (
                not isinstance(pattern, str)
                and (match := pattern.match(path))
                and handler(**match.groupdict()) is not NotImplemented
            ):
                return None
        return self._answer(404, {"error": f"no route {method} {path}"})

    # Control API
    def _sim_config(self):
        values = self._json_body()
        if not isinstance(values, dict):
            return self._answer(400, {"error": "JSON object expected"})
        self.state.configure(values)
        return self._answer(200, {k: v for k, v in self.state.settings.items() if "secret" not in k})

    def _sim_reset(self):
        self._body()
        self.state.reset()
        return self._answer(200, {"ok": True})

    def _sim_messages(self):
        with self.state.lock:
            return self._answer(200, {"messages": list(self.state.sent)})

    def _sim_inbound(self):
        spec = self._json_body() or {}
        builders = {"meta": self._inbound_meta, "twilio": self._inbound_twilio, "infobip": self._inbound_infobip}
        builder = builders.get(spec.get("provider"))
        if builder is None or not spec.get("url"):
            return self._answer(400, {"error": "provider (meta|twilio|infobip) and url are required"})
        if spec.get("kind") and spec["kind"] not in INBOUND_KINDS[spec["provider"]]:
            return self._answer(400, {"error": f"kind is one of {', '.join(INBOUND_KINDS[spec['provider']])}"})
        if not spec.get("from") and not (spec["provider"] == "meta" and spec.get("user_id")):
            return self._answer(400, {"error": "from is required (or user_id for a Meta user known by it only)"})
        message_id, response = builder(spec)
        return self._answer(200, {"id": message_id, "status": response.status_code, "body": response.text[:2000]})

    def _inbound_meta(self, spec):
        if spec.get("kind"):
            wamid, payload = meta_inbound_body(spec)
        else:
            wamid = spec.get("id") or f"wamid.SIM{uuid.uuid4().hex}"
            wa_id = spec["from"].lstrip("+")
            message = {"from": wa_id, "id": wamid, "timestamp": _now(), "type": spec.get("type", "text")}
            if message["type"] == "text":
                message["text"] = {"body": spec.get("text", "")}
            if spec.get("context_id"):
                message["context"] = {"from": wa_id, "id": spec["context_id"]}
            message.update(spec.get("message") or {})
            payload = meta_envelope(
                spec.get("waba_id", "waba"),
                spec.get("phone_number_id", "100000000000001"),
                "messages",
                [message],
                contacts=[{"profile": {"name": spec.get("profile_name", "Simulated Customer")}, "wa_id": wa_id}],
            )
        body = json.dumps(payload).encode()
        secret = spec.get("app_secret") or self.state.settings["meta_app_secret"]
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(body, secret)}
        return wamid, self.state.http.post(spec["url"], data=body, headers=headers, timeout=30)

    def _inbound_twilio(self, spec):
        sid, form = twilio_inbound_form(spec)
        form.update(spec.get("form") or {})
        signature = RequestValidator(spec.get("auth_token", "")).compute_signature(spec["url"], form)
        headers = {"X-Twilio-Signature": signature}
        return sid, self.state.http.post(spec["url"], data=form, headers=headers, timeout=30)

    def _inbound_infobip(self, spec):
        message_id, payload = infobip_inbound_body(spec)
        return message_id, self.state.http.post(spec["url"], json=payload, timeout=30)

    # Meta Graph API
    def _meta_auth_error(self):
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        expected = self.state.settings["meta_access_token"]
        if not token or (expected and token != expected):
            return {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}}
        return None

    def _meta_failure(self, failure):
        if str(failure).startswith("http:"):
            status = int(str(failure)[5:])
            return self._answer(status, {"error": {"message": f"Simulated HTTP {status}", "code": status}})
        code = int(failure)
        status = 429 if code in (130429, 131056, 80007, 4) else 400
        headers = {"Retry-After": "0"} if status == 429 else None
        error = {
            "error": {
                "message": f"Simulated error {code}",
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": f"simulated {code}"},
            }
        }
        return self._answer(status, error, headers=headers)

    def _meta_send(self, number):
        payload = self._json_body()
        self._latency()
        if (error := self._meta_auth_error()) is not None:
            return self._answer(401, error)
        if not isinstance(payload, dict) or payload.get("messaging_product") != "whatsapp":
            return self._answer(400, {"error": {"message": "messaging_product must be whatsapp", "code": 100}})
        if payload.get("status") == "read":
            with self.state.lock:
                self.state.read_receipts.append(
                    {
                        "phone_number_id": number,
                        "message_id": payload.get("message_id"),
                        "typing": bool(payload.get("typing_indicator")),
                        "at": time.time(),
                    }
                )
            return self._answer(200, {"success": True})
        if not payload.get("to") or not payload.get("type"):
            return self._answer(400, {"error": {"message": "to and type are required", "code": 100}})
        if payload["type"] == "template" and (problem := self._template_send_error(payload)) is not None:
            return self._answer(400, problem)
        if payload["type"] == "interactive" and (problem := self._flow_send_error(payload)) is not None:
            return self._answer(400, problem)
        if (failure := self.state.take_failure()) is not None:
            return self._meta_failure(failure)
        wamid = f"wamid.SIM{uuid.uuid4().hex}"
        self.state.record("meta", wamid, payload["to"], payload, at=self.arrived_at)
        url = self.state.settings["meta_webhook_url"]
        if url:
            reference = payload.get("biz_opaque_callback_data")
            self.state.post_later(
                lambda status: self._post_meta_status(url, number, wamid, payload["to"], status, reference),
                self.state.statuses_for("meta"),
            )
        return self._answer(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": payload["to"], "wa_id": payload["to"]}],
                "messages": [{"id": wamid}],
            },
        )

    def _post_meta_status(self, url, number, wamid, to, status, reference=None):
        item = {"id": wamid, "status": status, "timestamp": str(int(time.time())), "recipient_id": to}
        if reference:
            item["biz_opaque_callback_data"] = reference
        if status == "failed":
            item["errors"] = [{"code": 131026, "title": "Message undeliverable"}]
        body = json.dumps(meta_envelope("waba", number, "statuses", [item])).encode()
        signature = meta_signature(body, self.state.settings["meta_app_secret"] or "")
        headers = {
            **self.state.settings["callback_headers"],
            "Content-Type": "application/json",
            "X-Hub-Signature-256": signature,
        }
        return self.state.http.post(url, data=body, timeout=30, headers=headers)

    # Meta message templates (Graph API: "Message templates", "Template management")
    def _meta_list_templates(self, waba):
        """A page of the WABA's templates: ``limit`` (25 by default), ``after`` (the cursor of the
        previous page), ``fields``; ``paging.next`` only while there are more."""
        self._latency()
        if (error := self._meta_auth_error()) is not None:
            return self._answer(401, error)
        query = {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}
        try:
            limit = max(1, min(int(query.get("limit") or 25), 1000))
            start = int(base64.urlsafe_b64decode(query["after"].encode()).decode()) if query.get("after") else 0
        except ValueError:
            return self._answer(400, {"error": {"message": "Invalid parameter", "type": "OAuthException", "code": 100}})
        wanted = [name for name in (query.get("fields") or "").split(",") if name] or META_TEMPLATE_DEFAULT_FIELDS
        with self.state.lock:
            templates = [t for t in self.state.templates if t["_waba"] == waba]
        if query.get("name"):
            templates = [t for t in templates if query["name"] in t["name"]]
        page = templates[start : start + limit]
        data = [{key: template[key] for key in ("id", *wanted) if key in template} for template in page]

        def cursor(index):
            return base64.urlsafe_b64encode(str(index).encode()).decode()

        paging = {"cursors": {"before": cursor(start), "after": cursor(start + len(page))}} if page else {}
        if start + len(page) < len(templates):
            host = self.headers.get("Host")
            next_query = urlencode({**query, "limit": limit, "after": cursor(start + len(page))})
            paging["next"] = f"http://{host}{urlsplit(self.path).path}?{next_query}"
        return self._answer(200, {"data": data, "paging": paging})

    def _meta_create_template(self, waba):
        payload = self._json_body()
        self._latency()
        if (error := self._meta_auth_error()) is not None:
            return self._answer(401, error)
        if (failure := self.state.take_failure()) is not None:
            return self._meta_failure(failure)
        problem = self._template_problem(payload, creating=True, waba=waba)
        if problem:
            return self._answer(400, problem)
        with self.state.lock:
            if any(
                t["_waba"] == waba and t["name"] == payload["name"] and t["language"] == payload["language"]
                for t in self.state.templates
            ):
                return self._answer(
                    400,
                    _meta_error(
                        "Invalid parameter",
                        2388024,
                        "Content in this language already exists",
                        f"{payload['name']} already has {payload['language']} content.",
                    ),
                )
            template = _stored_template(waba, payload)
            self.state.templates.append(template)
        return self._answer(200, {"id": template["id"], "status": "PENDING", "category": template["category"]})

    def _meta_edit_template(self, template_id):
        payload = self._json_body()
        if (error := self._meta_auth_error()) is not None:
            return self._answer(401, error)
        problem = self._template_problem(payload, creating=False)
        if problem:
            return self._answer(400, problem)
        with self.state.lock:
            template = next((t for t in self.state.templates if t["id"] == template_id), None)
            if template is None:
                return self._answer(
                    400,
                    _meta_error(f"Unsupported post request. Object with ID '{template_id}' does not exist", 33),
                )
            template.update({key: payload[key] for key in ("category", "components") if key in payload})
            template.update(status="PENDING", rejected_reason="NONE")
        return self._answer(200, {"success": True})

    def _template_problem(self, payload, creating, waba=None):
        """Meta's error for a create or edit request it would refuse as malformed, or None (a flow
        button's flow is looked up in ``waba``'s flows, in every WABA's when it is not known)."""
        if not isinstance(payload, dict):
            return _meta_error("Invalid parameter", 100)
        required = ("name", "language", "category", "components") if creating else ("components",)
        missing = [key for key in required if not payload.get(key)]
        if missing:
            return _meta_error(f"(#100) The parameter {missing[0]} is required", 100)
        if payload.get("category") and payload["category"] not in ("MARKETING", "UTILITY", "AUTHENTICATION"):
            return _meta_error("Invalid parameter", 100, "Invalid category", "Category is not valid.")
        components = payload["components"] if isinstance(payload["components"], list) else []
        if not any(isinstance(c, dict) and c.get("type") == "BODY" for c in components):
            return _meta_error("Invalid parameter", 100, "Body is required", "A template needs a BODY component.")
        for component in (c for c in components if isinstance(c, dict)):
            handles = (component.get("example") or {}).get("header_handle") or []
            with self.state.lock:
                unknown = [handle for handle in handles if handle not in self.state.handles]
            if unknown:
                return _meta_error("Invalid parameter", 2388273, "Invalid media handle", "Upload the sample first.")
        with self.state.lock:
            listed = (
                [self.state.flows.get(waba, DEFAULT_FLOWS)] if waba else [*self.state.flows.values(), DEFAULT_FLOWS]
            )
            flows = [flow for flows_of in listed for flow in flows_of]
        return _flow_button_problem(components, flows)

    def _flow_send_error(self, payload):
        """Meta's error 131009 when a flow message names a flow the simulator lists that is not
        published (unless sent in ``draft`` mode, to test it)."""
        interactive = payload.get("interactive") if isinstance(payload.get("interactive"), dict) else {}
        if interactive.get("type") != "flow":
            return None
        parameters = (interactive.get("action") or {}).get("parameters") or {}
        with self.state.lock:
            flows = [flow for listed in (*self.state.flows.values(), DEFAULT_FLOWS) for flow in listed]
        known = next((flow for flow in flows if flow["id"] == str(parameters.get("flow_id"))), None)
        if known is None or parameters.get("mode") == "draft" or known["status"] in ("PUBLISHED", "THROTTLED"):
            return None
        return _meta_error(
            "(#131009) Parameter value is not valid", 131009, details=f"Flow {known['id']} is {known['status']}"
        )

    def _template_send_error(self, payload):
        """Meta's error 132000 when a template the simulator knows is sent with a wrong number of
        parameters (header, body, URL button suffix, coupon code); 132001 when it is not approved."""
        template = payload.get("template") if isinstance(payload.get("template"), dict) else {}
        language = (template.get("language") or {}).get("code")
        with self.state.lock:
            known = next(
                (t for t in self.state.templates if t["name"] == template.get("name") and t["language"] == language),
                None,
            )
        if known is None:
            return None
        if known["status"] != "APPROVED":
            return _meta_error(f"(#132001) Template name does not exist in the translation ({known['status']})", 132001)
        expected = _template_parameter_counts(known["components"])
        given = {}
        for component in template.get("components") or ():
            kind = component.get("type")
            key = f"button:{component.get('index')}" if kind == "button" else kind
            given[key] = len(component.get("parameters") or ())
            if kind == "button" and component.get("sub_type") == "flow":
                parameter = (component.get("parameters") or [{}])[0]
                parameter = parameter if isinstance(parameter, dict) else {}
                action = parameter.get("action") if isinstance(parameter.get("action"), dict) else {}
                token = action.get("flow_token")
                if parameter.get("type") != "action" or not isinstance(token, str) or not 0 < len(token) <= 200:
                    return _meta_error(
                        "(#131008) Required parameter is missing",
                        131008,
                        details="A flow button takes one action parameter with its flow_token (at most 200 characters)",
                    )
        if given != expected:
            return _meta_error(
                "(#132000) Number of parameters does not match the expected number of params",
                132000,
                details=f"expected {expected}, given {given}",
            )
        return None

    def _sim_templates_seed(self):
        """Templates made elsewhere (WhatsApp Manager): ``{"waba_id", "templates": [{name, language,
        category, components, status?, quality?, rejected_reason?}]}``; answers their ids."""
        spec = self._json_body() or {}
        templates = [
            _stored_template(spec.get("waba_id", "waba"), item, item.get("status", "APPROVED"), item.get("quality"))
            for item in spec.get("templates") or ()
        ]
        for stored, item in zip(templates, spec.get("templates") or (), strict=True):
            stored["rejected_reason"] = item.get("rejected_reason", "NONE")
        with self.state.lock:
            self.state.templates += templates
        return self._answer(200, {"ids": [template["id"] for template in templates]})

    def _sim_templates_list(self):
        with self.state.lock:
            return self._answer(200, {"templates": list(self.state.templates)})

    def _sim_template_status(self, name):
        """Meta's review (or a later change) of the templates named ``name``: ``{"status": "APPROVED"
        | "REJECTED" | "PAUSED"..., "reason", "quality": "GREEN" | "YELLOW" | "RED", "category",
        "language" (all of them by default), "url" (else ``meta_webhook_url``), "app_secret"}``.
        Each change is posted, signed, as Meta's webhook (``message_template_status_update``,
        ``message_template_quality_update``, ``template_category_update``) when a URL is known."""
        spec = self._json_body() or {}
        with self.state.lock:
            templates = [
                t
                for t in self.state.templates
                if t["name"] == name and (not spec.get("language") or t["language"] == spec["language"])
            ]
            posts = []
            for template in templates:
                common = {
                    "message_template_id": int(template["id"]),
                    "message_template_name": template["name"],
                    "message_template_language": template["language"],
                }
                if spec.get("status"):
                    template["status"] = spec["status"]
                    template["rejected_reason"] = spec.get("reason") or "NONE"
                    value = {"event": spec["status"], **common, "reason": spec.get("reason") or "NONE"}
                    posts.append((template["_waba"], "message_template_status_update", value))
                if spec.get("quality"):
                    previous = template["quality_score"]["score"]
                    template["quality_score"] = {"score": spec["quality"], "date": int(time.time())}
                    value = {"previous_quality_score": previous, "new_quality_score": spec["quality"], **common}
                    posts.append((template["_waba"], "message_template_quality_update", value))
                if spec.get("category"):
                    previous, template["category"] = template["category"], spec["category"]
                    value = {**common, "previous_category": previous, "new_category": spec["category"]}
                    posts.append((template["_waba"], "template_category_update", value))
        if not templates:
            return self._answer(404, {"error": f"no template named {name}"})
        url = spec.get("url") or self.state.settings["meta_webhook_url"]
        secret = spec.get("app_secret") or self.state.settings["meta_app_secret"] or ""
        answers = [self._post_meta_account_change(url, secret, *post) for post in posts] if url else []
        return self._answer(200, {"templates": len(templates), "webhooks": answers})

    def _post_meta_account_change(self, url, secret, waba, field, value):
        """Post one change of the WhatsApp Business Account (no number named), signed; its HTTP status."""
        body = json.dumps(
            {
                "object": "whatsapp_business_account",
                "entry": [{"id": waba, "time": int(time.time()), "changes": [{"field": field, "value": value}]}],
            }
        ).encode()
        headers = {
            **self.state.settings["callback_headers"],
            "Content-Type": "application/json",
            "X-Hub-Signature-256": meta_signature(body, secret),
        }
        return self.state.http.post(url, data=body, headers=headers, timeout=30).status_code

    # Resumable Upload API (header samples of templates)
    def _meta_upload_start(self, app):
        self._body()
        query = {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}
        token = query.get("access_token")
        if token is None and (error := self._meta_auth_error()) is not None:
            return self._answer(401, error)
        try:
            length = int(query.get("file_length") or "")
        except ValueError:
            return self._answer(400, _meta_error("(#100) The parameter file_length is required", 100))
        if query.get("file_type") not in ("application/pdf", "image/jpeg", "image/jpg", "image/png", "video/mp4"):
            return self._answer(400, _meta_error("(#100) Param file_type must be a supported MIME type", 100))
        session = f"{uuid.uuid4().hex}?sig=SIM{uuid.uuid4().hex[:8]}"
        with self.state.lock:
            self.state.uploads[session.split("?")[0]] = {
                "length": length,
                "type": query["file_type"],
                "name": query.get("file_name"),
                "received": b"",
            }
        return self._answer(200, {"id": f"upload:{session}"})

    def _upload_auth_error(self):
        token = (self.headers.get("Authorization") or "").removeprefix("OAuth ").strip()
        expected = self.state.settings["meta_access_token"]
        if not token or token.startswith("Bearer ") or (expected and token != expected):
            return {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}}
        return None

    def _meta_upload_bytes(self, session):
        content = self._body()
        if (error := self._upload_auth_error()) is not None:
            return self._answer(401, error)
        with self.state.lock:
            upload = self.state.uploads.get(session)
            if upload is None:
                return self._answer(400, _meta_error("Invalid upload session", 100))
            if str(self.headers.get("file_offset")) != str(len(upload["received"])):
                return self._answer(
                    400, _meta_error("Wrong file_offset", 100, details=f"resume at {len(upload['received'])}")
                )
            upload["received"] += content
            if len(upload["received"]) < upload["length"]:
                return self._answer(200, {"id": f"upload:{session}", "file_offset": len(upload["received"])})
            handle = f"4::{base64.b64encode(session.encode()).decode()}:ARsim{uuid.uuid4().hex[:12]}"
            self.state.handles.add(handle)
        return self._answer(200, {"h": handle})

    def _meta_upload_offset(self, session):
        if (error := self._upload_auth_error()) is not None:
            return self._answer(401, error)
        with self.state.lock:
            upload = self.state.uploads.get(session)
        if upload is None:
            return self._answer(400, _meta_error("Invalid upload session", 100))
        return self._answer(200, {"id": f"upload:{session}", "file_offset": len(upload["received"])})

    def _meta_flows(self, waba):
        """A page of the WABA's flows (WhatsApp Flows API, "List Flows"): ``limit`` (25 by default),
        ``after``; ``paging.next`` only while there are more, as for templates."""
        self._latency()
        if (error := self._meta_auth_error()) is not None:
            return self._answer(401, error)
        query = {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}
        try:
            limit = max(1, min(int(query.get("limit") or 25), 1000))
            start = int(base64.urlsafe_b64decode(query["after"].encode()).decode()) if query.get("after") else 0
        except ValueError:
            return self._answer(400, _meta_error("Invalid parameter", 100))
        flows = self._flows_of(waba)
        page = flows[start : start + limit]
        data = [{"validation_errors": [], **flow} for flow in page]

        def cursor(index):
            return base64.urlsafe_b64encode(str(index).encode()).decode()

        paging = {"cursors": {"before": cursor(start), "after": cursor(start + len(page))}} if page else {}
        if start + len(page) < len(flows):
            next_query = urlencode({**query, "limit": limit, "after": cursor(start + len(page))})
            paging["next"] = f"http://{self.headers.get('Host')}{urlsplit(self.path).path}?{next_query}"
        return self._answer(200, {"data": data, "paging": paging})

    def _flows_of(self, waba):
        with self.state.lock:
            return [dict(flow) for flow in self.state.flows.get(waba, DEFAULT_FLOWS)]

    def _sim_flows_seed(self):
        """``{"waba_id", "flows": [{"id", "name", "status", "categories"}]}``: that WABA's flows from now on."""
        spec = self._json_body() or {}
        flows = [
            {
                "id": str(item.get("id") or uuid.uuid4().int % 10**15),
                "name": item.get("name") or "Flow",
                "status": item.get("status") or "DRAFT",
                "categories": list(item.get("categories") or ["OTHER"]),
            }
            for item in spec.get("flows") or ()
        ]
        with self.state.lock:
            self.state.flows[spec.get("waba_id", "waba")] = flows
        return self._answer(200, {"ids": [flow["id"] for flow in flows]})

    def _meta_upload(self, number):
        self._body()
        if (error := self._meta_auth_error()) is not None:
            return self._answer(401, error)
        return self._answer(200, {"id": f"media-{uuid.uuid4().hex[:12]}"})

    def _meta_media_info(self, node):
        if (error := self._meta_auth_error()) is not None:
            return self._answer(401, error)
        host = self.headers.get("Host")
        return self._answer(
            200,
            {
                "url": f"http://{host}/_sim/media/{node}",
                "mime_type": "image/png",
                "file_size": len(PNG),
                "id": node,
                "messaging_product": "whatsapp",
            },
        )

    def _media_bytes(self, media):
        return self._answer(200, raw=PNG, content_type="image/png")

    # Account health
    def _sim_read_receipts(self):
        with self.state.lock:
            return self._answer(200, {"read_receipts": list(self.state.read_receipts)})

    def _phone_number(self, number):
        with self.state.lock:
            return {"id": number, **PHONE_NUMBER_DEFAULTS, **self.state.phone_numbers.get(number, {})}

    def _meta_phone_number(self, node):
        """``GET /<phone-number-id>?fields=...``: the number's node (any other node read goes on to
        the next route: media and templates). ``fail_next`` answers a Graph API error instead."""
        asked = parse_qs(urlsplit(self.path).query).get("fields", [""])[0].split(",")
        if not set(asked) & {"quality_rating", "messaging_limit_tier", "verified_name", "code_verification_status"}:
            return NotImplemented
        self._latency()
        if (error := self._meta_auth_error()) is not None:
            return self._answer(401, error)
        if (failure := self.state.take_failure()) is not None:
            return self._meta_failure(failure)
        number = self._phone_number(node)
        return self._answer(200, {key: number[key] for key in ("id", *asked) if key in number})

    def _sim_phone_number(self):
        """Set a number's ``quality_rating`` and/or ``messaging_limit_tier`` (``phone_number_id``),
        then post Meta's ``phone_number_quality_update`` webhook, signed with ``app_secret`` (default:
        the ``meta_app_secret`` setting), to ``url`` (default: ``meta_webhook_url``), naming
        ``waba_id`` (default "waba"): FLAGGED when the quality falls to RED, UNFLAGGED when it leaves
        RED, UPGRADE/DOWNGRADE when the limit changes. No URL: nothing is posted."""
        spec = self._json_body() or {}
        number_id = str(spec.get("phone_number_id") or "")
        if not number_id:
            return self._answer(400, {"error": "phone_number_id is required"})
        before = self._phone_number(number_id)
        keys = ("quality_rating", "messaging_limit_tier", "display_phone_number")
        changes = {key: spec[key] for key in keys if spec.get(key)}
        with self.state.lock:
            self.state.phone_numbers.setdefault(number_id, {}).update(changes)
        after = self._phone_number(number_id)
        url = spec.get("url") or self.state.settings["meta_webhook_url"]
        if not url:
            return self._answer(200, {"phone_number": after, "posted": False})
        old_tier, tier = before["messaging_limit_tier"], after["messaging_limit_tier"]
        value = {
            "display_phone_number": re.sub(r"\D", "", after["display_phone_number"]),
            "current_limit": tier,
            "max_daily_conversations_per_business": tier,
        }
        if after["quality_rating"] == "RED" and before["quality_rating"] != "RED":
            value["event"] = "FLAGGED"
        elif before["quality_rating"] == "RED" and after["quality_rating"] != "RED":
            value["event"] = "UNFLAGGED"
        elif tier != old_tier:
            rank = {name: index for index, name in enumerate(TIER_ORDER)}
            value["event"] = "UPGRADE" if rank.get(tier, 0) > rank.get(old_tier, 0) else "DOWNGRADE"
            value["old_limit"] = old_tier
        else:
            value["event"] = spec.get("event") or "THRESHOLD_CHANGE"
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": spec.get("waba_id", "waba"),
                    "time": int(time.time()),
                    "changes": [{"field": "phone_number_quality_update", "value": value}],
                }
            ],
        }
        body = json.dumps(payload).encode()
        secret = spec.get("app_secret") or self.state.settings["meta_app_secret"] or ""
        headers = {
            **self.state.settings["callback_headers"],
            "Content-Type": "application/json",
            "X-Hub-Signature-256": meta_signature(body, secret),
        }
        response = self.state.http.post(url, data=body, headers=headers, timeout=30)
        return self._answer(
            200, {"phone_number": after, "posted": True, "status": response.status_code, "body": response.text[:2000]}
        )

    def _twilio_token(self, sid):
        """The auth token of a request authenticated as account ``sid`` (checked against
        ``twilio_credentials`` when it names one), else None."""
        auth = self.headers.get("Authorization") or ""
        try:
            user, token = base64.b64decode(auth.removeprefix("Basic ")).decode().split(":", 1)
        except ValueError:
            user, token = "", ""
        credentials = self.state.settings["twilio_credentials"]
        if user != sid or not token or (credentials and credentials.get(sid) != token):
            return None
        return token

    def _twilio_auth_error(self):
        return self._answer(
            401,
            {
                "code": 20003,
                "message": "Authenticate",
                "status": 401,
                "more_info": "https://www.twilio.com/docs/errors/20003",
            },
        )

    def _twilio_account(self, sid):
        """``GET /2010-04-01/Accounts/<sid>.json`` (the SDK's ``api.accounts(sid).fetch()``)."""
        self._latency()
        if not self._twilio_token(sid):
            return self._twilio_auth_error()
        if (failure := self.state.take_failure()) is not None:
            status = int(str(failure)[5:]) if str(failure).startswith("http:") else 400
            code = status if str(failure).startswith("http:") else int(failure)
            return self._answer(status, {"code": code, "message": f"Simulated error {code}", "status": status})
        return self._answer(
            200,
            {
                "sid": sid,
                "friendly_name": "Simulated Twilio account",
                "status": self.state.settings["twilio_account_status"],
                "type": self.state.settings["twilio_account_type"],
                "owner_account_sid": sid,
                "date_created": "Mon, 06 Jan 2025 10:00:00 +0000",
                "date_updated": "Mon, 06 Jan 2025 10:00:00 +0000",
                "uri": f"/2010-04-01/Accounts/{sid}.json",
                "subresource_uris": {},
            },
        )

    def _infobip_balance(self):
        """``GET /account/1/balance``."""
        self._latency()
        if not self._infobip_auth_ok():
            return self._answer(
                401,
                {"requestError": {"serviceException": {"messageId": "UNAUTHORIZED", "text": "Invalid login details"}}},
            )
        if (failure := self.state.take_failure()) is not None:
            return self._infobip_failure(failure)
        return self._answer(200, {"balance": self.state.settings["infobip_balance"], "currency": "EUR"})

    def _custom_health(self):
        """``GET /custom/health``: 200 unless ``fail_next`` says otherwise (``"http:503"``)."""
        if (failure := self.state.take_failure()) is not None:
            status = int(str(failure)[5:]) if str(failure).startswith("http:") else 500
            return self._answer(status, {"ok": False})
        return self._answer(200, {"ok": True})

    # Twilio
    def _twilio_send(self, sid):
        form = {k: v[0] for k, v in parse_qs(self._body().decode()).items()}
        self._latency()
        if not (token := self._twilio_token(sid)):
            return self._twilio_auth_error()
        if not form.get("To") or not (form.get("From") or form.get("MessagingServiceSid")):
            return self._answer(400, {"code": 21604, "message": "A 'To' and a 'From' are required", "status": 400})
        if (failure := self.state.take_failure()) is not None:
            status = int(str(failure)[5:]) if str(failure).startswith("http:") else 400
            code = status if str(failure).startswith("http:") else int(failure)
            return self._answer(status, {"code": code, "message": f"Simulated error {code}", "status": status})
        message_sid = f"SM{uuid.uuid4().hex}"
        self.state.record("twilio", message_sid, form["To"], form, form.get("StatusCallback"), at=self.arrived_at)
        if form.get("StatusCallback"):
            url = form["StatusCallback"]
            self.state.post_later(
                lambda status: self._post_twilio_status(url, token, sid, message_sid, form, status),
                self.state.statuses_for("twilio"),
            )
        return self._answer(
            201,
            {
                "sid": message_sid,
                "account_sid": sid,
                "to": form["To"],
                "from": form.get("From"),
                "body": form.get("Body"),
                "status": "queued",
                "num_segments": "1",
                "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            },
        )

    def _post_twilio_status(self, url, token, sid, message_sid, form, status):
        twilio_status = "undelivered" if status == "failed" else status
        callback = {
            "MessageSid": message_sid,
            "SmsSid": message_sid,
            "AccountSid": sid,
            "MessageStatus": twilio_status,
            "SmsStatus": twilio_status,
            "To": form["To"],
            "From": form.get("From", ""),
        }
        if status == "failed":
            callback["ErrorCode"] = "30003"
        signature = RequestValidator(token).compute_signature(url, callback)
        headers = {**self.state.settings["callback_headers"], "X-Twilio-Signature": signature}
        return self.state.http.post(url, data=callback, headers=headers, timeout=30)

    # Infobip
    def _infobip_auth_ok(self):
        key = (self.headers.get("Authorization") or "").removeprefix("App ").strip()
        expected = self.state.settings["infobip_api_key"]
        return bool(key) and (not expected or key == expected)

    def _infobip_failure(self, failure):
        status = int(str(failure)[5:]) if str(failure).startswith("http:") else 400
        return self._answer(
            status,
            {"requestError": {"serviceException": {"messageId": "BAD_REQUEST", "text": f"Simulated error {failure}"}}},
        )

    def _infobip_send(self):
        payload = self._json_body() or {}
        self._latency()
        if not self._infobip_auth_ok():
            return self._answer(
                401,
                {"requestError": {"serviceException": {"messageId": "UNAUTHORIZED", "text": "Invalid login details"}}},
            )
        if (failure := self.state.take_failure()) is not None:
            return self._infobip_failure(failure)
        answers = []
        for message in payload.get("messages") or []:
            webhooks = message.get("webhooks") or {}
            url = (webhooks.get("delivery") or {}).get("url") or message.get("notifyUrl")
            callback_data = webhooks.get("callbackData") or message.get("callbackData")
            for destination in message.get("destinations") or []:
                message_id = destination.get("messageId") or f"ib-{uuid.uuid4().hex}"
                self.state.record("infobip", message_id, destination.get("to"), message, url, at=self.arrived_at)
                with self.state.lock:
                    self.state.infobip_logs[message_id] = {
                        "to": destination.get("to"),
                        "status": self.state.statuses_for("infobip")[-1],
                        "sentAt": _iso_now(),
                    }
                answers.append(
                    {
                        "messageId": message_id,
                        "destination": destination.get("to"),
                        "status": {
                            "groupId": 1,
                            "groupName": "PENDING",
                            "id": 26,
                            "name": "PENDING_ACCEPTED",
                            "description": "Message sent to next instance",
                        },
                    }
                )
                if url:
                    to = destination.get("to")
                    self.state.post_later(
                        lambda status, mid=message_id, to=to, url=url, data=callback_data: self._post_infobip_report(
                            url, mid, to, status, data
                        ),
                        self.state.statuses_for("infobip"),
                    )
        return self._answer(200, {"bulkId": f"bulk-{uuid.uuid4().hex[:12]}", "messages": answers})

    def _post_infobip_report(self, url, message_id, to, status, callback_data):
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
        groups = {
            "sent": (1, "PENDING"),
            "delivered": (3, "DELIVERED"),
            "failed": (2, "UNDELIVERABLE"),
            "read": (3, "DELIVERED"),
        }
        group_id, group_name = groups.get(status, (1, "PENDING"))
        result = {
            "messageId": message_id,
            "to": to,
            "sentAt": now,
            "doneAt": now,
            "smsCount": 1,
            "status": {
                "groupId": group_id,
                "groupName": group_name,
                "id": 5,
                "name": f"{group_name}_SIM",
                "description": f"Simulated {status}",
            },
            "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "permanent": False},
        }
        if status == "failed":
            result["error"] = {
                "groupId": 1,
                "groupName": "HANDSET_ERRORS",
                "id": 27,
                "name": "EC_ABSENT_SUBSCRIBER",
                "description": "Absent subscriber",
                "permanent": False,
            }
        if callback_data:
            result["callbackData"] = callback_data
        return self.state.http.post(
            url, json={"results": [result]}, headers=self.state.settings["callback_headers"], timeout=30
        )

    def _infobip_logs(self):
        """``GET /sms/3/logs?messageId=a&messageId=b`` (or comma-separated): what Infobip knows of
        messages it received, whether or not their delivery reports reached anyone."""
        if not self._infobip_auth_ok():
            return self._answer(401, {"requestError": {"serviceException": {"messageId": "UNAUTHORIZED"}}})
        query = parse_qs(urlsplit(self.path).query)
        wanted = [part for value in query.get("messageId", []) for part in value.split(",") if part]
        groups = {"sent": (1, "PENDING"), "delivered": (3, "DELIVERED"), "failed": (2, "UNDELIVERABLE")}
        results = []
        with self.state.lock:
            for message_id in wanted:
                log = self.state.infobip_logs.get(message_id)
                if log is None:
                    continue
                group_id, group_name = groups.get(log["status"], (1, "PENDING"))
                results.append(
                    {
                        "messageId": message_id,
                        "destination": log["to"],
                        "sentAt": log["sentAt"],
                        "doneAt": log["sentAt"],
                        "status": {"groupId": group_id, "groupName": group_name, "id": 5, "name": f"{group_name}_SIM"},
                        "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "permanent": False},
                    }
                )
        return self._answer(200, {"results": results})

    def _infobip_whatsapp_send(self):
        payload = self._json_body() or {}
        self._latency()
        if not self._infobip_auth_ok():
            return self._answer(401, {"requestError": {"serviceException": {"messageId": "UNAUTHORIZED"}}})
        message_id = f"ib-wa-{uuid.uuid4().hex}"
        self.state.record("infobip", message_id, payload.get("to"), payload, at=self.arrived_at)
        return self._answer(
            200,
            {
                "to": payload.get("to"),
                "messageCount": 1,
                "messageId": message_id,
                "status": {"groupId": 1, "groupName": "PENDING", "id": 7, "name": "PENDING_ENROUTE"},
            },
        )

    # Custom gateway
    def _custom_send(self):
        payload = self._json_body()
        self._latency()
        if payload is None:
            return self._answer(400, {"error": "the body is not JSON"})
        if (failure := self.state.take_failure()) is not None:
            status = int(str(failure)[5:]) if str(failure).startswith("http:") else 400
            return self._answer(status, {"error": f"Simulated error {failure}"})
        message_id = f"cust-{uuid.uuid4().hex}"
        self.state.record("custom", message_id, payload.get("to"), payload, at=self.arrived_at)
        return self._answer(200, {"data": {"id": message_id}, "id": message_id, "accepted": True})


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address):
        super().__init__(address, Handler)
        self.state = SimState()

    def handle_error(self, request, client_address):
        """A client that went away (a killed Odoo, a timed-out request) is no simulator error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def make_server(host="127.0.0.1", port=8899):
    return SimulatorServer((host, port))


def start_in_thread(port=0, host="127.0.0.1"):
    """Start a simulator in a daemon thread; returns (server, base_url). Stop with ``server.shutdown()``."""
    server = make_server(host, port)
    thread = threading.Thread(target=server.serve_forever, name="provider-simulator", daemon=True)
    thread.start()
    return server, f"http://{host}:{server.server_port}"
