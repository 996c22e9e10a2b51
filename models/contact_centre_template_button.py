from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..tools.meta_templates import Button

BUTTON_TYPES = [
    ("QUICK_REPLY", "Quick Reply"),
    ("URL", "Visit Website"),
    ("PHONE_NUMBER", "Call Phone Number"),
    ("COPY_CODE", "Copy Offer Code"),
    ("FLOW", "Open WhatsApp Flow"),
]


class ContactCentreTemplateButton(models.Model):
    """A button of a WhatsApp template: a quick reply, a link (its end may be a variable), a phone
    number to call, an offer code to copy, or a WhatsApp Flow to open (each message sent of the
    template then carries a flow token of its own: see ``contact.centre.message._to_outbound``)."""

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
    whatsapp_flow_id = fields.Many2one(
        "contact.centre.whatsapp.flow",
        "Flow",
        ondelete="restrict",
        help="The published WhatsApp Flow the button opens (Sync Flows on the WhatsApp number lists them).",
    )
    meta_flow_id = fields.Char(
        "Meta Flow ID",
        compute="_compute_meta_flow_id",
        store=True,
        readonly=False,
        help="Meta's id of the flow the button opens (a template made in WhatsApp Manager may name a flow "
        "not synchronised yet).",
    )
    navigate_screen = fields.Char(
        "First Screen",
        compute="_compute_navigate_screen",
        store=True,
        readonly=False,
        help="The id of the screen the flow opens on, as written in its Flow JSON (the flow's own by default).",
    )

    @api.depends("button_type", "text")
    def _compute_display_name(self):
        types = dict(self._fields["button_type"]._description_selection(self.env))
        for button in self:
            button.display_name = button.text or types.get(button.button_type) or ""

    @api.depends("whatsapp_flow_id")
    def _compute_meta_flow_id(self):
        for button in self.filtered("whatsapp_flow_id"):
            button.meta_flow_id = button.whatsapp_flow_id.flow_id

    @api.depends("whatsapp_flow_id")
    def _compute_navigate_screen(self):
        for button in self.filtered("whatsapp_flow_id"):
            button.navigate_screen = button.whatsapp_flow_id.first_screen or button.navigate_screen

    @api.constrains("whatsapp_flow_id", "template_id")
    def _check_flow_of_the_templates_account(self):
        """Flows belong to a WhatsApp Business Account: a template opens a flow of its own account."""
        for button in self.filtered("whatsapp_flow_id"):
            config = button.template_id.whatsapp_config_id
            if not config or button.whatsapp_flow_id.config_id.account_id != config.account_id:
                raise ValidationError(
                    self.env._(
                        "The flow %(flow)s belongs to another WhatsApp business account than the template %(template)s.",
                        flow=button.whatsapp_flow_id.name,
                        template=button.template_id.display_name,
                    )
                )

    def _meta_button(self):
        """The Odoo-free ``Button`` of this line (a URL's sample value is its variable line's)."""
        self.ensure_one()
        return Button(
            type=self.button_type,
            text=self.text or "",
            url=(self.url or "").strip(),
            phone_number=self.phone_number or "",
            example=(self.example or "") if self.button_type == "COPY_CODE" else "",
            flow_id=(self.meta_flow_id or "").strip() if self.button_type == "FLOW" else "",
            navigate_screen=(self.navigate_screen or "").strip() if self.button_type == "FLOW" else "",
            flow_status=(self.whatsapp_flow_id.status or "") if self.button_type == "FLOW" else "",
        )
