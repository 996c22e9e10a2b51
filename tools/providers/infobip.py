"""Infobip SMS (and WhatsApp webhooks), sending with ``infobip-api-python-client``.

Infobip does not sign its webhooks: the URL carries a secret token of ours (the Odoo controller
passes it as ``request.query["token"]``) compared in constant time.
"""

import functools
import mimetypes
import threading
from dataclasses import replace
from types import SimpleNamespace

from ..lazy_package import lazy_packages
from ..phone import classify_sender
from .base import (
    CONFIG,
    RECIPIENT,
    RETRY,
    AccountUpdate,
    ConsentUpdate,
    IdentityChange,
    IgnoredEvent,
    InboundMessage,
    Media,
    Provider,
    ProviderError,
    Reaction,
    SendResult,
    StatusUpdate,
    TemplateStatusUpdate,
    WebhookAuthError,
    WebhookParseError,
    classify_http_status,
    e164_or_raw,
    parse_retry_after,
    tokens_match,
    utc_from_iso,
)
from .health import NO_CREDIT, NOT_CONFIGURED, OK, UNKNOWN, HealthResult, failure, from_error


@functools.cache
def sdk():
    """The parts of ``infobip-api-python-client`` used here, imported on first use (every Odoo
    process, each worker, each restart after a crash, would otherwise pay it at start, Infobip or
    not) and alone: the package imports its ~800 pydantic models as it is imported, over a second of
    CPU of each process that sends through Infobip (``tools/lazy_package.py``)."""
    lazy_packages("infobip_api_client", "infobip_api_client.api", "infobip_api_client.models")
    from infobip_api_client import ApiClient, Configuration, SmsApi  # noqa: F401, PLC0415 - returned through locals()
    from infobip_api_client.exceptions import ApiException  # noqa: F401, PLC0415 - returned through locals()
    from infobip_api_client.models import (  # noqa: F401, PLC0415 - returned through locals()
        SmsDestination,
        SmsMessage,
        SmsMessageContent,
        SmsMessageDeliveryReporting,
        SmsRequest,
        SmsTextContent,
        SmsWebhooks,
    )

    return SimpleNamespace(**locals())  # the names imported above


# Inbound media URLs are on the account's base URL (xxxxx.api.infobip.com) or api.infobip.com;
# the API key goes nowhere else (Infobip: "Base URL", "API authentication").
MEDIA_HOSTS = ("api.infobip.com", ".api.infobip.com")

# Status groups of delivery reports
LOOKUP_CHUNK = 50  # message ids per logs request: Infobip takes 2,048 characters of them
STATUS_GROUPS = {
    "PENDING": "sent",
    "ACCEPTED": "sent",
    "DELIVERED": "delivered",
    "UNDELIVERABLE": "failed",
    "EXPIRED": "failed",
    "REJECTED": "failed",
}
# Error groups of delivery reports and of send answers
ERROR_GROUP_KINDS = {
    "HANDSET_ERRORS": RECIPIENT,
    "USER_ERRORS": RECIPIENT,
    "OPERATOR_ERRORS": RETRY,
}
REJECTED_STATUS_KINDS = {
    "REJECTED_NETWORK": RECIPIENT,
    "REJECTED_PREFIX_MISSING": RECIPIENT,
    "REJECTED_DESTINATION": RECIPIENT,
    "REJECTED_NOT_ENOUGH_CREDITS": CONFIG,
    "REJECTED_SENDER": CONFIG,
    "REJECTED_DESTINATION_NOT_REGISTERED": RECIPIENT,
}


