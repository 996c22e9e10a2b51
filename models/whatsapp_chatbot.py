from odoo import api, fields, models


class WhatsappChatbot(models.Model):
    """A scripted conversation run per contact: ordered steps, questions with options, hand-over.

    Odoo community has no WhatsApp chatbot, so the addon ships its own; it also runs over SMS,
    where options are offered as numbered lines.
    """

    _name = "whatsapp.chatbot"
    _description = "WhatsApp Chatbot"
    _inherit = ["mail.thread"]
    _order = "name"

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    step_ids = fields.One2many("whatsapp.chatbot.step", "chatbot_id", "Steps", copy=True)
    step_count = fields.Integer(compute="_compute_step_count")
    fallback_message = fields.Char(
        default="Sorry, I did not understand. Please choose one of the options.",
        translate=True,
        help="Sent when an answer matches no option.",
    )
    automation_ids = fields.One2many("contact.centre.automation", "chatbot_id", "Automations")

    @api.depends("step_ids")
    def _compute_step_count(self):
        for chatbot in self:
            chatbot.step_count = len(chatbot.step_ids)
