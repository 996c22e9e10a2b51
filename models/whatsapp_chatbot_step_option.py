from odoo import fields, models


class WhatsappChatbotStepOption(models.Model):
    """One answer of a question step: a reply button or list row on WhatsApp, a numbered line by SMS."""

    _name = "whatsapp.chatbot.step.option"
    _description = "Chatbot Step Option"
    _order = "step_id, sequence, id"

    step_id = fields.Many2one("whatsapp.chatbot.step", required=True, ondelete="cascade", index=True)
    sequence = fields.Integer(default=10)
    name = fields.Char("Title", required=True, translate=True, size=24, help="Up to 20 characters on a reply button.")
    next_step_id = fields.Many2one(
        "whatsapp.chatbot.step",
        "Go To Step",
        domain="[('chatbot_id', '=', parent.chatbot_id)]",
        help="Empty: the next step in sequence.",
    )
