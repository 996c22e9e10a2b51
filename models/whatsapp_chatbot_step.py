from odoo import api, fields, models
from odoo.exceptions import ValidationError

STEP_TYPES = [
    ("message", "Send a message"),
    ("question", "Ask a question with options"),
    ("capture", "Capture an answer into a contact field"),
    ("handover", "Hand over to an agent"),
    ("end", "End the conversation"),
]

CAPTURABLE_FIELDS = ("name", "email", "city", "zip", "street", "comment", "function", "website")


class WhatsappChatbotStep(models.Model):
    _name = "whatsapp.chatbot.step"
    _description = "Chatbot Step"
    _order = "chatbot_id, sequence, id"

    chatbot_id = fields.Many2one("whatsapp.chatbot", required=True, ondelete="cascade", index=True)
    sequence = fields.Integer(default=10)
    name = fields.Char("Step", compute="_compute_name", store=True, readonly=False)
    step_type = fields.Selection(STEP_TYPES, "Type", required=True, default="message")
    message = fields.Text(required=True, translate=True, help="What the bot says at this step.")
    option_ids = fields.One2many("whatsapp.chatbot.step.option", "step_id", "Options", copy=True)
    capture_field = fields.Selection(
        [(name, name.capitalize()) for name in CAPTURABLE_FIELDS],
        "Save Answer In",
        help="The contact field the answer is written to.",
    )

    @api.depends("message")
    def _compute_name(self):
        for step in self:
            step.name = (step.message or "").split("\n")[0][:60]

    @api.constrains("step_type", "option_ids", "capture_field")
    def _check_step(self):
        for step in self:
            if step.step_type == "question" and not 1 <= len(step.option_ids) <= 10:
                raise ValidationError(self.env._("A question needs between 1 and 10 options."))
            if step.step_type == "capture" and not step.capture_field:
                raise ValidationError(self.env._("Choose the contact field the answer is saved in."))
