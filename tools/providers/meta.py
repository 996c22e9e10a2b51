"""Meta WhatsApp Cloud API (Graph API): sending, templates, flows, media and webhooks."""

import hashlib
import hmac
import json
from urllib.parse import quote

from ..phone import e164_to_wa_id
from .base import (
    CONFIG,
    RECIPIENT,
    RETRY,
    UNKNOWN,
    WINDOW,
    InboundMessage,
    Media,
    Provider,
    ProviderError,
    SendResult,
    StatusUpdate,
    TemplateStatusUpdate,
    WebhookAuthError,
    WebhookParseError,
    classify_http_status,
    e164_or_raw,
    parse_retry_after,
    utc_from_timestamp,
)

ERROR_KINDS = {
    # Throttling: try again later.
    "4": RETRY,
    "80007": RETRY,
    "130429": RETRY,
    "131056": RETRY,
    "131016": RETRY,
    # This recipient cannot be reached.
    "131026": RECIPIENT,
    "131049": RECIPIENT,
    "131050": RECIPIENT,
    "131021": RECIPIENT,
    "131048": RETRY,
    # Outside the customer service window.
    "131047": WINDOW,
    # Credentials, account or template set-up.
    "0": CONFIG,
    "190": CONFIG,
    "10": CONFIG,
    "200": CONFIG,
    "131031": CONFIG,
    "132000": CONFIG,
    "132001": CONFIG,
    "133010": CONFIG,
}

STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}
MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
# Where the URL of ``GET /<media id>`` points (Cloud API, "Retrieve media URL" / "Download media"):
# https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=...; downloading it needs the token.
MEDIA_HOSTS = ("lookaside.fbsbx.com",)


def error_from_response(response):
    """``ProviderError`` for a Graph API error answer."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    code = error.get("code")
    details = (error.get("error_data") or {}).get("details")
    message = error.get("message") or f"HTTP {response.status_code}"
    if details:
        message = f"{message}: {details}"
    kind = ERROR_KINDS.get(str(code)) if code is not None else None
    return ProviderError(
        kind or classify_http_status(response.status_code),
        message,
        code=code if code is not None else response.status_code,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        http_status=response.status_code,
    )


def signature_of(body, app_secret):
    """``sha256=<hex>`` as Meta puts in ``X-Hub-Signature-256``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def phone_number_ids(payload):
    """The receiving phone number ids a decoded webhook body names."""
    ids = set()
    for entry in _list(payload, "entry") if isinstance(payload, dict) else ():
        for change in _list(entry, "changes"):
            value = change.get("value") if isinstance(change, dict) else None
            metadata = value.get("metadata") if isinstance(value, dict) else None
            if isinstance(metadata, dict) and metadata.get("phone_number_id"):
                ids.add(str(metadata["phone_number_id"]))
    return ids


def waba_ids(payload):
    """The WhatsApp Business Account ids of the entries of a decoded body (template updates name no number)."""
    entries = _list(payload, "entry") if isinstance(payload, dict) else ()
    return {str(entry["id"]) for entry in entries if isinstance(entry, dict) and entry.get("id")}


def verify_challenge(query, verify_tokens):
    """Meta's subscription handshake: the challenge to echo, or None to refuse."""
    if query.get("hub.mode") != "subscribe":
        return None
    given = query.get("hub.verify_token") or ""
    if any(token and hmac.compare_digest(token.encode(), given.encode()) for token in verify_tokens):
        return query.get("hub.challenge") or ""
    return None


def _list(container, key):
    value = container.get(key) if isinstance(container, dict) else None
    return value if isinstance(value, list) else []


