from odoo import fields, models

from .whatsapp_chatbot_step import CAPTURABLE_FIELDS


class WhatsappChatbotStepFlowField(models.Model):
    """Where one answer of a flow step goes: the flow's answer key (a field name of its Flow JSON,
    as Meta sends it back in ``response_json``) and the contact field it is saved in."""

    _name = "whatsapp.chatbot.step.flow.field"
    _description = "Chatbot Flow Answer Mapping"
    _order = "step_id, id"

    step_id = fields.Many2one("whatsapp.chatbot.step", required=True, ondelete="cascade", index=True)
    answer_key = fields.Char(
        "Flow Answer",
        required=True,
        help="The key of the answer in the flow's response, e.g. email or screen_0_Email_1.",
    )
    contact_field = fields.Selection(
        [(name, name.capitalize()) for name in CAPTURABLE_FIELDS], "Save In", required=True
    )

    _step_key_uniq = models.Constraint("UNIQUE(step_id, answer_key)", "Each flow answer is saved in one field.")
