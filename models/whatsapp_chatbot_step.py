from odoo import api, fields, models
from odoo.exceptions import ValidationError

STEP_TYPES = [
    ("message", "Send a message"),
    ("question", "Ask a question with options"),
    ("capture", "Capture an answer into a contact field"),
    ("flow", "Send a WhatsApp Flow and capture its answers"),
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
    flow_id = fields.Many2one(
        "contact.centre.whatsapp.flow",
        "Flow",
        ondelete="restrict",
        help="The WhatsApp Flow sent at this step, the message above as its text. The bot waits for the "
        "customer's answers; on SMS, or when the flow cannot be sent, the text goes alone and the bot goes on.",
    )
    flow_cta = fields.Char("Flow Button", help="The label of the button opening the flow; empty: the flow's own.")
    flow_field_ids = fields.One2many("whatsapp.chatbot.step.flow.field", "step_id", "Save Answers In", copy=True)

    @api.depends("message")
    def _compute_name(self):
        for step in self:
            step.name = (step.message or "").split("\n")[0][:60]

    @api.constrains("step_type", "option_ids", "capture_field", "flow_id")
    def _check_step(self):
        for step in self:
            if step.step_type == "question" and not 1 <= len(step.option_ids) <= 10:
                raise ValidationError(self.env._("A question needs between 1 and 10 options."))
            if step.step_type == "capture" and not step.capture_field:
                raise ValidationError(self.env._("Choose the contact field the answer is saved in."))
            if step.step_type == "flow" and not step.flow_id:
                raise ValidationError(self.env._("Choose the WhatsApp Flow this step sends."))
            if step.step_type == "flow" and not step.flow_id.first_screen:
                raise ValidationError(
                    self.env._(
                        "The flow %(flow)s has no first screen: enter it on the Flows page of its WhatsApp number.",
                        flow=step.flow_id.name,
                    )
                )