class InfobipProvider(Provider):
    name = "infobip"
    media_hosts = MEDIA_HOSTS
    media_credential_hosts = MEDIA_HOSTS

    def __init__(self, base_url, api_key, sender=None, webhook_token="", timeout=10):
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.sender = sender
        self.webhook_token = webhook_token
        self._local = threading.local()

    @classmethod
    def prepare(cls):
        sdk()  # the SDK's client and the SMS models: a fifth of a second of CPU

    def _sms_api(self):
        """One SDK client per thread (its urllib3 pool is sized for one caller)."""
        api = getattr(self._local, "sms_api", None)
        if api is None:
            sdk_ = sdk()
            configuration = sdk_.Configuration(host=self.base_url, api_key=self.api_key, api_key_prefix="App")
            api = self._local.sms_api = sdk_.SmsApi(sdk_.ApiClient(configuration))
        return api

    def sms_request(self, message):
        """The SDK's ``SmsRequest`` (``POST /sms/3/messages``) for ``message``."""
        api = sdk()
        webhooks = None
        if message.status_callback or message.client_ref:
            webhooks = api.SmsWebhooks(
                delivery=api.SmsMessageDeliveryReporting(url=message.status_callback)
                if message.status_callback
                else None,
                callback_data=str(message.client_ref) if message.client_ref else None,
            )
        return api.SmsRequest(
            messages=[
                api.SmsMessage(
                    sender=self.sender,
                    destinations=[api.SmsDestination(to=message.to.lstrip("+"), message_id=message.client_ref)],
                    content=api.SmsMessageContent(api.SmsTextContent(text=message.text or "")),
                    webhooks=webhooks,
                )
            ]
        )

    def _send_once(self, message):
        if message.media_url:
            return self._send_mms(message)
        try:
            answer = self._sms_api().send_sms_messages(self.sms_request(message), _request_timeout=self.timeout)
        except sdk().ApiException as error:
            raise self._error(error) from error
        except Exception as error:  # urllib3's transport errors come through the SDK as they are
            raise ProviderError(
                RETRY, f"infobip: cannot reach the API ({type(error).__name__})", code="network"
            ) from error
        sent = answer.messages[0] if answer.messages else None
        if sent is None or not sent.message_id:
            raise ProviderError(RETRY, "Infobip accepted the request but returned no message id")
        status = sent.status
        if status and str(status.group_name or "").endswith("REJECTED"):
            kind = REJECTED_STATUS_KINDS.get(status.name, RECIPIENT)
            raise ProviderError(kind, f"Infobip: {status.description or status.name}", code=status.name)
        return SendResult(sent.message_id, "sent", answer.to_dict())

    def _send_mms(self, message):
        """An SMS with a file: ``POST /mms/2/messages`` (the SDK has no MMS API); Infobip fetches
        the file from ``message.media_url``."""
        response = self._request(
            self._session,
            "POST",
            f"{self.base_url}/mms/2/messages",
            json=mms_payload(message, self.sender),
            headers={"Authorization": f"App {self.api_key}", "Accept": "application/json"},
        )
        if response.status_code >= 400:
            raise ProviderError(
                classify_http_status(response.status_code),
                f"Infobip: HTTP {response.status_code} {_mms_error_text(response)}".strip(),
                code=response.status_code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                http_status=response.status_code,
            )
        try:
            answer = response.json()
        except ValueError as error:
            raise ProviderError(RETRY, "Infobip accepted the MMS but its answer is not JSON") from error
        sent = (answer.get("messages") or [None])[0] if isinstance(answer, dict) else None
        if not isinstance(sent, dict) or not sent.get("messageId"):
            raise ProviderError(RETRY, "Infobip accepted the MMS but returned no message id")
        status = sent.get("status") or {}
        if str(status.get("groupName") or "").endswith("REJECTED"):
            kind = REJECTED_STATUS_KINDS.get(status.get("name"), RECIPIENT)
            raise ProviderError(
                kind, f"Infobip: {status.get('description') or status.get('name')}", code=status.get("name")
            )
        return SendResult(sent["messageId"], "sent", answer)

    def lookup_statuses(self, references):
        """What Infobip knows of messages sent with our ``references`` as their ``messageId``
        (``GET /sms/3/logs``, kept 48 hours): a ``StatusUpdate`` for each one it has, none for a
        message it never received. Settles messages whose send answer was lost in a crash."""
        updates = []
        for start in range(0, len(references), LOOKUP_CHUNK):
            chunk = list(references[start : start + LOOKUP_CHUNK])
            try:
                answer = self._sms_api().get_outbound_sms_message_logs(message_id=chunk, limit=len(chunk))
            except sdk().ApiException as error:
                raise self._error(error) from error
            except Exception as error:  # noqa: BLE001 - transport errors come through the SDK as they are
                raise ProviderError(
                    RETRY, f"infobip: cannot reach the API ({type(error).__name__})", code="network"
                ) from error
            for log in answer.results or []:
                result = log.to_dict()
                result.setdefault("to", result.get("destination"))
                if result.get("messageId") in chunk and isinstance(result.get("status"), dict):
                    updates += [
                        replace(event, client_ref=event.provider_message_id)
                        for event in self._parse_report(result)
                        if isinstance(event, StatusUpdate)
                    ]
        return updates

    def download_media(self, url, max_bytes=None):
        """(content, mime type, file name) of an inbound media URL, with the API key."""
        content, mime_type = self._fetch_media(url, max_bytes, headers={"Authorization": f"App {self.api_key}"})
        return content, mime_type, None

    def check_health(self):
        """``HealthResult`` of the account's balance (``GET /account/1/balance``): no credit left
        means nothing can be sent."""
        if not self.api_key or not self.base_url:
            return failure(NOT_CONFIGURED, "No base URL or API key")
        try:
            response = self._request(
                self._session,
                "GET",
                f"{self.base_url}/account/1/balance",
                headers={"Authorization": f"App {self.api_key}", "Accept": "application/json"},
            )
        except ProviderError as error:
            return from_error(error)
        if response.status_code >= 400:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            error = ProviderError(
                classify_http_status(response.status_code),
                f"Infobip: HTTP {response.status_code} {_service_exception_text(response)}".strip(),
                code=response.status_code,
                retry_after=retry_after,
                http_status=response.status_code,
            )
            return from_error(error)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        balance = answer.get("balance") if isinstance(answer, dict) else None
        if isinstance(balance, bool) or not isinstance(balance, (int, float)):
            return failure(UNKNOWN, "Infobip answered without a balance")
        info = {"balance": balance, "currency": str(answer.get("currency") or "")}
        if balance <= 0:
            return failure(NO_CREDIT, f"Infobip: balance {balance} {info['currency']}".strip(), info=info)
        return HealthResult(OK, info=info)

    @staticmethod
    def _error(error):
        status = error.status or 0
        text = error.body if isinstance(error.body, str) else ""
        retry_after = parse_retry_after((error.headers or {}).get("Retry-After")) if error.headers else None
        return ProviderError(
            classify_http_status(status),
            f"Infobip: HTTP {status} {text[:200]}".strip(),
            code=status,
            retry_after=retry_after,
            http_status=status,
        )

    # Webhooks
    def verify_webhook(self, request):
        if not tokens_match(self.webhook_token, request.query.get("token")):
            raise WebhookAuthError("Wrong webhook token")

    def parse_webhook(self, request):
        """Events of an Infobip webhook: a ``results`` list (delivery and seen reports, inbound SMS
        and WhatsApp messages), or one WhatsApp notification object (system event, payment,
        marketing preference, template update). Anything else is refused; a result that cannot be
        read is an ``IgnoredEvent`` next to the others."""
        payload = request.json()
        if isinstance(payload, dict) and isinstance(payload.get("results"), list):
            return [event for result in payload["results"] for event in self._guarded(result)]
        if isinstance(payload, dict) and _is_notification(payload):
            return self._guarded(payload)
        raise WebhookParseError("An Infobip webhook has a 'results' list")

    def _guarded(self, result):
        try:
            return self._parse_result(result)
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raw = result if isinstance(result, dict) else {"result": result}
            reason = f"malformed: {type(error).__name__}: {error}"
            return [IgnoredEvent("infobip.result", reason, _str(raw.get("to")), _str(raw.get("messageId")), raw=raw)]

    def _parse_result(self, result):
        if not isinstance(result, dict):
            return [IgnoredEvent("infobip.result", "a result that is not an object", raw={"result": result})]
        if _is_notification(result):
            return self._parse_notification(result)
        message_id = _str(result.get("messageId"))
        if not message_id:
            return [IgnoredEvent("infobip.result", "a result without messageId", _str(result.get("to")), raw=result)]
        if isinstance(result.get("status"), dict):
            return self._parse_report(result)
        if result.get("seenAt"):
            # A seen report names the person in "from" (WhatsApp) or "to" (older reports).
            return [
                StatusUpdate(
                    message_id,
                    "read",
                    utc_from_iso(result["seenAt"]),
                    recipient=e164_or_raw(result.get("from") or result.get("to")),
                    provider_status="SEEN",
                    raw=result,
                )
            ]
        if "text" in result or "cleanText" in result or isinstance(result.get("message"), dict):
            return self._parse_inbound(result)
        reason = "a result that is neither a report nor a message"
        return [IgnoredEvent("infobip.result", reason, _str(result.get("to")), message_id, raw=result)]

    def _parse_report(self, result):
        status = result["status"]
        error = result.get("error") if isinstance(result.get("error"), dict) else {}
        failed = error and error.get("groupName") not in (None, "OK") and error.get("id") not in (None, 0)
        group = status.get("groupName")
        mapped = STATUS_GROUPS.get(group)
        if mapped is None:
            reason = f"a report of a status group this integration does not know: {group}"
            return [IgnoredEvent(f"infobip.report.{group}", reason, None, _str(result["messageId"]), raw=result)]
        return [
            StatusUpdate(
                provider_message_id=str(result["messageId"]),
                status="failed" if failed and mapped != "delivered" else mapped,
                timestamp=utc_from_iso(result.get("doneAt") or result.get("sentAt")),
                error_code=str(error.get("id")) if failed else None,
                error_title=(error.get("description") or error.get("name")) if failed else None,
                recipient=e164_or_raw(result.get("to")),
                provider_status=_str(status.get("name")) or group,
                client_ref=_str(result.get("callbackData")),
                raw=result,
            )
        ]

    def _parse_inbound(self, result):
        message = result.get("message") if isinstance(result.get("message"), dict) else None
        channel = "whatsapp" if message is not None or result.get("integrationType") == "WHATSAPP" else "sms"
        address = _str(result.get("from"))
        if not address:
            return [IgnoredEvent("infobip.inbound", "a message without 'from'", _str(result.get("to")), raw=result)]
        sender_kind, sender = classify_sender(address)
        message_id = str(result["messageId"])
        common = {
            "sender": sender,
            "sender_kind": sender_kind,
            "timestamp": utc_from_iso(result.get("receivedAt")),
            "account_ref": _str(result.get("to")),
            "raw": result,
        }
        contact = result.get("contact") if isinstance(result.get("contact"), dict) else {}
        if message is None:
            text = result.get("cleanText") or result.get("text")
            return [
                InboundMessage(
                    provider_message_id=message_id,
                    recipient=e164_or_raw(result.get("to")),
                    channel=channel,
                    text=text if isinstance(text, str) else None,
                    profile_name=_str(contact.get("name")),
                    **common,
                )
            ]
        kind = (_str(message.get("type")) or "TEXT").upper()
        context = message.get("context") if isinstance(message.get("context"), dict) else {}
        if kind == "REACTION":
            emoji = _str(message.get("emoji"))
            return [
                Reaction(
                    provider_message_id=message_id,
                    reaction_to=_str(context.get("id")),
                    emoji=emoji,
                    recipient=e164_or_raw(result.get("to")),
                    profile_name=_str(contact.get("name")),
                    removed=message.get("action") == "REMOVED" or not emoji,
                    **common,
                )
            ]
        if kind in IGNORED_WHATSAPP_TYPES:
            reason = IGNORED_WHATSAPP_TYPES[kind]
            return [
                IgnoredEvent(f"infobip.whatsapp.{kind.lower()}", reason, _str(result.get("to")), message_id, result)
            ]
        identity = result.get("identity") if isinstance(result.get("identity"), dict) else {}
        return [
            InboundMessage(
                provider_message_id=message_id,
                recipient=e164_or_raw(result.get("to")),
                channel=channel,
                reply_to_provider_id=_str(context.get("id")),
                profile_name=_str(contact.get("name")),
                referral=_referral(message.get("referral")),
                referred_product=_referred_product(context.get("referredProduct")),
                group_id=_str(context.get("groupId")),
                identity_key_hash=_str(identity.get("hash")),
                **_whatsapp_content(kind, message),
                **common,
            )
        ]

    def _parse_notification(self, payload):
        """WhatsApp notifications that are not about one message: template updates, system events
        (a person's identity changed), marketing preferences, payments."""
        business = _str(payload.get("from"))
        if isinstance(payload.get("change"), dict):
            return _template_update(payload)
        content = payload["content"]
        kind = _str(content.get("type")) or ""
        timestamp = utc_from_iso(payload.get("createdAt"))
        if kind.lower() == "user_identity_changed":
            address = _str(content.get("userNumber"))
            if not address:
                return [
                    IgnoredEvent("infobip.whatsapp.system", "an identity change naming no one", business, raw=payload)
                ]
            sender_kind, sender = classify_sender(address)
            return [
                IdentityChange(
                    sender=sender,
                    kind="identity_changed",
                    sender_kind=sender_kind,
                    identity_hash=_str(content.get("hash")),
                    detail=_str(content.get("description")),
                    timestamp=timestamp,
                    account_ref=business,
                    raw=payload,
                )
            ]
        if "notificationMessagesStatus" in content:
            status = (_str(content.get("notificationMessagesStatus")) or "").upper()
            granted = next((value for words, value in MARKETING_STATUSES if any(w in status for w in words)), None)
            address = _str(content.get("from"))
            if granted is None or not address:
                reason = f"a marketing preference this integration does not read: {status}"
                return [IgnoredEvent("infobip.whatsapp.marketing", reason, business, raw=payload)]
            sender_kind, sender = classify_sender(address)
            return [
                ConsentUpdate(
                    sender=sender,
                    granted=granted,
                    sender_kind=sender_kind,
                    detail=_str(content.get("description")),
                    provider_value=status,
                    timestamp=timestamp,
                    account_ref=business or _str(content.get("sender")),
                    raw=payload,
                )
            ]
        if kind.lower() == "payment":
            reason = "a WhatsApp payment notification: payments are not handled by the contact centre"
            return [IgnoredEvent("infobip.whatsapp.payment", reason, business, _str(content.get("paymentId")), payload)]
        reason = f"a WhatsApp notification this integration does not read: {kind}"
        return [IgnoredEvent(f"infobip.whatsapp.{kind.lower() or 'notification'}", reason, business, raw=payload)]


