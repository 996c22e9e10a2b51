from odoo import api, fields, models

from ..tools.meta_templates import Button

BUTTON_TYPES = [
    ("QUICK_REPLY", "Quick Reply"),
    ("URL", "Visit Website"),
    ("PHONE_NUMBER", "Call Phone Number"),
    ("COPY_CODE", "Copy Offer Code"),
]


class ContactCentreTemplateButton(models.Model):
    """A button of a WhatsApp template: a quick reply, a link (its end may be a variable), a phone
    number to call, or an offer code to copy."""

    _name = "contact.centre.template.button"
    _description = "Template Button"
    _order = "template_id, sequence, id"

    template_id = fields.Many2one("contact.centre.template", required=True, ondelete="cascade", index=True)
    sequence = fields.Integer(default=10)
    button_type = fields.Selection(BUTTON_TYPES, "Type", required=True, default="QUICK_REPLY")
    text = fields.Char(help="What the button says (at most 25 characters). A copy-code button's text is WhatsApp's.")
    url = fields.Char(
        "URL", help="https://... ; end it with {{1}} for a part that changes per message, e.g. an order number."
    )
    phone_number = fields.Char(help="The number to call, with its country code.")
    example = fields.Char(
        "Sample Code", help="A copy-code button's sample code (at most 15 characters), shown to Meta's reviewers."
    )

    @api.depends("button_type", "text")
    def _compute_display_name(self):
        types = dict(self._fields["button_type"]._description_selection(self.env))
        for button in self:
            button.display_name = button.text or types.get(button.button_type) or ""

    def _meta_button(self):
        """The Odoo-free ``Button`` of this line (a URL's sample value is its variable line's)."""
        self.ensure_one()
        return Button(
            type=self.button_type,
            text=self.text or "",
            url=(self.url or "").strip(),
            phone_number=self.phone_number or "",
            example=(self.example or "") if self.button_type == "COPY_CODE" else "",
        )
