import base64

from odoo import Command, api, fields, models
from odoo.exceptions import UserError

from ..tools.interactive import InteractiveError, build_from_text
from ..tools.interactive import preview as interactive_preview
from ..tools.segments import sms_info
from ..tools.window import window_open


class ContactCentreComposer(models.TransientModel):
    """Write to a contact on WhatsApp or SMS: free text inside the WhatsApp window, an approved
    template outside it; SMS shows its encoding and segment count before sending."""

    _name = "contact.centre.composer"
    _description = "Contact Centre Composer"

    contact_id = fields.Many2one("contact.centre.contact", required=True, ondelete="cascade")
    channel = fields.Selection([("whatsapp", "WhatsApp"), ("sms", "SMS")], required=True, default="whatsapp")
    thread_id = fields.Many2one("contact.centre.thread", compute="_compute_thread_id")
    window_open = fields.Boolean(compute="_compute_window_open")
    opted_out = fields.Boolean(compute="_compute_opted_out")
    mode = fields.Selection(
        [("text", "Free Text"), ("template", "Template"), ("interactive", "Buttons / List")],
        required=True,
        default="text",
    )
    body = fields.Text()
    interactive_kind = fields.Selection(
        [("button", "Reply Buttons"), ("list", "List"), ("flow", "Flow")],
        "Kind",
        default="button",
        help="WhatsApp: up to 3 reply buttons (20 characters each), a list of up to 10 options (24 characters "
        "each) opened by a button, or a WhatsApp Flow (a form) opened by a button.",
    )
    flow_config_id = fields.Many2one("contact.centre.whatsapp.config", compute="_compute_flow_config_id")
    flow_id = fields.Many2one(
        "contact.centre.whatsapp.flow",
        "Flow",
        domain="[('config_id', '=', flow_config_id), ('status', 'in', ('published', 'throttled'))]",
        help="A published flow of the conversation's WhatsApp number (Sync Flows on the number lists them).",
    )
    flow_cta = fields.Char(
        "Flow Button",
        compute="_compute_flow_cta",
        store=True,
        readonly=False,
        help="The label of the button that opens the flow: at most 20 characters, no emoji.",
    )
    interactive_options = fields.Text(
        "Options",
        help="One option per line. Lists only: 'Title | description' adds a description, and a line "
        "'[Section title]' starts a section.",
    )
    interactive_button = fields.Char("List Button", default="Options", help="The label of the button opening the list.")
    interactive_header = fields.Char("Header")
    interactive_footer = fields.Char("Footer")
    attachment = fields.Binary(
        attachment=False,
        help="WhatsApp: an image (JPEG, PNG, 5 MB), a video (MP4, 3GP, 16 MB), audio (16 MB) or a document "
        "(PDF, Office, text, 100 MB), sent with the text above as its caption (none for audio).",
    )
    attachment_name = fields.Char("File Name")
    attachment_allowed = fields.Boolean(
        compute="_compute_attachment_allowed", help="WhatsApp, or an SMS provider that sends MMS."
    )
    template_id = fields.Many2one(
        "contact.centre.template", domain="[('channel', '=', channel), ('is_sendable', '=', True)]"
    )
    value_ids = fields.One2many("contact.centre.composer.value", "composer_id", "Variables")
    preview = fields.Text(compute="_compute_preview")
    sms_encoding = fields.Char(compute="_compute_sms_info")
    sms_segments = fields.Integer(compute="_compute_sms_info")
    warning = fields.Char(compute="_compute_warning")

    @api.depends("contact_id", "channel")
    def _compute_thread_id(self):
        Thread = self.env["contact.centre.thread"]
        for composer in self:
            composer.thread_id = Thread.search(
                [("contact_id", "=", composer.contact_id.id), ("channel", "=", composer.channel)], limit=1
            )

    @api.depends("thread_id.whatsapp_window_end", "channel")
    def _compute_window_open(self):
        now = fields.Datetime.now()
        for composer in self:
            composer.window_open = composer.channel == "sms" or window_open(composer.thread_id.whatsapp_window_end, now)

    @api.depends("thread_id", "channel")
    def _compute_flow_config_id(self):
        for composer in self:
            thread = composer.thread_id
            composer.flow_config_id = (
                (thread.whatsapp_config_id or thread._sending_config()).id
                if thread and composer.channel == "whatsapp"
                else False
            )

    @api.depends("flow_id")
    def _compute_flow_cta(self):
        for composer in self:
            composer.flow_cta = composer.flow_id.cta or composer.flow_cta

    @api.depends("thread_id", "channel")
    def _compute_attachment_allowed(self):
        for composer in self:
            config = composer.thread_id._sending_config() if composer.thread_id else False
            composer.attachment_allowed = composer.channel == "whatsapp" or bool(config and not config._mms_refusal())

    @api.depends("contact_id", "channel")
    def _compute_opted_out(self):
        for composer in self:
            composer.opted_out = bool(composer.contact_id) and not composer.contact_id._is_opted_in(composer.channel)

    @api.depends(
        "mode",
        "body",
        "template_id",
        "value_ids.value",
        "interactive_kind",
        "interactive_options",
        "interactive_button",
        "interactive_header",
        "interactive_footer",
        "flow_id",
        "flow_cta",
    )
    def _compute_preview(self):
        for composer in self:
            composer.preview = composer._text()

    @api.depends("preview", "channel")
    def _compute_sms_info(self):
        for composer in self:
            info = sms_info(composer.preview or "") if composer.channel == "sms" else None
            composer.sms_encoding = info.encoding if info else False
            composer.sms_segments = info.segments if info else 0

    @api.depends("window_open", "opted_out", "channel")
    def _compute_warning(self):
        for composer in self:
            if composer.opted_out:
                composer.warning = self.env._("This contact opted out of this channel: nothing can be sent.")
            elif not composer.window_open:
                composer.warning = self.env._(
                    "The WhatsApp window is closed (24 h after the contact's last message): choose an approved template."
                )
            else:
                composer.warning = False

    @api.onchange("window_open")
    def _onchange_window_open(self):
        if not self.window_open:
            self.mode = "template"

    @api.onchange("channel")
    def _onchange_channel(self):
        if self.channel != "whatsapp" and self.mode == "interactive":
            self.mode = "text"

    @api.onchange("template_id")
    def _onchange_template_id(self):
        values = self.template_id._render_values(self.contact_id) if self.template_id else {}
        labels = self.template_id._variable_labels() if self.template_id else {}
        self.value_ids = [Command.clear()] + [
            Command.create(
                {
                    "placeholder": variable.placeholder,
                    "label": labels.get(variable.placeholder, variable.placeholder),
                    "value": values.get(variable.placeholder) or "",
                }
            )
            for variable in self.template_id.variable_ids
        ]

    def _values(self):
        return {line.placeholder: line.value for line in self.value_ids}

    def _text(self):
        if self.mode == "template" and self.template_id:
            # The whole message: on WhatsApp its header, footer and buttons around the text.
            return self.template_id._render_full_preview(self._values())
        if self.mode == "interactive":
            try:
                return interactive_preview(self._interactive_payload())
            except (InteractiveError, UserError) as error:
                shown = self.body or self.interactive_options or self.flow_id
                return f"⚠ {error.args[0] if error.args else error}" if shown else ""
        return self.body or ""

    def _interactive_payload(self):
        """The reply buttons, list or flow to send, as Meta takes them (``InteractiveError``, or a
        ``UserError`` for a flow, says what is wrong)."""
        if self.interactive_kind == "flow":
            if not self.flow_id:
                raise UserError(self.env._("Choose the flow to send."))
            return self.flow_id._check_sendable_payload(
                self.body, cta=self.flow_cta, header=self.interactive_header, footer=self.interactive_footer
            )
        return build_from_text(
            self.interactive_kind or "button",
            self.body,
            self.interactive_options,
            button=self.interactive_button,
            header=self.interactive_header,
            footer=self.interactive_footer,
        )

    def action_send(self):
        self.ensure_one()
        thread = self.thread_id or self.env["contact.centre.thread"]._get_or_create(self.contact_id, self.channel)
        if self.mode == "template":
            if not self.template_id:
                raise UserError(self.env._("Choose a template."))
            thread._send_message(template=self.template_id, template_values=self._values())
        elif self.mode == "interactive":
            if self.channel != "whatsapp":
                raise UserError(self.env._("Buttons, lists and flows are sent on WhatsApp only."))
            if self.interactive_kind == "flow" and self.flow_id.config_id != self.flow_config_id:
                raise UserError(
                    self.env._(
                        "The flow %(flow)s belongs to another WhatsApp number than this conversation's.",
                        flow=self.flow_id.name,
                    )
                )
            try:
                payload = self._interactive_payload()
            except InteractiveError as error:
                raise UserError(str(error)) from error
            thread._send_message(text=self.body, interactive=payload)
        elif self.attachment:
            thread._send_message(text=self.body, media=self._uploaded_media(thread))
        else:
            thread._send_message(text=self.body)
        return {"type": "ir.actions.act_window_close"}

    def _uploaded_media(self, thread):
        """The attached file, checked and made ready to leave as the inbox's are (WhatsApp: uploaded
        to Meta; SMS: an MMS where the provider sends them): a refusal is a ``UserError`` saying why."""
        content = base64.b64decode(self.attachment)
        return thread._prepare_outbound_media(content, self.attachment_name or "file", caption=self.body)


class ContactCentreComposerValue(models.TransientModel):
    _name = "contact.centre.composer.value"
    _description = "Composer Template Value"

    composer_id = fields.Many2one("contact.centre.composer", required=True, ondelete="cascade")
    placeholder = fields.Char(readonly=True)
    label = fields.Char("Variable", readonly=True)
    value = fields.Char()
