"""Meta WhatsApp Cloud API (Graph API): sending, templates, flows, media and webhooks."""

import hashlib
import hmac
from urllib.parse import quote

from ..meta_templates import LIST_FIELDS, next_cursor
from ..phone import USER_ID, classify_sender, e164_to_wa_id
from .base import (
    CONFIG,
    RECIPIENT,
    RETRY,
    UNKNOWN,
    WINDOW,
    AccountUpdate,
    IgnoredEvent,
    Provider,
    ProviderError,
    SendResult,
    TemplateStatusUpdate,
    WebhookAuthError,
    WebhookParseError,
    classify_http_status,
    parse_retry_after,
)
from .health import META_PROBLEMS, NOT_CONFIGURED, OK, QUALITY, WARNING, HealthResult, failure, from_error
from .meta_events import parse_envelope

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

# Events of the whole WhatsApp Business Account rather than of one of its numbers
ACCOUNT_LEVEL_EVENTS = (TemplateStatusUpdate, AccountUpdate, IgnoredEvent)
# Where the URL of ``GET /<media id>`` points (Cloud API, "Retrieve media URL" / "Download media"):
# https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=...; downloading it needs the token.
MEDIA_HOSTS = ("lookaside.fbsbx.com",)
# What ``check_health`` reads of the phone number node (Graph API, WhatsApp Business phone number)
HEALTH_FIELDS = (
    "display_phone_number",
    "verified_name",
    "quality_rating",
    "messaging_limit_tier",
    "name_status",
    "code_verification_status",
)


def read_payload(wamid, typing=False):
    """The body of a read receipt of ``wamid``, with the typing indicator when ``typing``."""
    payload = {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
    if typing:
        payload["typing_indicator"] = {"type": "text"}
    return payload


def error_from_response(response):
    """``ProviderError`` for a Graph API error answer."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    code = error.get("code")
    details = (error.get("error_data") or {}).get("details")
    # Graph API errors meant for people (template reviews among them) say it in error_user_title/msg.
    details = details or " ".join(str(error[k]) for k in ("error_user_title", "error_user_msg") if error.get(k))
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
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual"}
        if classify_sender(message.to)[0] == USER_ID:
            # A person known by their business-scoped user id only (usernames): Meta's "recipient".
            payload["recipient"] = message.to.strip()
        else:
            payload["to"] = e164_to_wa_id(message.to)
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

    def mark_as_read(self, wamid, typing=False):
        """Mark the customer's message ``wamid`` (and the earlier ones) read; with ``typing``, the
        customer also sees "typing..." until our reply or for 25 s (Cloud API, "Typing indicators")."""
        self._call("POST", f"{self.phone_number_id}/messages", json=read_payload(wamid, typing))

    # Account health
    def check_health(self):
        """``HealthResult`` of ``GET /<phone number id>?fields=...``: the number's display number,
        verified name, quality rating and messaging limit tier. A low (red) quality is a warning."""
        if not self.access_token or not self.phone_number_id:
            return failure(NOT_CONFIGURED, "No access token or phone number id")
        try:
            node = self._call("GET", quote(self.phone_number_id, safe=""), params={"fields": ",".join(HEALTH_FIELDS)})
        except ProviderError as error:
            return from_error(error, META_PROBLEMS)
        info = {key: str(node[key]) for key in HEALTH_FIELDS if isinstance(node, dict) and node.get(key)}
        if info.get("quality_rating", "").upper() == "RED":
            return HealthResult(WARNING, QUALITY, info=info)
        return HealthResult(OK, info=info)

    # Templates, flows, media
    def list_templates(self, limit=100, fields=LIST_FIELDS):
        """Every message template of the WABA (Meta's items, as they come), page after page:
        ``paging.cursors.after`` is followed while Meta gives a ``paging.next``."""
        templates, params = [], {"limit": limit, "fields": fields}
        while True:
            answer = self._call("GET", f"{self.waba_id}/message_templates", params=params)
            data = answer.get("data") if isinstance(answer, dict) else None
            templates += [item for item in data or () if isinstance(item, dict)]
            after = next_cursor(answer)
            if not after or not data or after == params.get("after"):
                return templates
            params = {**params, "after": after}

    def create_template(self, payload):
        """``POST /<waba-id>/message_templates``: ``{"id", "status", "category"}``."""
        return self._call("POST", f"{self.waba_id}/message_templates", json=payload)

    def edit_template(self, template_id, payload):
        """``POST /<template-id>``: a rejected or paused template's category or components edited."""
        return self._call("POST", quote(str(template_id), safe=""), json=payload)

    def upload_resumable(self, app_id, content, mime_type, filename):
        """The handle (``h``) of a file uploaded through Meta's Resumable Upload API, as a
        template's header sample: ``POST /<app-id>/uploads`` opens a session, ``POST
        /upload:<session>`` (``Authorization: OAuth``, ``file_offset``) sends the bytes."""
        session = self._call(
            "POST",
            f"{quote(str(app_id), safe='')}/uploads",
            params={"file_name": filename, "file_length": len(content), "file_type": mime_type},
        )
        session_id = session.get("id") if isinstance(session, dict) else None
        if not isinstance(session_id, str) or not session_id.startswith("upload:"):
            raise ProviderError(UNKNOWN, "Meta opened no upload session")
        answer = self._call(
            "POST",
            session_id,  # "upload:<id>", possibly with its "?sig=..." as Meta gives it
            headers={"Authorization": f"OAuth {self.access_token}", "file_offset": "0"},
            data=content,
        )
        handle = answer.get("h") if isinstance(answer, dict) else None
        if not isinstance(handle, str) or not handle:
            raise ProviderError(UNKNOWN, "Meta returned no handle for the uploaded file")
        return handle

    def list_flows(self, limit=100):
        """Every WhatsApp Flow of the WABA (``GET /<waba-id>/flows``: ``id``, ``name``, ``status``,
        ``categories``, ``validation_errors``), page after page as ``list_templates``."""
        flows, params = [], {"limit": limit, "fields": "id,name,status,categories,validation_errors"}
        while True:
            answer = self._call("GET", f"{self.waba_id}/flows", params=params)
            data = answer.get("data") if isinstance(answer, dict) else None
            flows += [item for item in data or () if isinstance(item, dict)]
            after = next_cursor(answer)
            if not after or not data or after == params.get("after"):
                return flows
            params = {**params, "after": after}

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
        """Events of a number name its phone number id; those of the whole business account (template
        and account updates, and what could not be read outside a number) name the WABA id."""
        ref = getattr(event, "account_ref", None)
        if isinstance(event, ACCOUNT_LEVEL_EVENTS) and self.waba_id and ref == str(self.waba_id):
            return True
        return not isinstance(event, TemplateStatusUpdate) and ref == self.phone_number_id

    def verify_webhook(self, request):
        given = request.header("X-Hub-Signature-256") or ""
        if not self.app_secret or not given.startswith("sha256="):
            raise WebhookAuthError("Missing X-Hub-Signature-256")
        if not hmac.compare_digest(signature_of(request.body, self.app_secret).encode(), given.encode()):
            raise WebhookAuthError("Wrong X-Hub-Signature-256")

    def parse_webhook(self, request):
        """The events of a webhook body. Only a body that is not Meta's envelope (no ``entry`` list)
        is refused; anything inside it that cannot be read becomes an ``IgnoredEvent``."""
        payload = request.json()
        if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
            raise WebhookParseError("A WhatsApp webhook has an 'entry' list")
        return parse_envelope(payload)
