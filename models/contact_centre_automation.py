from odoo import api, fields, models
from odoo.exceptions import ValidationError

AUTOMATION_TYPES = [
    ("keyword", "Keyword"),
    ("auto_reply", "Auto-reply"),
    ("chatbot", "Chatbot"),
]

TRIGGER_TYPES = [
    ("keyword", "Message contains a keyword"),
    ("first_message", "First message of a conversation"),
    ("outside_hours", "Outside business hours"),
    ("no_agent", "No agent available"),
    ("any_message", "Any inbound message"),
]


class ContactCentreAutomation(models.Model):
    """A rule run on each inbound message, in sequence order: reply, suggest a script or start a bot."""

    _name = "contact.centre.automation"
    _description = "Contact Centre Automation"
    _inherit = ["mail.thread"]
    _order = "sequence, id"

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True, tracking=True)
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    channel = fields.Selection(
        [("whatsapp", "WhatsApp"), ("sms", "SMS"), ("both", "Both")], required=True, default="both"
    )
    automation_type = fields.Selection(AUTOMATION_TYPES, "Type", required=True, default="keyword", tracking=True)
    trigger_type = fields.Selection(TRIGGER_TYPES, "Trigger", required=True, default="keyword")
    trigger_keywords = fields.Char("Keywords", help="Comma-separated; whole words, any case or accent.")
    response_message = fields.Text("Reply", translate=True)
    script_id = fields.Many2one(
        "contact.centre.script",
        "Suggested Script",
        help="Keyword automations may suggest a script instead of replying.",
    )
    chatbot_id = fields.Many2one("whatsapp.chatbot", "Chatbot", ondelete="restrict")
    calendar_id = fields.Many2one(
        "resource.calendar", "Business Hours", help="Outside-hours auto-replies: the working time of the team."
    )
    stop_processing = fields.Boolean(
        "Stop Further Automations", default=True, help="When this rule fires, later rules are not run."
    )
    trigger_count = fields.Integer("Times Triggered", readonly=True, copy=False)

    @api.constrains("automation_type", "trigger_type", "trigger_keywords", "response_message", "chatbot_id")
    def _check_configuration(self):
        for automation in self:
            if automation.trigger_type == "keyword" and not automation.trigger_keywords:
                raise ValidationError(self.env._("A keyword automation needs at least one keyword."))
            if automation.automation_type == "chatbot" and not automation.chatbot_id:
                raise ValidationError(self.env._("Choose the chatbot this automation starts."))
            if automation.automation_type == "auto_reply" and not automation.response_message:
                raise ValidationError(self.env._("An auto-reply needs the reply text."))