# Inbound WhatsApp message types (Infobip "WhatsAppWebhookType") not read as messages
IGNORED_WHATSAPP_TYPES = {
    "INTERACTIVE_PAYMENT_CONFIRMATION": "a payment confirmation: payments are not handled by the contact centre",
}
WHATSAPP_MEDIA_TYPES = {
    "IMAGE": "image",
    "DOCUMENT": "document",
    "AUDIO": "audio",
    "VOICE": "audio",  # a voice note: voice=True
    "VIDEO": "video",
    "STICKER": "sticker",
}
# notificationMessagesStatus of a marketing update notification: words meaning a stop or a resume
MARKETING_STATUSES = ((("STOP", "OPT_OUT", "OPTED_OUT", "UNSUBSCRIBE"), False), (("RESUME", "START", "OPT_IN"), True))
REFERRAL_KEYS = {
    "sourceUrl": "source_url",
    "sourceId": "source_id",
    "sourceType": "source_type",
    "headline": "headline",
    "body": "body",
    "ctwaClickId": "ctwa_clid",
}


def mms_payload(message, sender):
    """The ``POST /mms/2/messages`` body of an SMS ``message`` with a file at ``media_url``: its
    text then the file as a ``LINK`` segment, our reference as the ``messageId`` (as for SMS), and
    the delivery reports' URL."""
    segments = [{"type": "TEXT", "text": message.text}] if message.text else []
    link = {"type": "LINK", "contentUrl": message.media_url}
    content_type = mimetypes.guess_type(message.filename or "")[0]
    if content_type:
        link["contentType"] = content_type
    segments.append(link)
    destination = {"to": message.to.lstrip("+")}
    if message.client_ref:
        destination["messageId"] = str(message.client_ref)
    entry = {"sender": sender, "destinations": [destination], "content": {"messageSegments": segments}}
    webhooks = {}
    if message.status_callback:
        webhooks["delivery"] = {"url": message.status_callback}
    if message.client_ref:
        webhooks["callbackData"] = str(message.client_ref)
    if webhooks:
        entry["webhooks"] = webhooks
    return {"messages": [entry]}


