import secrets

from odoo import api, fields, models

ADMIN_GROUP = "contact_centre.group_contact_centre_admin"

DEFAULT_BASE_URLS = {
    "twilio": "https://api.twilio.com",
    "infobip": "https://api.infobip.com",
    "custom": "",
}


class ContactCentreSmsConfig(models.Model):
    """An SMS provider account: Twilio, Infobip or any HTTP gateway."""

    _name = "contact.centre.sms.config"
    _description = "SMS Provider"
    _inherit = ["mail.thread", "contact.centre.provider.mixin"]
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
    rate_limit = fields.Integer("Messages per Second", default=10)
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
        help="JSON body; {{to}}, {{sender}}, {{text}} and {{client_ref}} are replaced (JSON-escaped).",
    )
    custom_message_id_path = fields.Char(
        "Message ID Path",
        default="id",
        help="Dotted path of the message id in the gateway's JSON answer, e.g. data.id.",
    )
    webhook_url = fields.Char("Webhook URL", compute="_compute_webhook_url", groups=ADMIN_GROUP)

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
        }

    def _provider_name(self):
        return self.provider

    def _message_config_field(self):
        return "sms_config_id"

    def _status_callback_url(self):
        return self.sudo().webhook_url or None
