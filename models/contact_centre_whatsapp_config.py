import secrets

import phonenumbers

from odoo import api, fields, models, tools
from odoo.exceptions import ValidationError

from ..tools.phone import InvalidPhoneNumber, to_e164

ADMIN_GROUP = "contact_centre.group_contact_centre_admin"


class ContactCentreWhatsappConfig(models.Model):
    """A WhatsApp Business phone number on Meta's Cloud API."""

    _name = "contact.centre.whatsapp.config"
    _description = "WhatsApp Business Number"
    _inherit = ["mail.thread", "contact.centre.provider.mixin"]
    _order = "sequence, id"

    account_id = fields.Char(
        "WhatsApp Business Account ID", required=True, tracking=True, help="The WABA id, in Meta's Business Manager."
    )
    phone_number_id = fields.Char(
        "Phone Number ID", required=True, tracking=True, help="Meta's id of the number, not the number itself."
    )
    display_phone_number = fields.Char(
        "Phone Number", tracking=True, help="The number customers write to, with its country code; stored in E.164."
    )
    access_token = fields.Char(
        groups=ADMIN_GROUP, copy=False, help="A permanent system-user token with whatsapp_business_messaging."
    )
    app_secret = fields.Char(groups=ADMIN_GROUP, copy=False, help="The Meta app's secret, which signs the webhooks.")
    verify_token = fields.Char(
        groups=ADMIN_GROUP,
        copy=False,
        default=lambda self: secrets.token_urlsafe(24),
        help="A secret string Meta sends back when it checks the callback URL: copy it into the Verify token "
        "box of your Meta app's webhook set-up (WhatsApp > Configuration). One is generated; you may replace it.",
    )
    api_version = fields.Char("Graph API Version", required=True, default="v21.0")
    api_base_url = fields.Char("API Base URL", required=True, default="https://graph.facebook.com")
    rate_limit = fields.Integer(
        "Messages per Second", default=80, help="Meta's default throughput for one number; raised by Meta up to 1,000."
    )
    template_ids = fields.One2many("contact.centre.template", "whatsapp_config_id", "Templates")
    flow_ids = fields.One2many("contact.centre.whatsapp.flow", "config_id", "Flows")
    webhook_url = fields.Char("Webhook URL", compute="_compute_webhook_url")
    template_count = fields.Integer(compute="_compute_template_count")

    _phone_number_id_uniq = models.Constraint(
        "UNIQUE(phone_number_id)", "This WhatsApp phone number id is already configured."
    )

    def _compute_webhook_url(self):
        for config in self:
            config.webhook_url = f"{config.get_base_url()}/contact_centre/webhook/whatsapp"

    @api.depends("template_ids")
    def _compute_template_count(self):
        for config in self:
            config.template_count = len(config.template_ids)

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._normalize_phone_vals(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._normalize_phone_vals(vals)
        return super().write(vals)

    def _provider_settings(self):
        return {
            "base_url": self.api_base_url,
            "api_version": self.api_version,
            "phone_number_id": self.phone_number_id,
            "access_token": self.access_token or "",
            "app_secret": self.app_secret or "",
            "waba_id": self.account_id,
        }

    def _provider_name(self):
        return "meta"

    def _message_config_field(self):
        return "whatsapp_config_id"

    @api.model
    def _find_for_webhook(self, phone_number_ids, account_ids=()):
        """Active numbers a Meta webhook names, by phone number id or by business account
        (template updates name no number), secrets readable."""
        by_number, by_account = self._webhook_routing()
        ids = {by_number[number] for number in phone_number_ids if number in by_number}
        ids.update(config_id for account in account_ids for config_id in by_account.get(account, ()))
        return self.sudo().browse(sorted(ids))

    @api.model
    @tools.ormcache()
    def _webhook_routing(self):
        """({phone number id: config id}, {business account id: (config ids)}) of the active numbers,
        read once per process and kept until a configuration changes: every Meta webhook is routed
        with it, and an unsigned request naming many ids costs no query per id."""
        by_number, by_account = {}, {}
        for config in self.sudo().search_fetch([("active", "=", True)], ["phone_number_id", "account_id"]):
            by_number[config.phone_number_id] = config.id
            by_account.setdefault(config.account_id, []).append(config.id)
        return by_number, {account: tuple(ids) for account, ids in by_account.items()}

    def action_view_templates(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("contact_centre.contact_centre_template_action")
        action["domain"] = [("whatsapp_config_id", "=", self.id)]
        action["context"] = {"default_whatsapp_config_id": self.id, "default_channel": "whatsapp"}
        return action

    def _normalize_phone_vals(self, vals):
        if vals.get("display_phone_number"):
            vals["display_phone_number"] = self._normalize_display_phone_number(vals["display_phone_number"])

    @api.model
    def _normalize_display_phone_number(self, number):
        """``number`` in E.164, or a ValidationError. Meta's test numbers (+1 555 ...) are not
        assigned numbers, which phonenumbers calls invalid: a number of a possible length for its
        country code is accepted too."""
        try:
            return to_e164(number)
        except InvalidPhoneNumber:
            pass
        text = number.strip()
        try:
            parsed = phonenumbers.parse("+" + text[2:] if text.startswith("00") else text)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is not None and phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        raise ValidationError(
            self.env._(
                "“%(number)s” is not a phone number. Enter the WhatsApp number with its country code, "
                "e.g. +32 470 12 34 56.",
                number=number,
            )
        )
