from odoo import Command, api, fields, models
from odoo.exceptions import ValidationError

from ..tools.rendering import MissingTemplateValues, TemplateError, placeholders, render, validate_positional
from .contact_centre_contact import CHANNELS

APPROVAL_STATUSES = [
    ("draft", "Draft"),
    ("pending", "Pending"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
    ("paused", "Paused"),
    ("disabled", "Disabled"),
    ("in_appeal", "In Appeal"),
]


class ContactCentreTemplate(models.Model):
    """A message template: free-form for SMS, a Meta-approved template for WhatsApp."""

    _name = "contact.centre.template"
    _description = "Message Template"
    _inherit = ["mail.thread"]
    _order = "name"

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True)
    channel = fields.Selection(CHANNELS, required=True, default="whatsapp")
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    body_text = fields.Text(
        "Body", required=True, help="Placeholders: {{1}}, {{2}}... for WhatsApp; names allowed for SMS."
    )
    body_html = fields.Html("Formatted Body", sanitize=True)
    variable_ids = fields.One2many("contact.centre.template.variable", "template_id", "Variables", copy=True)
    whatsapp_config_id = fields.Many2one("contact.centre.whatsapp.config", "WhatsApp Number", ondelete="cascade")
    meta_template_name = fields.Char(
        "Meta Template Name", help="Lower case letters, digits and underscores, as registered at Meta."
    )
    meta_template_id = fields.Char("Meta Template ID", readonly=True, copy=False)
    language = fields.Char(default="en_US", help="Meta language code, e.g. en_US, fr, pt_BR.")
    category = fields.Selection(
        [("MARKETING", "Marketing"), ("UTILITY", "Utility"), ("AUTHENTICATION", "Authentication")], default="UTILITY"
    )
    approval_status = fields.Selection(APPROVAL_STATUSES, default="draft", tracking=True, copy=False)
    rejection_reason = fields.Char(readonly=True, copy=False)
    header_type = fields.Selection(
        [("none", "None"), ("text", "Text"), ("image", "Image"), ("video", "Video"), ("document", "Document")],
        default="none",
    )
    header_text = fields.Char()
    header_media_url = fields.Char("Header Media URL")
    footer_text = fields.Char()
    button_ids = fields.Json("Buttons", help="Meta button definitions (up to 10).")
    is_sendable = fields.Boolean(
        compute="_compute_is_sendable", store=True, help="SMS templates always; WhatsApp once approved."
    )

    _meta_name_lang_uniq = models.Constraint(
        "UNIQUE(whatsapp_config_id, meta_template_name, language)",
        "A WhatsApp template name and language is registered once per number.",
    )

    @api.depends("channel", "approval_status")
    def _compute_is_sendable(self):
        for template in self:
            template.is_sendable = template.channel == "sms" or template.approval_status == "approved"

    @api.constrains("channel", "body_text")
    def _check_placeholders(self):
        for template in self.filtered(lambda t: t.channel == "whatsapp" and t.body_text):
            try:
                validate_positional(template.body_text)
            except TemplateError as error:
                raise ValidationError(str(error)) from error

    @api.onchange("body_text")
    def _onchange_body_text_sync_variables(self):
        """Keep one variable line per placeholder of the body: add new ones, drop vanished ones."""
        wanted = placeholders(self.body_text or "")
        self.variable_ids = self.variable_ids.filtered(lambda variable: variable.placeholder in wanted)
        known = set(self.variable_ids.mapped("placeholder"))
        self.variable_ids = [
            Command.create({"placeholder": name, "sequence": index, "sample_value": name})
            for index, name in enumerate(wanted)
            if name not in known
        ]

    def _render_values(self, contact):
        """Placeholder -> value for ``contact``, as the variable lines say; a named placeholder
        without a line that is the name of a contact field (``{{name}}``, ``{{city}}``) takes its value."""
        self.ensure_one()
        values = {variable.placeholder: variable._value_for(contact) for variable in self.variable_ids}
        for name in placeholders(self.body_text or ""):
            if name not in values and name in contact._fields and not name.isdigit():
                value = contact[name]
                values[name] = "" if value is False or value is None else str(getattr(value, "display_name", value))
        return values

    def _sending_values(self, contact, typed=None):
        """Placeholder -> value to send to ``contact``: the template's own values for the contact,
        overridden by what a person ``typed`` for this template's placeholders, except its fixed
        variables, which always keep the value the template sets."""
        self.ensure_one()
        values = self._render_values(contact)
        fixed = {variable.placeholder for variable in self.variable_ids if variable.source == "fixed"}
        wanted = set(placeholders(self.body_text or "")) - fixed
        values.update({name: str(value) for name, value in (typed or {}).items() if name in wanted})
        return values

    def _render_preview(self, values):
        """The text with ``values`` filled in; as written while a value is still missing (previews,
        SMS segment counts: a missing value is refused only when sending)."""
        self.ensure_one()
        try:
            return render(self.body_text or "", values)
        except MissingTemplateValues:
            return self.body_text or ""

    @api.model
    def _apply_template_status(self, config, event):
        """Meta's verdict on a template (``TemplateStatusUpdate``): approved, rejected, paused..."""
        domain = [("meta_template_name", "=", event.template_name)]
        if event.language:
            domain.append(("language", "=", event.language))
        if config._name == "contact.centre.whatsapp.config":
            domain.append(("whatsapp_config_id.account_id", "=", config.account_id))
        templates = self.sudo().with_context(active_test=False).search(domain)
        status = event.status.lower()
        if status not in dict(APPROVAL_STATUSES):
            return templates.browse()
        templates.write(
            {
                "approval_status": status,
                "rejection_reason": event.reason if status == "rejected" else False,
                "meta_template_id": event.template_id or False,
            }
        )
        return templates
