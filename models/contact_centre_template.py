import logging
from collections import defaultdict
from datetime import timedelta

from odoo import Command, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..tools.meta_templates import (
    CATEGORIES,
    CODE_KEY,
    HEADER_KEY,
    MEDIA_FORMATS,
    MESSAGES,
    QUALITY,
    STATUSES,
    TemplateDraft,
    authentication_components,
    create_payload,
    edit_payload,
    key_label,
    missing_values,
    parse_template,
    preview_text,
    send_components,
    template_keys,
    template_parts,
    validate,
)
from ..tools.providers import ProviderError, TemplateMessage
from ..tools.rendering import MissingTemplateValues, TemplateError, placeholders, render, validate_positional
from .contact_centre_contact import CHANNELS

_logger = logging.getLogger(__name__)

APPROVAL_STATUSES = [
    ("draft", "Draft"),
    ("pending", "Pending"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
    ("paused", "Paused"),
    ("disabled", "Disabled"),
    ("in_appeal", "In Appeal"),
    ("limit_exceeded", "Limit Exceeded"),
    ("archived", "Archived at Meta"),
    ("deleted", "Deleted at Meta"),
]
QUALITY_SCORES = [("green", "High"), ("yellow", "Medium"), ("red", "Low"), ("unknown", "Not Rated Yet")]
# What Meta takes as a header sample (Resumable Upload API), per kind of header
SAMPLE_TYPES = {
    "IMAGE": ("image/jpeg", "image/jpg", "image/png"),
    "VIDEO": ("video/mp4",),
    "DOCUMENT": ("application/pdf",),
}
# Meta keeps an uploaded media 30 days: one uploaded for sending is used at most this long.
MEDIA_ID_LIFETIME = timedelta(days=25)
# Statuses in which Meta is still reviewing a template: nothing to submit again.
UNDER_REVIEW = ("pending", "in_appeal")


class ContactCentreTemplate(models.Model):
    """A message template: free-form for SMS, a Meta-approved template for WhatsApp."""

    _name = "contact.centre.template"
    _description = "Message Template"
    _inherit = ["mail.thread", "contact.centre.company.mixin"]
    _order = "name"
    _check_company_auto = True

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True)
    channel = fields.Selection(CHANNELS, required=True, default="whatsapp")
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    body_text = fields.Text(
        "Body", required=True, help="Placeholders: {{1}}, {{2}}... for WhatsApp; names allowed for SMS."
    )
    body_html = fields.Html("Formatted Body", sanitize=True)
    variable_ids = fields.One2many("contact.centre.template.variable", "template_id", "Variables", copy=True)
    whatsapp_config_id = fields.Many2one(
        "contact.centre.whatsapp.config", "WhatsApp Number", ondelete="cascade", check_company=True
    )
    meta_template_name = fields.Char(
        "Meta Template Name", help="Lower case letters, digits and underscores, as registered at Meta."
    )
    meta_template_id = fields.Char("Meta Template ID", readonly=True, copy=False)
    language = fields.Char(default="en_US", help="Meta language code, e.g. en_US, fr, pt_BR.")
    category = fields.Selection(
        [("MARKETING", "Marketing"), ("UTILITY", "Utility"), ("AUTHENTICATION", "Authentication")],
        default="UTILITY",
        tracking=True,
        help="Meta may change it when it reviews the template (it says so through its webhook).",
    )
    approval_status = fields.Selection(APPROVAL_STATUSES, default="draft", tracking=True, copy=False)
    rejection_reason = fields.Char(
        "Meta's Reason", readonly=True, copy=False, help="Why Meta rejected, paused or disabled the template."
    )
    quality_score = fields.Selection(
        QUALITY_SCORES,
        "Quality",
        readonly=True,
        copy=False,
        tracking=True,
        help="Meta's rating of the template from customers' reactions (blocks, reports); a low one may pause it.",
    )
    parameter_format = fields.Selection(
        [("positional", "Numbered {{1}}"), ("named", "Named {{name}}")],
        default="positional",
        readonly=True,
        help="How the template's variables are written at Meta; templates submitted from here are numbered.",
    )
    meta_synced_date = fields.Datetime("Last Synchronised", readonly=True, copy=False)
    header_type = fields.Selection(
        [("none", "None"), ("text", "Text"), ("image", "Image"), ("video", "Video"), ("document", "Document")],
        default="none",
    )
    header_text = fields.Char(help="At most 60 characters; one variable, {{1}}, allowed.")
    header_sample = fields.Binary(
        "Header Sample",
        attachment=True,
        copy=False,
        help="The image (JPEG, PNG), video (MP4) or document (PDF) Meta reviews the template with; sent in the "
        "header unless a Header Media URL is given.",
    )
    header_sample_filename = fields.Char(copy=False)
    header_media_url = fields.Char(
        "Header Media URL", help="A public https link to the media sent in the header; else the sample is uploaded."
    )
    header_media_ids = fields.Json(
        readonly=True, copy=False, help="The sample as uploaded for sending, per phone number id: {id, at}."
    )
    footer_text = fields.Char(help="At most 60 characters, no variables.")
    button_ids = fields.One2many("contact.centre.template.button", "template_id", "Buttons", copy=True)
    is_sendable = fields.Boolean(
        compute="_compute_is_sendable", store=True, help="SMS templates always; WhatsApp once approved."
    )
    submit_issues = fields.Text(
        "To Fix Before Submitting", compute="_compute_submit_issues", help="What Meta would refuse, in words."
    )
    full_preview = fields.Text(
        "Preview", compute="_compute_full_preview", help="The whole message with the sample values."
    )

    _meta_name_lang_uniq = models.Constraint(
        "UNIQUE(whatsapp_config_id, meta_template_name, language)",
        "A WhatsApp template name and language is registered once per number.",
    )

    @api.depends("channel", "approval_status")
    def _compute_is_sendable(self):
        for template in self:
            template.is_sendable = template.channel == "sms" or template.approval_status == "approved"

    @api.depends(
        "channel",
        "meta_template_name",
        "language",
        "category",
        "body_text",
        "header_type",
        "header_text",
        "header_sample",
        "footer_text",
        "button_ids.button_type",
        "button_ids.text",
        "button_ids.url",
        "button_ids.phone_number",
        "button_ids.example",
        "button_ids.meta_flow_id",
        "button_ids.navigate_screen",
        "button_ids.whatsapp_flow_id.status",
        "variable_ids.sample_value",
        "variable_ids.fixed_value",
    )
    def _compute_submit_issues(self):
        for template in self:
            issues = validate(template._meta_draft()) if template.channel == "whatsapp" else []
            template.submit_issues = "\n".join(template._issue_text(issue) for issue in issues) or False

    @api.depends(
        "channel",
        "body_text",
        "header_type",
        "header_text",
        "footer_text",
        "button_ids.button_type",
        "button_ids.text",
        "button_ids.url",
        "button_ids.example",
        "variable_ids.sample_value",
        "variable_ids.fixed_value",
    )
    def _compute_full_preview(self):
        for template in self:
            template.full_preview = template._render_full_preview(template._sample_values())

    @api.constrains("channel", "body_text")
    def _check_placeholders(self):
        for template in self.filtered(lambda t: t.channel == "whatsapp" and t.body_text):
            try:
                validate_positional(template.body_text)
            except TemplateError as error:
                raise ValidationError(str(error)) from error

    @api.onchange("body_text", "header_type", "header_text", "button_ids")
    def _onchange_body_text_sync_variables(self):
        """Keep one variable line per value the template takes (the body's placeholders, the header's
        variable, URL suffixes, the offer code): add new ones, drop vanished ones."""
        wanted = self._placeholder_keys()
        self.variable_ids = self.variable_ids.filtered(lambda variable: variable.placeholder in wanted)
        known = set(self.variable_ids.mapped("placeholder"))
        self.variable_ids = [
            Command.create(self._new_variable_values(name, index))
            for index, name in enumerate(wanted)
            if name not in known
        ]

    def _new_variable_values(self, key, sequence):
        """A new variable line for ``key``: the body's take the contact's name until told otherwise;
        the header's and a URL's are typed by the agent; the offer code is the button's sample."""
        if key == CODE_KEY:
            code = next((b.example for b in self.button_ids if b.button_type == "COPY_CODE" and b.example), "")
            return {
                "placeholder": key,
                "sequence": sequence,
                "source": "fixed",
                "fixed_value": code,
                "sample_value": code,
            }
        if key == HEADER_KEY or key.startswith("url_"):
            return {"placeholder": key, "sequence": sequence, "source": "free", "sample_value": ""}
        return {"placeholder": key, "sequence": sequence, "sample_value": key}

    # Structure, values and previews

    def _meta_structure(self):
        """(header format, header text, body, footer, buttons) as the Odoo-free functions take them."""
        self.ensure_one()
        if self.channel != "whatsapp":
            return "NONE", "", self.body_text or "", "", ()
        buttons = tuple(button._meta_button() for button in self.button_ids.sorted(lambda b: (b.sequence, b.id)))
        header_format = (self.header_type or "none").upper()
        return header_format, self.header_text or "", self.body_text or "", self.footer_text or "", buttons

    def _placeholder_keys(self):
        """The keys of every value this template takes (see ``tools.meta_templates``)."""
        header_format, header_text, body, _footer, buttons = self._meta_structure()
        return template_keys(header_format, header_text, body, buttons)

    def _unfilled_keys(self):
        """The keys of the values this template takes that nothing fills for a contact without
        someone typing them (no variable line or one typed by the agent, a fixed value left empty,
        not the name of a contact field): a campaign would fail on every recipient."""
        self.ensure_one()
        if self.category == "AUTHENTICATION":  # its code is given by whoever sends it
            return []
        filled = {
            variable.placeholder
            for variable in self.variable_ids
            if variable.source == "field" or (variable.source == "fixed" and variable.fixed_value)
        }
        filled.update(self._named_contact_fields(self.env["contact.centre.contact"]))
        return [key for key in self._placeholder_keys() if key not in filled]

    def _check_filled_for_every_contact(self):
        """A ``UserError`` naming the values nothing fills for a contact (``_unfilled_keys``)."""
        unfilled = self._unfilled_keys()
        if unfilled:
            raise UserError(
                self.env._(
                    "The template %(name)s takes values that nothing fills for each contact: %(keys)s. "
                    "Give each a variable line (a contact field or a fixed value) on the template.",
                    name=self.name,
                    keys=self._keys_text(unfilled),
                )
            )

    def _sample_values(self):
        return {
            variable.placeholder: variable.sample_value or (variable.fixed_value if variable.source == "fixed" else "")
            for variable in self.variable_ids
        }

    def _render_values(self, contact):
        """Placeholder -> value for ``contact``, as the variable lines say; a named placeholder
        without a line that is the name of a contact field (``{{name}}``, ``{{city}}``) takes its value."""
        self.ensure_one()
        values = {variable.placeholder: variable._value_for(contact) for variable in self.variable_ids}
        for name in self._named_contact_fields(contact):
            value = contact[name]
            values[name] = "" if value is False or value is None else str(getattr(value, "display_name", value))
        return values

    def _named_contact_fields(self, Contact):
        """The placeholders of the text without a variable line that name a field of the contact
        (``{{name}}``, ``{{city}}``): they take its value."""
        lines = set(self.variable_ids.mapped("placeholder"))
        names = dict.fromkeys(placeholders(self.body_text or ""))
        return [name for name in names if name not in lines and name in Contact._fields and not name.isdigit()]

    def _contact_fields_rendered(self, Contact):
        """The fields of the contact that ``_render_values`` reads: its variable lines' fields and
        the named placeholders that are contact fields."""
        self.ensure_one()
        names = {variable.field_name for variable in self.variable_ids if variable.source == "field"}
        names.update(self._named_contact_fields(Contact))
        return [Contact._fields[name] for name in names if name in Contact._fields]

    def _prefetch_values(self, contacts):
        """Read at once, and only, the fields of ``contacts`` that ``_render_values`` takes: a
        contact's name lives on its partner, and reading it alone would read every field of the
        partners (a campaign's hot path)."""
        wanted = self._contact_fields_rendered(contacts)
        contacts.fetch([field.name for field in wanted if not field.inherited])
        partner_fields = [field.related_field.name for field in wanted if field.inherited]
        if partner_fields:
            contacts.partner_id.fetch(partner_fields)

    def _sending_values(self, contact, typed=None):
        """Placeholder -> value to send to ``contact``: the template's own values for the contact,
        overridden by what a person ``typed`` for this template's placeholders, except its fixed
        variables, which always keep the value the template sets."""
        self.ensure_one()
        values = self._render_values(contact)
        fixed = {variable.placeholder for variable in self.variable_ids if variable.source == "fixed"}
        wanted = set(self._placeholder_keys()) - fixed
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

    def _render_full_preview(self, values):
        """The whole message as the customer sees it: on WhatsApp the header (or its kind of media),
        the body, the footer and the buttons; on SMS the text."""
        self.ensure_one()
        if self.channel != "whatsapp":
            return self._render_preview(values)
        header_format, header_text, body, footer, buttons = self._meta_structure()
        return preview_text(header_format, header_text, body, footer, buttons, values or {})

    def _inbox_parts(self, values):
        """What the inbox draws around a sent WhatsApp template's text: header, media, footer, buttons."""
        self.ensure_one()
        header_format, header_text, _body, footer, buttons = self._meta_structure()
        return template_parts(header_format, header_text, footer, buttons, values or {})

    def _variable_labels(self):
        """{key: how people see it}: ``{{1}}``, ``Header {{1}}``, ``URL 1 {{1}}``, ``Coupon code``."""
        return {key: key_label(key) for key in self._placeholder_keys()}

    def _keys_text(self, keys):
        """``keys`` as people see them, in one line: ``{{2}}, URL 1 {{1}}``."""
        labels = self._variable_labels()
        return ", ".join(labels.get(key, key) for key in keys)

    # Meta's rules

    def _meta_draft(self):
        """The Odoo-free ``TemplateDraft`` of this template, to be checked and submitted."""
        self.ensure_one()
        header_format, header_text, body, footer, buttons = self._meta_structure()
        return TemplateDraft(
            name=self.meta_template_name or "",
            language=self.language or "",
            category=self.category or "",
            body=body,
            examples=self._sample_values(),
            header_format=header_format,
            header_text=header_text,
            has_header_sample=bool(self.header_sample),
            footer=footer,
            buttons=buttons,
        )

    def _issue_text(self, issue):
        """An ``Issue`` of Meta's rules in the user's language."""
        return self.env._(MESSAGES[issue.code], **issue.params) if issue.params else self.env._(MESSAGES[issue.code])

    def _check_submittable(self):
        self.ensure_one()
        if self.channel != "whatsapp":
            raise UserError(self.env._("Only WhatsApp templates are submitted to Meta."))
        if not self.whatsapp_config_id:
            raise UserError(self.env._("Choose the WhatsApp number whose business account the template belongs to."))
        if self.approval_status in UNDER_REVIEW:
            raise UserError(
                self.env._("Meta is still reviewing %(name)s: wait for its answer.", name=self.display_name)
            )
        issues = validate(self._meta_draft())
        if issues:
            raise UserError(
                self.env._("Meta would refuse %(name)s:", name=self.display_name)
                + "\n"
                + "\n".join(f"• {self._issue_text(issue)}" for issue in issues)
            )

    # Submission

    def action_submit_to_meta(self):
        """Submit the template to Meta for review (a rejected or paused one is edited and submitted
        again); it is pending until Meta's answer comes back through the webhook or a sync."""
        self.check_access("write")
        for template in self:
            template._check_submittable()
            template._submit_to_meta()
        return True

    def _submit_to_meta(self):
        self.ensure_one()
        config = self.whatsapp_config_id.sudo()
        provider = config._get_provider()
        draft = self._meta_draft()
        try:
            handle = self._upload_header_sample(config, provider) if draft.header_format in MEDIA_FORMATS else None
            if self.meta_template_id and self.approval_status not in ("draft", "deleted"):
                provider.edit_template(self.meta_template_id, edit_payload(draft, handle))
                answer = {"id": self.meta_template_id, "status": "PENDING"}
            else:
                answer = provider.create_template(create_payload(draft, handle))
        except ProviderError as error:
            raise UserError(self.env._("Meta refused the template: %(error)s", error=error)) from error
        values = {
            "approval_status": STATUSES.get(str(answer.get("status") or "").upper()) or "pending",
            "meta_template_id": str(answer.get("id") or self.meta_template_id or "") or False,
            "rejection_reason": False,
        }
        if answer.get("category") in CATEGORIES:
            values["category"] = answer["category"]
        self.write(values)
        self.message_post(body=self.env._("Submitted to Meta for review."))

    def _header_sample_attachment(self):
        self.ensure_one()
        return (
            self.env["ir.attachment"]
            .sudo()
            .search(
                [("res_model", "=", self._name), ("res_id", "=", self.id), ("res_field", "=", "header_sample")],
                limit=1,
            )
        )

    def _upload_header_sample(self, config, provider):
        """The handle of the header's sample uploaded through Meta's Resumable Upload API."""
        attachment = self._header_sample_attachment()
        header_format = self.header_type.upper()
        if not attachment:
            raise UserError(self.env._("Upload the header's sample first."))
        if attachment.mimetype not in SAMPLE_TYPES[header_format]:
            raise UserError(
                self.env._(
                    "Meta takes JPEG or PNG images, MP4 videos and PDF documents as samples; %(file)s is %(type)s.",
                    file=self.header_sample_filename or attachment.name,
                    type=attachment.mimetype,
                )
            )
        if not config.app_id:
            raise UserError(
                self.env._(
                    "Enter the Meta App ID on the WhatsApp number %(number)s: the header's sample is uploaded "
                    "to Meta through the app.",
                    number=config.display_name,
                )
            )
        filename = self.header_sample_filename or attachment.name or "sample"
        return provider.upload_resumable(config.app_id, attachment.raw, attachment.mimetype, filename)

    # Sending

    def _has_flow_button(self):
        """Whether the template opens a WhatsApp Flow: each message sent of it needs a token of its own."""
        self.ensure_one()
        return self.channel == "whatsapp" and "FLOW" in self.button_ids.mapped("button_type")

    def _meta_template_message(self, values, config, flow_token=None):
        """The ``TemplateMessage`` sending this template with ``values`` through ``config``: every
        component (header text or media, body variables, URL suffixes, offer code, the flow token of
        a flow button)."""
        self.ensure_one()
        header_format, header_text, body, _footer, buttons = self._meta_structure()
        if self.category == "AUTHENTICATION":
            code = values.get("1") or values.get(CODE_KEY) or ""
            if not str(code).strip():
                raise UserError(self.env._("The verification code of %(name)s is missing.", name=self.display_name))
            components = authentication_components(code)
            return TemplateMessage(self.meta_template_name, self.language, components)
        self._check_sending_values(values, (header_format, header_text, body, _footer, buttons))
        media = self._header_media(config) if header_format in MEDIA_FORMATS else None
        components = send_components(
            header_format,
            header_text,
            body,
            buttons,
            values,
            media,
            named=self.parameter_format == "named",
            flow_token=flow_token,
        )
        return TemplateMessage(self.meta_template_name, self.language, components)

    def _check_sending_values(self, values, structure=None):
        """A ``UserError`` naming the values a WhatsApp template is sent without (Meta refuses it);
        ``structure``: its ``_meta_structure()`` when the caller has it already."""
        self.ensure_one()
        if self.channel != "whatsapp" or self.category == "AUTHENTICATION":
            return
        header_format, header_text, body, _footer, buttons = structure or self._meta_structure()
        missing = missing_values(header_format, header_text, body, buttons, values)
        if missing:
            raise UserError(
                self.env._(
                    "The template %(name)s is missing values for %(keys)s.",
                    name=self.display_name,
                    keys=self._keys_text(missing),
                )
            )

    def _header_media(self, config):
        """The header's media as sent: its link, else the sample uploaded to ``config``'s number
        (once, then its id for 25 days)."""
        self.ensure_one()
        extra = {"filename": self.header_sample_filename} if self.header_type == "document" else {}
        if self.header_media_url:
            return {"link": self.header_media_url, **extra}
        attachment = self._header_sample_attachment()
        if not attachment:
            raise UserError(
                self.env._(
                    "The header of %(name)s needs its media: give a Header Media URL or upload it.",
                    name=self.display_name,
                )
            )
        cache = dict(self.header_media_ids or {})
        known = cache.get(config.phone_number_id) or {}
        now = fields.Datetime.now()
        fresh = known.get("at") and fields.Datetime.to_datetime(known["at"]) > now - MEDIA_ID_LIFETIME
        if known.get("id") and known.get("checksum") == attachment.checksum and fresh:
            return {"id": known["id"], **extra}
        media_id = config._get_provider().upload_media(
            attachment.raw, attachment.mimetype, self.header_sample_filename or attachment.name
        )
        cache[config.phone_number_id] = {
            "id": media_id,
            "at": fields.Datetime.to_string(now),
            "checksum": attachment.checksum,
        }
        self.sudo().header_media_ids = cache
        return {"id": media_id, **extra}

    # Sync with Meta

    def action_sync_meta(self):
        """The Sync button of the template list: every number's business account."""
        return self._action_sync_meta()

    @api.model
    def _action_sync_meta(self, configs=None):
        """The Sync buttons: every template of the business accounts of ``configs`` (all numbers by
        default) comes back from Meta; a notification says what changed."""
        self.check_access("create")
        configs = configs or self.env["contact.centre.whatsapp.config"].search([])
        if not configs:
            raise UserError(self.env._("Configure a WhatsApp number first."))
        totals, failures = defaultdict(int), []
        for config in self._one_per_account(configs):
            try:
                for key, count in self.sudo()._sync_meta(config).items():
                    totals[key] += count
            except ProviderError as error:
                failures.append(self.env._("%(number)s: %(error)s", number=config.name, error=error))
        if failures and len(failures) == len(self._one_per_account(configs)):
            raise UserError(self.env._("Meta did not list the templates.") + "\n" + "\n".join(failures))
        message = self.env._(
            "%(total)s templates at Meta: %(created)s new, %(updated)s updated.",
            total=totals["total"],
            created=totals["created"],
            updated=totals["updated"],
        )
        if failures:
            message += " " + self.env._("Not synchronised: %(failures)s", failures="; ".join(failures))
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "warning" if failures else "success",
                "title": self.env._("Templates synchronised"),
                "message": message,
                "sticky": bool(failures),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    @api.model
    def _cron_sync_meta(self):
        """The cron's safety net behind Meta's webhooks: every active number's account, once."""
        for config in self._one_per_account(self.env["contact.centre.whatsapp.config"].sudo().search([])):
            try:
                self.sudo()._sync_meta(config)
            except ProviderError as error:
                _logger.warning("Templates of WhatsApp number %s not synchronised: %s", config.id, error)

    @api.model
    def _one_per_account(self, configs):
        """One number of each WhatsApp Business Account of ``configs`` (templates belong to the account)."""
        chosen = {}
        for config in configs:
            chosen.setdefault(config.account_id, config)
        return self.env["contact.centre.whatsapp.config"].browse([config.id for config in chosen.values()])

    @api.model
    def _sync_meta(self, config):
        """Bring the templates of ``config``'s business account up to date with Meta's list: ours
        (same name and language) take Meta's status, reason, quality, category and id; those made in
        WhatsApp Manager are created, attached to ``config``; ours Meta no longer lists are deleted
        there. Returns {"total", "created", "updated"}."""
        remote = [
            template for template in map(parse_template, config.sudo()._get_provider().list_templates()) if template
        ]
        known = self.with_context(active_test=False).search(
            [("channel", "=", "whatsapp"), ("whatsapp_config_id.account_id", "=", config.account_id)]
        )
        by_key = defaultdict(lambda: self.browse())
        for template in known:
            by_key[template.meta_template_name, template.language] |= template
        now = fields.Datetime.now()
        updates, creates, seen = defaultdict(lambda: self.browse()), [], self.browse()
        for item in remote:
            templates = by_key.get((item.name, item.language))
            if not templates:
                creates.append(self._values_from_meta(config, item, now))
                continue
            seen |= templates
            for template in templates:
                values = template._changes_from_meta(item)
                if values:
                    updates[tuple(sorted(values.items()))] |= template
        gone = known.filtered(
            lambda t: t.meta_template_id and t not in seen and t.approval_status not in ("draft", "deleted")
        )
        if gone:
            updates[(("approval_status", "deleted"),)] |= gone
        for values, templates in updates.items():
            templates.write(dict(values))
        seen.write({"meta_synced_date": now})
        if creates:
            self.with_context(mail_create_nolog=True, tracking_disable=True).create(creates)
        return {"total": len(remote), "created": len(creates), "updated": sum(len(t) for t in updates.values())}

    def _changes_from_meta(self, item):
        """The values of this template that Meta's ``RemoteTemplate`` changes."""
        self.ensure_one()
        values = {"meta_template_id": item.id or self.meta_template_id}
        if item.status:
            values["approval_status"] = item.status
            values["rejection_reason"] = item.rejected_reason or False
        if item.category in CATEGORIES:
            values["category"] = item.category
        if item.quality:
            values["quality_score"] = item.quality
        values["parameter_format"] = item.parameter_format.lower() if item.parameter_format else self.parameter_format
        return {key: value for key, value in values.items() if self[key] != value}

    @api.model
    def _values_from_meta(self, config, item, now):
        """A new template of ``config`` for one made in WhatsApp Manager (a flow button is linked to
        the account's flow of that id when it is synchronised)."""
        keys = template_keys(item.header_format, item.header_text, item.body, item.buttons)
        flow_ids = {button.flow_id for button in item.buttons if button.type == "FLOW" and button.flow_id}
        flows = {}
        if flow_ids:
            found = self.env["contact.centre.whatsapp.flow"].search(
                [("config_id.account_id", "=", config.account_id), ("flow_id", "in", list(flow_ids))]
            )
            for flow in found.sorted(lambda f: f.config_id == config):  # the number's own flow last: it wins
                flows[flow.flow_id] = flow.id
        return {
            "name": item.name,
            "channel": "whatsapp",
            "whatsapp_config_id": config.id,
            "company_id": config.company_id.id,
            "meta_template_name": item.name,
            "meta_template_id": item.id or False,
            "language": item.language,
            "category": item.category if item.category in CATEGORIES else False,
            "approval_status": item.status or "pending",
            "rejection_reason": item.rejected_reason or False,
            "quality_score": item.quality or False,
            "parameter_format": "named" if item.parameter_format == "NAMED" else "positional",
            "meta_synced_date": now,
            "header_type": item.header_format.lower() if item.header_format else "none",
            "header_text": item.header_text or False,
            "body_text": item.body or item.name,
            "footer_text": item.footer or False,
            "button_ids": [
                Command.create(
                    {
                        "sequence": index,
                        "button_type": button.type,
                        "text": button.text or False,
                        "url": button.url or False,
                        "phone_number": button.phone_number or False,
                        "example": button.example if button.type == "COPY_CODE" else False,
                        "whatsapp_flow_id": flows.get(button.flow_id, False) if button.type == "FLOW" else False,
                        "meta_flow_id": button.flow_id or False,
                        "navigate_screen": button.navigate_screen or False,
                    }
                )
                for index, button in enumerate(item.buttons)
            ],
            "variable_ids": [
                Command.create(
                    {
                        "placeholder": key,
                        "sequence": index,
                        "source": "free",
                        "sample_value": item.examples.get(key) or False,
                    }
                )
                for index, key in enumerate(keys)
            ],
        }

    # Meta's webhooks

    @api.model
    def _meta_templates_for_event(self, config, template_id, name, language):
        """The templates of ``config``'s business account a template webhook names."""
        if config._name != "contact.centre.whatsapp.config":
            return self.browse()
        domain = [("channel", "=", "whatsapp"), ("whatsapp_config_id.account_id", "=", config.account_id)]
        Template = self.sudo().with_context(active_test=False)
        if template_id:
            templates = Template.search([*domain, ("meta_template_id", "=", template_id)])
            if templates:
                return templates
        if not name:
            return self.browse()
        domain.append(("meta_template_name", "=", name))
        if language:
            domain.append(("language", "=", language))
        return Template.search(domain)

    @api.model
    def _apply_template_status(self, config, event):
        """Meta's verdict on a template (``TemplateStatusUpdate``, message_template_status_update):
        approved, rejected with its reason, paused or disabled with Meta's explanation, in appeal..."""
        templates = self._meta_templates_for_event(config, event.template_id, event.template_name, event.language)
        meta_status = (event.status or "").upper()
        if not templates or meta_status not in STATUSES:
            if templates:
                templates.message_post(body=self.env._("Meta: %(event)s", event=meta_status or "?"))
            return templates.browse()
        status = STATUSES[meta_status]
        values = {}
        if status:
            values["approval_status"] = status
            values["rejection_reason"] = self._event_reason(event) if status != "approved" else False
        elif meta_status == "FLAGGED":
            values["quality_score"] = "red"
        if event.template_id:
            values["meta_template_id"] = event.template_id
        if event.category in CATEGORIES:
            values["category"] = event.category
        for template in templates:
            changes = {key: value for key, value in values.items() if template[key] != value}
            if changes:
                template.write(changes)
        return templates

    @staticmethod
    def _event_reason(event):
        """Why Meta rejected, paused or disabled a template: its reason code and its words."""
        reason = event.reason if event.reason and event.reason.upper() != "NONE" else None
        return ": ".join(part for part in (reason, event.explanation) if part) or False

    @api.model
    def _apply_template_update(self, config, event):
        """Meta's message_template_quality_update and template_category_update (an ``AccountUpdate``):
        the template's quality score or category."""
        if event.kind not in ("template_quality", "template_category"):
            return self.browse()
        templates = self._meta_templates_for_event(config, event.template_id, event.template_name, event.language)
        value = (event.event or "").upper()
        if event.kind == "template_quality" and value in QUALITY:
            values = {"quality_score": QUALITY[value]}
        elif event.kind == "template_category" and value in CATEGORIES:
            values = {"category": value}
        else:
            return self.browse()
        changed = templates.filtered(lambda t: any(t[key] != val for key, val in values.items()))
        changed.write(values)
        return changed
