from odoo import api, fields, models

from .contact_centre_contact import CHANNELS

DIRECTIONS = [("inbound", "Inbound"), ("outbound", "Outbound")]

STATUSES = [
    ("queued", "Queued"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("read", "Read"),
    ("failed", "Failed"),
    ("received", "Received"),
]

MESSAGE_TYPES = [
    ("text", "Text"),
    ("template", "Template"),
    ("image", "Image"),
    ("document", "Document"),
    ("audio", "Audio"),
    ("video", "Video"),
    ("sticker", "Sticker"),
    ("location", "Location"),
    ("interactive", "Interactive"),
    ("button", "Button Reply"),
    ("contacts", "Contacts"),
    ("unknown", "Unknown"),
]

PROVIDERS = [("meta", "Meta Cloud API"), ("twilio", "Twilio"), ("infobip", "Infobip"), ("custom", "Custom HTTP")]


class ContactCentreMessage(models.Model):
    _name = "contact.centre.message"
    _description = "Contact Centre Message"
    _order = "message_timestamp DESC, id DESC"
    _rec_name = "preview"

    contact_id = fields.Many2one("contact.centre.contact", required=True, ondelete="cascade")
    partner_id = fields.Many2one(related="contact_id.partner_id")
    thread_id = fields.Many2one("contact.centre.thread", "Conversation", ondelete="cascade")
    channel = fields.Selection(CHANNELS, required=True)
    direction = fields.Selection(DIRECTIONS, required=True)
    message_type = fields.Selection(MESSAGE_TYPES, "Type", required=True, default="text")
    body_text = fields.Text("Text")
    body_html = fields.Html("Body", sanitize=True)
    preview = fields.Char(compute="_compute_preview")
    status = fields.Selection(STATUSES, required=True, default="queued", index=False)
    provider = fields.Selection(PROVIDERS)
    external_message_id = fields.Char("Provider Message ID", copy=False, readonly=True)
    campaign_id = fields.Many2one("contact.centre.campaign", ondelete="set null", index="btree_not_null")
    template_id = fields.Many2one("contact.centre.template", ondelete="restrict")
    assigned_agent_id = fields.Many2one(related="thread_id.assigned_agent_id", store=True, index="btree_not_null")
    author_id = fields.Many2one("res.users", "Sent By", readonly=True, help="The agent who wrote an outbound message.")
    is_automated = fields.Boolean("Automated", readonly=True, help="Sent by an automation, a chatbot or a campaign.")
    parent_message_id = fields.Many2one("contact.centre.message", "Reply To", ondelete="set null")
    reply_to_external_id = fields.Char("Reply To (Provider ID)", readonly=True)
    message_timestamp = fields.Datetime("Time", required=True, default=fields.Datetime.now)
    sent_date = fields.Datetime(readonly=True)
    delivered_date = fields.Datetime(readonly=True)
    read_date = fields.Datetime(readonly=True)
    error_code = fields.Char(readonly=True)
    error_message = fields.Char("Error", readonly=True)
    attachment_ids = fields.Many2many("ir.attachment", string="Attachments")
    interactive_payload = fields.Json("Interactive Payload", readonly=True)
    whatsapp_config_id = fields.Many2one("contact.centre.whatsapp.config", "WhatsApp Number", ondelete="set null")
    sms_config_id = fields.Many2one("contact.centre.sms.config", "SMS Provider", ondelete="set null")
    company_id = fields.Many2one(related="contact_id.company_id", store=True)

    _external_message_uniq = models.UniqueIndex(
        "(external_message_id, provider) WHERE external_message_id IS NOT NULL",
        "A provider message can be stored only once.",
    )
    _contact_channel_direction_idx = models.Index("(contact_id, channel, direction)")
    _status_timestamp_idx = models.Index("(status, message_timestamp)")
    _thread_timestamp_idx = models.Index("(thread_id, message_timestamp DESC, id DESC)")

    @api.depends("body_text", "message_type")
    def _compute_preview(self):
        types = dict(MESSAGE_TYPES)
        for message in self:
            text = (message.body_text or "").strip().replace("\n", " ")
            message.preview = text[:80] if text else f"[{types.get(message.message_type, '')}]"

    def _provider_config(self):
        """The configuration record this message goes or came through."""
        self.ensure_one()
        return self.whatsapp_config_id if self.channel == "whatsapp" else self.sms_config_id

    # Hooks between the parts of the contact centre. Each is implemented by the part that owns it.

    def _dispatch_inbound(self):
        """Run the inbound rules on newly stored inbound messages: opt-out/in commands, inbound
        campaign keywords, a running chatbot, automations, then assignment of the conversation."""

    def _notify_inbox(self):
        """Tell the inbox of the agents who may see these messages that they are new or changed."""

    def _to_outbound(self):
        """The Odoo-free ``OutboundMessage`` to hand to the provider for this queued message."""
        raise NotImplementedError

    def _apply_send_result(self, result):
        """Record what the provider answered (``SendResult`` or ``ProviderError``) on this message."""
        raise NotImplementedError
