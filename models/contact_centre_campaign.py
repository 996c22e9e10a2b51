from odoo import api, fields, models

from ..tools.keywords import match_keyword

CAMPAIGN_CHANNELS = [("whatsapp", "WhatsApp"), ("sms", "SMS"), ("both", "Both (preferred channel)")]

CAMPAIGN_STATES = [
    ("draft", "Draft"),
    ("scheduled", "Scheduled"),
    ("running", "Running"),
    ("paused", "Paused"),
    ("done", "Done"),
    ("cancelled", "Cancelled"),
]


class ContactCentreCampaign(models.Model):
    """A broadcast to a list of contacts (outbound) or a keyword people send to join (inbound)."""

    _name = "contact.centre.campaign"
    _description = "Contact Centre Campaign"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id DESC"

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    user_id = fields.Many2one("res.users", "Responsible", default=lambda self: self.env.user, tracking=True)
    campaign_type = fields.Selection(
        [("outbound", "Outbound Broadcast"), ("inbound", "Inbound Keyword")],
        "Type",
        required=True,
        default="outbound",
        tracking=True,
    )
    channel = fields.Selection(CAMPAIGN_CHANNELS, required=True, default="whatsapp", tracking=True)
    state = fields.Selection(CAMPAIGN_STATES, required=True, default="draft", tracking=True, copy=False)
    scheduled_date = fields.Datetime("Scheduled For", tracking=True, copy=False)
    contact_ids = fields.Many2many(
        "contact.centre.contact",
        "contact_centre_campaign_contact_rel",
        "campaign_id",
        "contact_id",
        "Contacts",
    )
    template_id = fields.Many2one(
        "contact.centre.template", "Template", domain="[('channel', 'in', (channel, False))]", tracking=True
    )
    sms_template_id = fields.Many2one(
        "contact.centre.template",
        "SMS Template",
        domain="[('channel', '=', 'sms')]",
        help="Used for contacts reached by SMS when the channel is Both or with the SMS fallback.",
    )
    whatsapp_config_id = fields.Many2one("contact.centre.whatsapp.config", "WhatsApp Number")
    sms_config_id = fields.Many2one("contact.centre.sms.config", "SMS Provider")
    keyword = fields.Char(help="Inbound campaigns: the word that enrols whoever sends it, e.g. JOIN.")
    reply_text = fields.Text("Reply", help="Inbound campaigns: the answer sent to each new member.")
    cc_message_ids = fields.One2many(
        "contact.centre.message", "campaign_id", "Campaign Messages", help="Every message this campaign sent."
    )
    recipient_count = fields.Integer("Recipients", compute="_compute_statistics")
    sent_count = fields.Integer("Sent", compute="_compute_statistics")
    delivered_count = fields.Integer("Delivered", compute="_compute_statistics")
    read_count = fields.Integer("Read", compute="_compute_statistics")
    failed_count = fields.Integer("Failed", compute="_compute_statistics")
    replied_count = fields.Integer("Replied", compute="_compute_statistics")
    opted_out_count = fields.Integer("Opted Out", compute="_compute_statistics")

    @api.depends("contact_ids")
    def _compute_statistics(self):
        """Message figures per campaign, in one grouped query for all of ``self``."""
        groups = self.env["contact.centre.message"]._read_group(
            [("campaign_id", "in", self.ids)], ["campaign_id", "status"], ["__count"]
        )
        by_campaign = {}
        for campaign, status, count in groups:
            by_campaign.setdefault(campaign.id, {})[status] = count
        for campaign in self:
            counts = by_campaign.get(campaign.id, {})
            delivered = counts.get("delivered", 0) + counts.get("read", 0)
            campaign.recipient_count = len(campaign.contact_ids)
            campaign.read_count = counts.get("read", 0)
            campaign.delivered_count = delivered
            campaign.sent_count = counts.get("sent", 0) + delivered
            campaign.failed_count = counts.get("failed", 0)
            campaign.replied_count = 0
            campaign.opted_out_count = 0

    @api.model
    def _handle_inbound_keyword(self, message):
        """Enrol the sender of inbound ``message`` into the running inbound campaign whose keyword it
        is, answer with the campaign's reply, and say whether the message was consumed."""
        campaigns = self.sudo().search(
            [
                ("campaign_type", "=", "inbound"),
                ("state", "=", "running"),
                ("channel", "in", (message.channel, "both")),
                ("keyword", "!=", False),
            ]
        )
        campaign = campaigns.filtered(lambda c: match_keyword(message.body_text or "", [c.keyword]))[:1]
        if not campaign:
            return False
        contact = message.contact_id
        campaign.contact_ids = [fields.Command.link(contact.id)]
        contact._set_opt_in(message.channel, True, "campaign")
        message.sudo().campaign_id = campaign
        if campaign.reply_text:
            message.thread_id._send_automated(text=campaign.reply_text, campaign=campaign)
        return True

    def action_view_messages(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("contact_centre.contact_centre_message_action")
        action["domain"] = [("campaign_id", "=", self.id)]
        return action
