from odoo import api, fields, models

from .contact_centre_contact import CHANNELS, WHATSAPP_WINDOW


class ContactCentreThread(models.Model):
    """A conversation: one per contact and channel, the row agents work in the inbox.

    A resolved conversation is not closed for good: the contact's next inbound message reopens it.
    """

    _name = "contact.centre.thread"
    _description = "Contact Centre Conversation"
    _order = "last_message_date DESC NULLS LAST, id DESC"
    _rec_name = "contact_id"

    contact_id = fields.Many2one("contact.centre.contact", required=True, ondelete="cascade", index=True)
    partner_id = fields.Many2one(related="contact_id.partner_id")
    company_id = fields.Many2one(related="contact_id.company_id", store=True)
    channel = fields.Selection(CHANNELS, required=True)
    whatsapp_config_id = fields.Many2one("contact.centre.whatsapp.config", "WhatsApp Number", ondelete="set null")
    sms_config_id = fields.Many2one("contact.centre.sms.config", "SMS Provider", ondelete="set null")
    assigned_agent_id = fields.Many2one("res.users", "Assigned Agent", index="btree_not_null")
    state = fields.Selection([("open", "Open"), ("resolved", "Resolved")], default="open", required=True)
    message_ids = fields.One2many("contact.centre.message", "thread_id", "Messages")
    last_message_date = fields.Datetime("Last Activity")
    last_message_preview = fields.Char("Last Message")
    last_inbound_date = fields.Datetime("Last Inbound")
    whatsapp_window_end = fields.Datetime("WhatsApp Window Ends", compute="_compute_whatsapp_window_end", store=True)
    unread_count = fields.Integer("Unread")
    resolved_date = fields.Datetime("Resolved On")

    _contact_channel_uniq = models.Constraint(
        "UNIQUE(contact_id, channel)", "A contact has one conversation per channel."
    )
    _inbox_idx = models.Index("(state, last_message_date DESC)")

    @api.depends("channel", "last_inbound_date")
    def _compute_whatsapp_window_end(self):
        for thread in self:
            last = thread.channel == "whatsapp" and thread.last_inbound_date
            thread.whatsapp_window_end = last + WHATSAPP_WINDOW if last else False

    @api.depends("contact_id", "channel")
    def _compute_display_name(self):
        labels = dict(CHANNELS)
        for thread in self:
            thread.display_name = f"{thread.contact_id.name or ''} ({labels.get(thread.channel, '')})"

    @api.model
    def _get_or_create(self, contact, channel):
        """The conversation of ``contact`` on ``channel``, created when it does not exist yet."""
        thread = self.search([("contact_id", "=", contact.id), ("channel", "=", channel)], limit=1)
        if not thread:
            thread = self.create(
                {"contact_id": contact.id, "channel": channel, "assigned_agent_id": contact.assigned_agent_id.id}
            )
        return thread

    def action_resolve(self):
        self.write({"state": "resolved", "resolved_date": fields.Datetime.now(), "unread_count": 0})

    def action_reopen(self):
        self.write({"state": "open", "resolved_date": False})

    def action_mark_read(self):
        self.filtered("unread_count").write({"unread_count": 0})
