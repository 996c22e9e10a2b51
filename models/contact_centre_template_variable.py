from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..tools.meta_templates import key_label

CONTACT_MODEL = "contact.centre.contact"
FIELD_TYPES = ("char", "text", "selection", "integer", "float", "monetary", "date", "datetime", "boolean", "many2one")


class ContactCentreTemplateVariable(models.Model):
    """What fills one placeholder of a template: a contact field or a fixed value."""

    _name = "contact.centre.template.variable"
    _description = "Template Variable"
    _order = "template_id, sequence, id"

    template_id = fields.Many2one("contact.centre.template", required=True, ondelete="cascade", index=True)
    sequence = fields.Integer(default=10)
    placeholder = fields.Char(
        required=True,
        help="1, 2... or a name, as written between {{ }} in the body; header_1 for the header's variable, "
        "url_1 and url_2 for the end of a URL button, code for an offer code.",
    )
    source = fields.Selection(
        [("field", "Contact Field"), ("fixed", "Fixed Value"), ("free", "Typed by the Agent")],
        required=True,
        default="field",
    )
    field_name = fields.Char("Contact Field", default="name", help="A field of the contact, e.g. name or city.")
    contact_model = fields.Char(compute="_compute_contact_model", help="Model the field selector offers fields of.")
    fixed_value = fields.Char()
    sample_value = fields.Char(help="Shown in previews and sent to Meta as the example.")

    _template_placeholder_uniq = models.Constraint(
        "UNIQUE(template_id, placeholder)", "Each placeholder is described once per template."
    )

    def _compute_contact_model(self):
        self.contact_model = CONTACT_MODEL

    @api.constrains("source", "field_name")
    def _check_field_name(self):
        """A contact field that exists, holds a plain value and is readable by everyone who sends
        (no field restricted to some groups: a template would otherwise disclose it)."""
        fields_of_contact = self.env[CONTACT_MODEL]._fields
        for variable in self.filtered(lambda v: v.source == "field"):
            field = fields_of_contact.get(variable.field_name or "")
            if not field or field.type not in FIELD_TYPES or field.groups:
                raise ValidationError(
                    self.env._(
                        "%(field)s is not a field of the contact a template can use: choose one in the list.",
                        field=variable.field_name or "",
                    )
                )

    @api.depends("placeholder")
    def _compute_display_name(self):
        for variable in self:
            variable.display_name = key_label(variable.placeholder or "")

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
