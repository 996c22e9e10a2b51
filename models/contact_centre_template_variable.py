from odoo import api, fields, models


class ContactCentreTemplateVariable(models.Model):
    """What fills one placeholder of a template: a contact field or a fixed value."""

    _name = "contact.centre.template.variable"
    _description = "Template Variable"
    _order = "template_id, sequence, id"

    template_id = fields.Many2one("contact.centre.template", required=True, ondelete="cascade", index=True)
    sequence = fields.Integer(default=10)
    placeholder = fields.Char(required=True, help="1, 2... or a name, as written between {{ }} in the body.")
    source = fields.Selection(
        [("field", "Contact Field"), ("fixed", "Fixed Value"), ("free", "Typed by the Agent")],
        required=True,
        default="field",
    )
    field_name = fields.Char("Contact Field", default="name", help="A field of the contact, e.g. name or city.")
    fixed_value = fields.Char()
    sample_value = fields.Char(help="Shown in previews and sent to Meta as the example.")

    _template_placeholder_uniq = models.Constraint(
        "UNIQUE(template_id, placeholder)", "Each placeholder is described once per template."
    )

    @api.depends("placeholder")
    def _compute_display_name(self):
        for variable in self:
            variable.display_name = "{{%s}}" % (variable.placeholder or "")

    def _value_for(self, contact):
        """The text this variable stands for when sending to ``contact`` (empty when unknown)."""
        self.ensure_one()
        if self.source == "fixed":
            return self.fixed_value or ""
        if self.source == "field" and self.field_name and self.field_name in contact._fields:
            value = contact[self.field_name]
            if hasattr(value, "display_name"):
                value = value.display_name
            return "" if value is False or value is None else str(value)
        return ""