class MetaCloudProvider(Provider):
    name = "meta"
    media_hosts = MEDIA_HOSTS
    media_credential_hosts = MEDIA_HOSTS

    def __init__(
        self,
        phone_number_id,
        access_token,
        app_secret="",
        waba_id=None,
        base_url="https://graph.facebook.com",
        api_version="v21.0",
        timeout=10,
    ):
        super().__init__(timeout=timeout)
        self.phone_number_id = str(phone_number_id)
        self.access_token = access_token
        self.app_secret = app_secret
        self.waba_id = waba_id
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version

    def _prepare_session(self, session):
        session.headers["Authorization"] = f"Bearer {self.access_token}"

    def _url(self, path):
        return f"{self.base_url}/{self.api_version}/{path.lstrip('/')}"

    def _call(self, method, path, **kwargs):
        response = self._request(self._session, method, self._url(path), **kwargs)
        if response.status_code >= 400:
            raise error_from_response(response)
        try:
            return response.json()
        except ValueError as error:
            raise ProviderError(UNKNOWN, "Meta answered with something that is not JSON") from error

    # Sending
    def message_payload(self, message):
        """The body of ``POST /<phone_number_id>/messages`` for ``message``."""
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": e164_to_wa_id(message.to)}
        if message.template:
            payload["type"] = "template"
            payload["template"] = {
                "name": message.template.name,
                "language": {"code": message.template.language},
                "components": message.template.components,
            }
        elif message.interactive:
            payload["type"] = "interactive"
            payload["interactive"] = message.interactive
        elif message.media_type:
            media = {"id": message.media_id} if message.media_id else {"link": message.media_url}
            if message.text and message.media_type in ("image", "document", "video"):
                media["caption"] = message.text
            if message.filename and message.media_type == "document":
                media["filename"] = message.filename
            payload["type"] = message.media_type
            payload[message.media_type] = media
        else:
            payload["type"] = "text"
            payload["text"] = {"body": message.text or "", "preview_url": False}
        if message.reply_to:
            payload["context"] = {"message_id": message.reply_to}
        if message.client_ref:
            payload["biz_opaque_callback_data"] = str(message.client_ref)
        return payload

    def _send_once(self, message):
        answer = self._call("POST", f"{self.phone_number_id}/messages", json=self.message_payload(message))
        messages = answer.get("messages") or []
        if not messages or not messages[0].get("id"):
            raise ProviderError(UNKNOWN, "Meta accepted the message but returned no message id")
        return SendResult(messages[0]["id"], "sent", answer)

    def mark_as_read(self, wamid):
        self._call(
            "POST",
            f"{self.phone_number_id}/messages",
            json={"messaging_product": "whatsapp", "status": "read", "message_id": wamid},
        )

    # Templates, flows, media
    def list_templates(self):
        """Every message template of the WABA, following pagination."""
        templates, path, params = [], f"{self.waba_id}/message_templates", {"limit": 100}
        while path:
            answer = self._call("GET", path, params=params)
            templates += answer.get("data") or []
            after = ((answer.get("paging") or {}).get("cursors") or {}).get("after")
            path, params = (path, {"limit": 100, "after": after}) if after and answer.get("data") else (None, None)
        return templates

    def create_template(self, payload):
        return self._call("POST", f"{self.waba_id}/message_templates", json=payload)

    def list_flows(self):
        return self._call("GET", f"{self.waba_id}/flows").get("data") or []

    def upload_media(self, content, mime_type, filename):
        answer = self._call(
            "POST",
            f"{self.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
        )
        return answer["id"]

    def download_media(self, media_id, max_bytes=None):
        """(content, mime type, file name) of an inbound media; its URL is short-lived and needs the token."""
        info = self._call("GET", quote(str(media_id), safe=""))
        url = info.get("url") if isinstance(info, dict) else None
        if not isinstance(url, str):
            raise ProviderError(UNKNOWN, "Meta returned no URL for the media")
        headers = {"Authorization": f"Bearer {self.access_token}"}
        content, content_type = self._fetch_media(url, max_bytes, headers=headers)
        return content, info.get("mime_type") or content_type, info.get("file_name")

    # Webhooks
    def owns_event(self, event):
        if isinstance(event, TemplateStatusUpdate):
            return bool(self.waba_id) and event.account_ref == str(self.waba_id)
        return event.account_ref == self.phone_number_id

    def verify_webhook(self, request):
        given = request.header("X-Hub-Signature-256") or ""
        if not self.app_secret or not given.startswith("sha256="):
            raise WebhookAuthError("Missing X-Hub-Signature-256")
        if not hmac.compare_digest(signature_of(request.body, self.app_secret).encode(), given.encode()):
            raise WebhookAuthError("Wrong X-Hub-Signature-256")

    def parse_webhook(self, request):
        payload = request.json()
        if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
            raise WebhookParseError("A WhatsApp webhook has an 'entry' list")
        events = []
        try:
            for entry in payload["entry"]:
                for change in _list(entry, "changes"):
                    events += self._parse_change(entry, change)
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise WebhookParseError(f"Malformed WhatsApp webhook: {type(error).__name__}: {error}") from error
        return events

    def _parse_change(self, entry, change):
        value = change.get("value") or {}
        if change.get("field") == "messages":
            number_id = str((value.get("metadata") or {}).get("phone_number_id") or "")
            names = {c.get("wa_id"): (c.get("profile") or {}).get("name") for c in _list(value, "contacts")}
            messages = [self._parse_message(item, number_id, names) for item in _list(value, "messages")]
            statuses = [self._parse_status(item, number_id) for item in _list(value, "statuses")]
            return messages + [status for status in statuses if status]
        if change.get("field") == "message_template_status_update":
            return [
                TemplateStatusUpdate(
                    template_name=value["message_template_name"],
                    language=value.get("message_template_language"),
                    status=str(value.get("event") or "").upper(),
                    reason=value.get("reason"),
                    template_id=str(value.get("message_template_id") or "") or None,
                    account_ref=str(entry.get("id") or "") or None,
                    raw=value,
                )
            ]
        return []  # other fields (quality, account updates) are not events of ours

    def _parse_message(self, item, number_id, names):
        kind = item.get("type") or "unknown"
        sender = e164_or_raw(item["from"])
        text, media, interactive_id, interactive_title, flow_token, flow_response = None, (), None, None, None, None
        if kind == "text":
            text = (item.get("text") or {}).get("body")
        elif kind in MEDIA_TYPES:
            body = item.get(kind) or {}
            media = (Media(str(body["id"]), body.get("mime_type"), body.get("filename"), body.get("caption")),)
            text = body.get("caption")
        elif kind == "location":
            location = item.get("location") or {}
            parts = [location.get("name"), location.get("address")]
            coordinates = f"{location.get('latitude')}, {location.get('longitude')}"
            text = " - ".join(p for p in parts if p) or coordinates
        elif kind == "interactive":
            interactive = item.get("interactive") or {}
            reply = interactive.get(interactive.get("type") or "") or {}
            if interactive.get("type") == "nfm_reply":
                flow_response = json.loads(reply.get("response_json") or "{}")
                flow_token = flow_response.get("flow_token")
                text = reply.get("body")
            else:
                interactive_id, interactive_title = reply.get("id"), reply.get("title")
                text = interactive_title
        elif kind == "button":
            button = item.get("button") or {}
            interactive_id, interactive_title, text = button.get("payload"), button.get("text"), button.get("text")
        elif kind == "contacts":
            text = ", ".join((c.get("name") or {}).get("formatted_name", "") for c in _list(item, "contacts"))
        return InboundMessage(
            provider_message_id=str(item["id"]),
            sender=sender,
            recipient=number_id,
            channel="whatsapp",
            message_type=kind
            if kind in (*MEDIA_TYPES, "text", "location", "interactive", "button", "contacts")
            else "unknown",
            text=text,
            media=media,
            reply_to_provider_id=(item.get("context") or {}).get("id"),
            timestamp=utc_from_timestamp(item.get("timestamp")),
            profile_name=names.get(item["from"]),
            interactive_id=interactive_id,
            interactive_title=interactive_title,
            flow_token=flow_token,
            flow_response=flow_response,
            account_ref=number_id,
            raw=item,
        )

    def _parse_status(self, item, number_id):
        errors = _list(item, "errors")
        error = errors[0] if errors and isinstance(errors[0], dict) else {}
        status = STATUSES.get(item["status"])
        if status is None:
            return None  # "deleted", "warning"...: not a delivery status
        return StatusUpdate(
            provider_message_id=str(item["id"]),
            status=status,
            timestamp=utc_from_timestamp(item.get("timestamp")),
            error_code=str(error["code"]) if error.get("code") is not None else None,
            error_title=error.get("title") or error.get("message"),
            recipient=e164_or_raw(item["recipient_id"]) if item.get("recipient_id") else None,
            account_ref=number_id,
            raw=item,
        )
