import secrets

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..tools.providers import health

ADMIN_GROUP = "contact_centre.group_contact_centre_admin"

# Providers whose API sends MMS (Twilio: MediaUrl; Infobip: the MMS API); a custom gateway does
# when its body template passes the file's public URL on.
MMS_PROVIDERS = ("twilio", "infobip")
MEDIA_URL_PLACEHOLDER = "{{media_url}}"

DEFAULT_BASE_URLS = {
    "twilio": "https://api.twilio.com",
    "infobip": "https://api.infobip.com",
    "custom": "",
}


class ContactCentreSmsConfig(models.Model):
    """An SMS provider account: Twilio, Infobip or any HTTP gateway."""

    _name = "contact.centre.sms.config"
    _description = "SMS Provider"
    _inherit = ["mail.thread", "contact.centre.provider.mixin", "contact.centre.health.mixin"]
    _order = "sequence, id"

    provider = fields.Selection(
        [("twilio", "Twilio"), ("infobip", "Infobip"), ("custom", "Custom HTTP Gateway")],
        required=True,
        default="twilio",
        tracking=True,
    )
    api_base_url = fields.Char(
        "API Base URL",
        groups=ADMIN_GROUP,
        compute="_compute_api_base_url",
        store=True,
        readonly=False,
        help="Infobip: your account's own base URL (https://<id>.api.infobip.com).",
    )
    sender = fields.Char(help="The number or alphanumeric sender id messages come from.", tracking=True)
    webhook_token = fields.Char(
        groups=ADMIN_GROUP,
        copy=False,
        default=lambda self: secrets.token_urlsafe(24),
        help="Secret part of the webhook URL for providers that do not sign their webhooks.",
    )
    rate_limit = fields.Integer(
        "Messages per Second",
        default=10,
        tracking=True,
        help="The provider's limit for this account or sender: a total over every Odoo worker and host "
        "sending through it, kept with 2% to spare so that no second goes over.",
    )
    twilio_account_sid = fields.Char("Account SID", groups=ADMIN_GROUP)
    twilio_auth_token = fields.Char("Auth Token", groups=ADMIN_GROUP, copy=False)
    twilio_messaging_service_sid = fields.Char(
        "Messaging Service SID", groups=ADMIN_GROUP, help="When set, Twilio picks the sender from the service."
    )
    infobip_api_key = fields.Char("API Key", groups=ADMIN_GROUP, copy=False)
    custom_url = fields.Char("Send URL", groups=ADMIN_GROUP, help="Full URL messages are sent to (it may carry a key).")
    custom_method = fields.Selection([("POST", "POST"), ("PUT", "PUT"), ("GET", "GET")], default="POST")
    custom_auth_header = fields.Char(
        "Authorization Header",
        groups=ADMIN_GROUP,
        copy=False,
        help="A full header line, e.g. 'Authorization: Bearer xyz'.",
    )
    custom_body_template = fields.Text(
        "Body Template",
        groups=ADMIN_GROUP,
        default='{"to": "{{to}}", "from": "{{sender}}", "text": "{{text}}", "reference": "{{client_ref}}"}',
        help="JSON body; {{to}}, {{sender}}, {{text}}, {{client_ref}} and {{media_url}} (the public URL of an "
        "MMS's file) are replaced (JSON-escaped).",
    )
    custom_message_id_path = fields.Char(
        "Message ID Path",
        default="id",
        help="Dotted path of the message id in the gateway's JSON answer, e.g. data.id.",
    )
    custom_health_url = fields.Char(
        "Health URL",
        groups=ADMIN_GROUP,
        help="Optional: a URL of the gateway that answers GET with a 2xx status while it works (the authorization "
        "header goes with it). Test Connection calls it.",
    )
    webhook_url = fields.Char("Webhook URL", compute="_compute_webhook_url", groups=ADMIN_GROUP)
    mms_enabled = fields.Boolean(
        "Send MMS",
        compute="_compute_mms_enabled",
        store=True,
        readonly=False,
        tracking=True,
        help="Agents may attach an image, a video, audio or a PDF to an SMS, sent as an MMS (Twilio, Infobip; a "
        "custom gateway whose body template passes {{media_url}}). The provider downloads the file from a "
        "public link of this database (its Base URL must be reachable from the internet). MMS is mostly "
        "offered on US and Canadian numbers: check that your numbers send it.",
    )

    @api.constrains("mms_enabled", "provider", "custom_body_template")
    def _check_mms_gateway(self):
        for config in self:
            if config.mms_enabled and not config._mms_capable():
                raise ValidationError(
                    self.env._(
                        "%(name)s cannot send MMS: put {{media_url}} in the gateway's body template where the "
                        "gateway takes the file's URL, or turn Send MMS off.",
                        name=config.display_name,
                    )
                )

    @api.depends("provider")
    def _compute_mms_enabled(self):
        for config in self:
            config.mms_enabled = config.provider in MMS_PROVIDERS

    @api.depends("provider")
    def _compute_api_base_url(self):
        for config in self:
            if not config.api_base_url or config.api_base_url in DEFAULT_BASE_URLS.values():
                config.api_base_url = DEFAULT_BASE_URLS.get(config.provider, "")

    @api.depends("provider", "webhook_token")
    def _compute_webhook_url(self):
        for config in self:
            base_url = config.get_base_url()
            if not config.id:
                config.webhook_url = False
            elif config.provider == "twilio":
                config.webhook_url = f"{base_url}/contact_centre/webhook/twilio/{config.id}"
            else:
                config.webhook_url = (
                    f"{base_url}/contact_centre/webhook/{config.provider}/{config.id}/{config.webhook_token}"
                )

    def _provider_settings(self):
        if self.provider == "twilio":
            return {
                "base_url": self.api_base_url,
                "account_sid": self.twilio_account_sid or "",
                "auth_token": self.twilio_auth_token or "",
                "sender": self.sender,
                "messaging_service_sid": self.twilio_messaging_service_sid,
            }
        if self.provider == "infobip":
            return {
                "base_url": self.api_base_url,
                "api_key": self.infobip_api_key or "",
                "sender": self.sender,
                "webhook_token": self.webhook_token or "",
            }
        return {
            "url": self.custom_url or "",
            "method": self.custom_method,
            "auth_header": self.custom_auth_header,
            "body_template": self.custom_body_template,
            "message_id_path": self.custom_message_id_path,
            "sender": self.sender,
            "webhook_token": self.webhook_token or "",
            "health_url": self.custom_health_url or None,
        }

    def _provider_name(self):
        return self.provider

    # Account health

    def _health_ok_text(self, info):
        _ = self.env._
        if self.provider == "twilio":
            return _(
                "Connected to Twilio account %(name)s (%(status)s).",
                name=info.get("friendly_name") or "",
                status=info.get("status") or "",
            )
        if self.provider == "infobip":
            return _(
                "Connected to Infobip. Balance: %(balance)s %(currency)s.",
                balance=info.get("balance"),
                currency=info.get("currency") or "",
            )
        return _("The gateway's health URL answered HTTP %(status)s.", status=info.get("http_status"))

    def _health_problem_text(self, result):
        _ = self.env._
        texts = {
            "twilio": {
                health.CREDENTIALS: _(
                    "Twilio refused the Account SID and Auth Token (error 20003): copy both again from the Twilio "
                    "console (a rotated auth token invalidates the old one)."
                ),
                health.NOT_FOUND: _("Twilio does not know this Account SID (error 20404)."),
                health.ACCOUNT: _(
                    "The Twilio account is %(status)s: it cannot send messages.",
                    status=result.info.get("status") or _("not active"),
                ),
                health.TRIAL: _(
                    "Connected to a Twilio trial account (%(name)s): it can only send to numbers verified in "
                    "the Twilio console. Upgrade the account to reach any customer.",
                    name=result.info.get("friendly_name") or "",
                ),
                health.NOT_CONFIGURED: _("Enter the Account SID and the Auth Token first."),
            },
            "infobip": {
                health.CREDENTIALS: _(
                    "Infobip refused the API key (HTTP 401): check the key, and that it belongs to the account "
                    "of this base URL."
                ),
                health.PERMISSION: _("The Infobip API key may not read the account's balance (HTTP 403)."),
                health.NOT_FOUND: _("Nothing answers at this base URL (HTTP 404): check the account's base URL."),
                health.NO_CREDIT: _(
                    "The Infobip account has no credit left (balance %(balance)s %(currency)s): top it up, or "
                    "messages will be rejected.",
                    balance=result.info.get("balance"),
                    currency=result.info.get("currency") or "",
                ),
                health.NOT_CONFIGURED: _("Enter the account's base URL and the API key first."),
            },
            "custom": {
                health.CREDENTIALS: _("The gateway refused the authorization header (HTTP 401)."),
                health.PERMISSION: _("The gateway refused access (HTTP 403): check the authorization header."),
                health.NOT_FOUND: _("The gateway has no such health URL (HTTP 404)."),
                health.NOT_CONFIGURED: _(
                    "Set a health URL to test this gateway (any 2xx answer to a GET means it works)."
                ),
            },
        }
        text = texts.get(self.provider, {}).get(result.problem)
        if not text and self.provider == "custom" and result.code and result.code.isdigit():
            return _("The gateway's health URL answered HTTP %(status)s.", status=result.code)
        return text

    def _message_config_field(self):
        return "sms_config_id"

    # MMS

    def _mms_capable(self):
        """Whether this provider can send a file at all (``mms_enabled`` says whether it may)."""
        self.ensure_one()
        if self.provider in MMS_PROVIDERS:
            return True
        return self.provider == "custom" and MEDIA_URL_PLACEHOLDER in (self.sudo().custom_body_template or "")

    def _mms_refusal(self):
        """Why a file cannot go by SMS through this provider, or None."""
        self.ensure_one()
        if self.mms_enabled and self._mms_capable():
            return None
        return self.env._(
            "%(name)s does not send MMS: a file cannot go by SMS. Send the text alone, or write on WhatsApp.",
            name=self.display_name,
        )

    def _status_callback_url(self):
        return self.sudo().webhook_url or None