def _mms_error_text(response):
    """What an Infobip MMS error answer says: its ``description`` (the MMS API's errors), else the
    older ``requestError.serviceException.text``."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    description = answer.get("description") if isinstance(answer, dict) else None
    return description[:200] if isinstance(description, str) else _service_exception_text(response)


def _is_notification(payload):
    """A WhatsApp notification object: ``{"from", "content": {...}, "createdAt"}`` (system events,
    payments, marketing preferences) or a template update ``{"messageTemplateId", ..., "change"}``."""
    if isinstance(payload.get("content"), dict):
        return True
    return isinstance(payload.get("change"), dict) and bool(
        payload.get("messageTemplateName") or payload.get("messageTemplateId")
    )


def _str(value):
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    return str(value) or None


def _whatsapp_content(kind, message):
    """The InboundMessage fields of one WhatsApp message of ``kind`` (Infobip's type, upper case)."""
    caption = _str(message.get("caption"))
    if kind == "TEXT":
        return {"message_type": "text", "text": _str(message.get("text"))}
    if kind in WHATSAPP_MEDIA_TYPES:
        url = _str(message.get("url"))
        media = (Media(url, None, None, caption),) if url else ()
        return {"message_type": WHATSAPP_MEDIA_TYPES[kind], "text": caption, "media": media, "voice": kind == "VOICE"}
    if kind == "LOCATION":
        keys = ("latitude", "longitude", "name", "address", "url")
        location = {key: message[key] for key in keys if isinstance(message.get(key), (int, float, str))}
        parts = [str(location[key]) for key in ("name", "address") if location.get(key)]
        text = " - ".join(parts) or (
            f"{location['latitude']}, {location['longitude']}"
            if "latitude" in location and "longitude" in location
            else None
        )
        return {"message_type": "location", "location": location, "text": text}
    if kind == "CONTACT":
        contacts = tuple(_shared_contact(c) for c in message.get("contacts") or [] if isinstance(c, dict))
        return {
            "message_type": "contacts",
            "shared_contacts": contacts,
            "text": ", ".join(c["name"] for c in contacts if c["name"]) or None,
        }
    if kind == "BUTTON":
        text = _str(message.get("text"))
        return {
            "message_type": "button",
            "interactive_id": _str(message.get("payload")),
            "interactive_title": text,
            "text": text,
        }
    if kind in ("INTERACTIVE_BUTTON_REPLY", "INTERACTIVE_LIST_REPLY"):
        title = _str(message.get("title"))
        return {
            "message_type": "interactive",
            "interactive_id": _str(message.get("id")),
            "interactive_title": title,
            "text": title,
        }
    if kind == "INTERACTIVE_FLOW_REPLY":
        response = message.get("response")
        if not isinstance(response, dict):
            response = {"response_json": response} if response is not None else None
            token = None
        else:
            token = _str(response.get("flow_token"))
        return {
            "message_type": "interactive",
            "flow_response": response,
            "flow_token": token,
            "text": _str(message.get("text")),
        }
    if kind == "INTERACTIVE_CALL_PERMISSION_REPLY":
        reply = message.get("callPermissionReply") if isinstance(message.get("callPermissionReply"), dict) else {}
        answer = _str(reply.get("response"))
        return {"message_type": "interactive", "interactive_id": answer, "interactive_title": answer}
    if kind == "ORDER":
        items = [
            {
                "product_retailer_id": _str(item.get("productRetailerId")),
                "quantity": item.get("quantity"),
                "item_price": item.get("itemPrice"),
                "currency": _str(item.get("currency")),
            }
            for item in message.get("productItems") or []
            if isinstance(item, dict)
        ]
        order = {"catalog_id": _str(message.get("catalogId")), "text": _str(message.get("text")), "items": items}
        return {"message_type": "order", "order": order, "text": order["text"]}
    if kind == "INFECTED_CONTENT":
        error = {"code": None, "title": "Infected content", "details": _str(message.get("malware"))}
        return {"message_type": "unsupported", "errors": (error,)}
    if kind == "UNSUPPORTED":
        return {"message_type": "unsupported"}
    return {"message_type": "unknown", "text": _str(message.get("text")) or caption}


def _shared_contact(contact):
    name = contact.get("name") if isinstance(contact.get("name"), dict) else {}
    full = _str(name.get("formattedName")) or " ".join(
        part for part in (_str(name.get("firstName")), _str(name.get("lastName"))) if part
    )
    phones = [
        e164_or_raw(phone.get("waId") or phone.get("phone"))
        for phone in contact.get("phones") or []
        if isinstance(phone, dict) and (phone.get("waId") or phone.get("phone"))
    ]
    emails = [_str(e.get("email")) for e in contact.get("emails") or [] if isinstance(e, dict) and _str(e.get("email"))]
    org = contact.get("org") if isinstance(contact.get("org"), dict) else {}
    return {"name": full or None, "phones": phones, "emails": emails, "organization": _str(org.get("company"))}


def _referral(referral):
    if not isinstance(referral, dict):
        return None
    kept = {key: referral[name] for name, key in REFERRAL_KEYS.items() if _str(referral.get(name))}
    return kept or None


def _referred_product(product):
    if not isinstance(product, dict):
        return None
    return {
        "catalog_id": _str(product.get("catalogId")),
        "product_retailer_id": _str(product.get("productRetailerId")),
    }


def _template_update(payload):
    """A WhatsApp template update: status (approved, rejected, paused...), category or quality."""
    change = payload["change"]
    kind = (_str(change.get("type")) or "").upper()
    name = _str(payload.get("messageTemplateName"))
    language = _str(payload.get("messageTemplateLanguage"))
    template_id = _str(payload.get("messageTemplateId"))
    if kind == "TEMPLATE_STATUS_UPDATE" and name:
        return [
            TemplateStatusUpdate(
                template_name=name,
                language=language,
                status=(_str(change.get("newStatus")) or "").upper(),
                reason=_str(change.get("reason")),
                template_id=template_id,
                raw=payload,
            )
        ]
    if kind in ("TEMPLATE_CATEGORY_UPDATE", "TEMPLATE_QUALITY_UPDATE"):
        category = kind == "TEMPLATE_CATEGORY_UPDATE"
        new = change.get("newCategory") if category else change.get("newQualityScore")
        previous = change.get("previousCategory") if category else change.get("previousQualityScore")
        prefix = "category" if category else "quality"
        return [
            AccountUpdate(
                kind=f"template_{prefix}",
                event=_str(new),
                template_id=template_id,
                template_name=name,
                language=language,
                details={f"previous_{prefix}": _str(previous), f"new_{prefix}": _str(new)},
                timestamp=utc_from_iso(payload.get("timestamp")),
                raw=payload,
            )
        ]
    reason = f"a template update this integration does not read: {kind}"
    return [IgnoredEvent(f"infobip.template.{kind.lower()}", reason, provider_message_id=template_id, raw=payload)]


def _service_exception_text(response):
    """The text of an Infobip error answer (``requestError.serviceException.text``), or ""."""
    try:
        answer = response.json()
    except ValueError:
        return ""
    request_error = answer.get("requestError") if isinstance(answer, dict) else None
    exception = (request_error or {}).get("serviceException") if isinstance(request_error, dict) else None
    text = exception.get("text") if isinstance(exception, dict) else None
    return text[:200] if isinstance(text, str) else ""
