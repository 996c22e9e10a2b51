import re

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..tools.keywords import opt_command, parse_keywords
from ..tools.phone import InvalidPhoneNumber, to_e164
from ..tools.window import window_end, window_open

E164_SHAPE = re.compile(r"^\+[1-9]\d{6,14}$")

CHANNELS = [("whatsapp", "WhatsApp"), ("sms", "SMS")]
PURPOSES = [("service", "Service"), ("marketing", "Marketing")]
CONSENT_STATES = [("granted", "Given"), ("revoked", "Withdrawn")]
CONSENT_SOURCES = [
    ("keyword", "Customer's keyword (STOP/START)"),
    ("campaign", "Keyword campaign enrolment"),
    ("web_form", "Web form"),
    ("import", "Import"),
    ("agent", "Recorded by an agent"),
    ("api", "API"),
    ("inbound", "Inbound message"),
    ("provider", "The customer's settings in WhatsApp"),
]
SENDER_KIND_LABELS = [
    ("phone", "Phone number"),
    ("short_code", "Short code"),
    ("alphanumeric", "Sender name"),
    ("user_id", "WhatsApp user id"),
]
# Sources by which a person records what the customer said elsewhere (with a note).
RECORDED_SOURCES = ("web_form", "import", "agent", "api")

CONSENT_FIELDS = frozenset(
    [f"opt_in_{channel}{suffix}" for channel in ("whatsapp", "sms") for suffix in ("", "_date", "_source")]
    + ["marketing_whatsapp", "marketing_sms", "consent_ids"]
)
SUPERVISOR_GROUP = "contact_centre.group_contact_centre_supervisor"
ADMIN_GROUP = "contact_centre.group_contact_centre_admin"
# The partner's fields an agent edits through a contact (the partner is written as superuser once
# the contact itself may be written: agents are not partner managers). Anything else of the
# partner (its users, its commercial links...) is written with the user's own rights.
PARTNER_FIELDS = frozenset(
    {
        "name",
        "email",
        "phone",
        "street",
        "street2",
        "city",
        "zip",
        "state_id",
        "country_id",
        "lang",
        "tz",
        "comment",
        "function",
        "website",
        "image_1920",
        "company_id",
    }
)


class ContactCentreContact(models.Model):
    """A person the contact centre talks to.

    Delegation inheritance gives the contact its own table (numbers, opt-ins, assignment,
    conversation figures) while name, email, company and country live on the partner.
    """

    _name = "contact.centre.contact"
    _description = "Contact Centre Contact"
    _inherits = {"res.partner": "partner_id"}
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "last_message_date DESC NULLS LAST, id DESC"

    partner_id = fields.Many2one("res.partner", required=True, ondelete="cascade", index=True)
    whatsapp_number = fields.Char("WhatsApp Number", tracking=True, copy=False, help="E.164, for example +32470123456.")
    sms_number = fields.Char("SMS Number", tracking=True, copy=False, help="E.164, for example +32470123456.")
    preferred_channel = fields.Selection(CHANNELS, default="whatsapp", required=True, tracking=True)
    sender_kind = fields.Selection(
        SENDER_KIND_LABELS,
        default="phone",
        required=True,
        readonly=True,
        help="What the provider identifies this contact by: a phone number, or a short code, a sender "
        "name or a WhatsApp user id (kept in Sender) when they wrote without a number.",
    )
    sender_ref = fields.Char(
        "Sender", readonly=True, index="btree_not_null", help="The short code, sender name or WhatsApp user id."
    )
    identity_changed_date = fields.Datetime(
        "Identity Changed On",
        readonly=True,
        help="The customer's phone, device or WhatsApp identity changed: check it is still them.",
    )
    came_from = fields.Char(
        "Came From", readonly=True, help="The click-to-WhatsApp ad of the contact's first message: headline and link."
    )
    assigned_agent_id = fields.Many2one(
        "res.users", "Assigned Agent", tracking=True, domain=lambda self: self._agent_domain()
    )
    consent_ids = fields.One2many("contact.centre.consent", "contact_id", "Consent History")
    opt_in_whatsapp = fields.Boolean(
        "WhatsApp Opt-in",
        compute="_compute_consent",
        store=True,
        help="Service messages allowed on WhatsApp: unset when the contact opted out.",
    )
    opt_in_whatsapp_date = fields.Datetime("WhatsApp Opt-in Changed On", compute="_compute_consent", store=True)
    opt_in_whatsapp_source = fields.Selection(
        CONSENT_SOURCES, "WhatsApp Opt-in Changed By", compute="_compute_consent", store=True
    )
    marketing_whatsapp = fields.Boolean(
        "WhatsApp Marketing", compute="_compute_consent", store=True, help="Consent to campaigns on WhatsApp."
    )
    opt_in_sms = fields.Boolean(
        "SMS Opt-in",
        compute="_compute_consent",
        store=True,
        help="Service messages allowed by SMS: unset when the contact opted out.",
    )
    opt_in_sms_date = fields.Datetime("SMS Opt-in Changed On", compute="_compute_consent", store=True)
    opt_in_sms_source = fields.Selection(
        CONSENT_SOURCES, "SMS Opt-in Changed By", compute="_compute_consent", store=True
    )
    marketing_sms = fields.Boolean(
        "SMS Marketing", compute="_compute_consent", store=True, help="Consent to campaigns by SMS."
    )
    cc_message_ids = fields.One2many(
        "contact.centre.message",
        "contact_id",
        "Conversation Messages",
        help="WhatsApp and SMS messages (named apart from the chatter's message_ids).",
    )
    thread_ids = fields.One2many("contact.centre.thread", "contact_id", "Conversations")
    campaign_ids = fields.Many2many(
        "contact.centre.campaign",
        "contact_centre_campaign_contact_rel",
        "contact_id",
        "campaign_id",
        "Campaigns",
    )
    last_inbound_date = fields.Datetime("Last Inbound", readonly=True)
    last_whatsapp_inbound_date = fields.Datetime("Last WhatsApp Inbound", readonly=True)
    last_outbound_date = fields.Datetime("Last Outbound", readonly=True)
    last_message_date = fields.Datetime("Last Activity", readonly=True)
    whatsapp_window_end = fields.Datetime(
        "WhatsApp Window Ends",
        compute="_compute_whatsapp_window_end",
        store=True,
        help="Free text can be sent on WhatsApp until 24 hours after the contact's last WhatsApp message.",
    )
    whatsapp_window_open = fields.Boolean(
        "WhatsApp Window Open", compute="_compute_whatsapp_window_open", search="_search_whatsapp_window_open"
    )
    unread_count = fields.Integer(
        "Unread",
        compute="_compute_unread_count",
        search="_search_unread_count",
        help="Inbound messages you have not read.",
    )
    message_count = fields.Integer("Conversation Message Count", compute="_compute_message_count")
    campaign_count = fields.Integer("Campaign Count", compute="_compute_campaign_count")

    _whatsapp_number_idx = models.Index("(whatsapp_number)")
    _sms_number_idx = models.Index("(sms_number)")
    _assigned_agent_idx = models.Index("(assigned_agent_id)")
    # Who opted out since a campaign was made, for its statistics (contact_centre.campaign).
    _opted_out_whatsapp_idx = models.Index("(opt_in_whatsapp_date) WHERE NOT opt_in_whatsapp")
    _opted_out_sms_idx = models.Index("(opt_in_sms_date) WHERE NOT opt_in_sms")

    @api.model
    def _agent_domain(self):
        return self.env["res.users"]._cc_agent_domain()

    @api.depends("last_whatsapp_inbound_date")
    def _compute_whatsapp_window_end(self):
        for contact in self:
            last = contact.last_whatsapp_inbound_date
            contact.whatsapp_window_end = window_end(last)

    @api.depends("whatsapp_window_end")
    def _compute_whatsapp_window_open(self):
        now = fields.Datetime.now()
        for contact in self:
            contact.whatsapp_window_open = window_open(contact.whatsapp_window_end, now)

    def _search_whatsapp_window_open(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            return NotImplemented
        is_open = (operator == "=") == value
        now = fields.Datetime.now()
        if is_open:
            return [("whatsapp_window_end", ">", now)]
        return ["|", ("whatsapp_window_end", "=", False), ("whatsapp_window_end", "<=", now)]

    @api.depends_context("uid")
    def _compute_unread_count(self):
        unread = self.env["contact.centre.thread.seen"]._unread(self.thread_ids, self.env.user)
        for contact in self:
            contact.unread_count = sum(unread.get(thread.id, (0, 0))[0] for thread in contact.thread_ids)

    def _search_unread_count(self, operator, value):
        if operator not in (">", "!=") or value != 0:
            return NotImplemented
        return [("thread_ids", "any", [("unread_count", ">", 0)])]

    def _compute_message_count(self):
        counts = dict(
            self.env["contact.centre.message"]._read_group(
                [("contact_id", "in", self.ids)], ["contact_id"], ["__count"]
            )
        )
        for contact in self:
            contact.message_count = counts.get(contact, 0)

    @api.depends("consent_ids.state", "consent_ids.date")
    def _compute_consent(self):
        """Current consent from the latest event per channel and purpose: service messages are
        allowed unless withdrawn, marketing only once given."""
        latest = self.env["contact.centre.consent"]._latest(self)
        for contact in self:
            for channel in ("whatsapp", "sms"):
                service = latest.get((contact.id, channel, "service"))
                marketing = latest.get((contact.id, channel, "marketing"))
                contact[f"opt_in_{channel}"] = not service or service.state == "granted"
                contact[f"opt_in_{channel}_date"] = service.date if service else False
                contact[f"opt_in_{channel}_source"] = service.source if service else False
                contact[f"marketing_{channel}"] = bool(marketing and marketing.state == "granted")

    @api.depends("campaign_ids")
    def _compute_campaign_count(self):
        for contact in self:
            contact.campaign_count = len(contact.campaign_ids)

    @api.constrains("whatsapp_number", "sms_number")
    def _check_numbers_are_e164(self):
        for contact in self:
            for number in (contact.whatsapp_number, contact.sms_number):
                if number and number != contact._normalize_number(number):
                    raise ValidationError(self.env._("%(number)s is not an E.164 number.", number=number))

    @api.constrains("campaign_ids")
    def _check_campaign_companies(self):
        """Listed from the contact's side, only on campaigns of its company (the campaign checks its
        own side, ``check_company``; a contact moved to another company later keeps its lists)."""
        for contact in self:
            if any(campaign.company_id != contact.company_id for campaign in contact.sudo().campaign_ids):
                raise ValidationError(
                    self.env._("%(contact)s is listed only on campaigns of its company.", contact=contact.name)
                )

    @api.constrains("whatsapp_number", "sms_number", "company_id")
    def _check_number_has_one_contact(self):
        """A number belongs to one contact per company: two contacts with one number would get
        every campaign twice and split the customer's conversations. One query for the batch
        (imports create thousands of contacts at once)."""
        numbers = {number for contact in self for number in (contact.whatsapp_number, contact.sms_number) if number}
        if not numbers:
            return
        owners = {}
        holders = self.sudo().search_fetch(
            ["|", ("whatsapp_number", "in", list(numbers)), ("sms_number", "in", list(numbers))],
            ["whatsapp_number", "sms_number", "company_id"],
        )
        for holder in holders:
            for number in {holder.whatsapp_number, holder.sms_number} & numbers:
                first = owners.setdefault((holder.company_id.id, number), holder)
                if first != holder:
                    duplicate = first if holder in self else holder
                    raise ValidationError(
                        self.env._(
                            "%(number)s is already the number of %(contact)s: open that contact instead.",
                            number=number,
                            contact=duplicate.display_name,
                        )
                    )

    @api.onchange("whatsapp_number", "sms_number")
    def _onchange_number_warn_duplicate(self):
        numbers = {field: self._normalize_number_or_none(self[field]) for field in ("whatsapp_number", "sms_number")}
        candidate = self.new({**numbers, "company_id": self.company_id.id or self.env.company.id})
        duplicate = candidate._contact_with_same_number(exclude=self._origin)
        if duplicate:
            return {
                "warning": {
                    "title": self.env._("This number already has a contact"),
                    "message": self.env._(
                        "%(contact)s already has this number. Open that contact instead of creating a second one.",
                        contact=duplicate.display_name,
                    ),
                }
            }
        return None

    def _contact_with_same_number(self, exclude=None):
        """Another contact of the same company with one of this contact's numbers."""
        self.ensure_one()
        numbers = [number for number in (self.whatsapp_number, self.sms_number) if number]
        if not numbers:
            return self.browse()
        domain = [
            ("id", "not in", (exclude or self).ids),
            ("company_id", "=", self.company_id.id),
            "|",
            ("whatsapp_number", "in", numbers),
            ("sms_number", "in", numbers),
        ]
        return self.sudo().search(domain, limit=1)

    @api.model
    def _normalize_number_or_none(self, number):
        try:
            return self._normalize_number(number) if number else False
        except ValidationError:
            return False

    @api.model_create_multi
    def create(self, vals_list):
        self.check_access("create")
        without_partner = []
        for vals in vals_list:
            self._check_protected_write(vals, creating=True)
            self._normalize_number_vals(vals)
            self._consent_from_create_vals(vals)
            if vals.get("partner_id") and not self.env.su:
                # Its partner is later written as superuser: only one the user may write already.
                self.env["res.partner"].browse(vals["partner_id"]).check_access("write")
            elif not vals.get("partner_id"):
                without_partner.append(vals)
        # Their partners in one create: a burst of first messages makes hundreds of contacts.
        partner_vals_list = [self._pop_partner_vals(vals) for vals in without_partner]
        for partner_vals in partner_vals_list:
            partner_vals.setdefault("company_id", self.env.company.id)
        partners = self.env["res.partner"].sudo().create(partner_vals_list) if partner_vals_list else []
        for vals, partner in zip(without_partner, partners, strict=True):
            vals["partner_id"] = partner.id
        # As the system once checked: the ORM writes the partner's defaults to the partner made above.
        contacts = super(ContactCentreContact, self.sudo()).create(vals_list).with_env(self.env)
        contacts.check_access("create")
        return contacts

    def write(self, vals):
        self._check_protected_write(vals)
        self._normalize_number_vals(vals)
        partner_vals = self._pop_partner_vals(vals)
        if partner_vals:
            self.check_access("write")
            self.partner_id.sudo().write(partner_vals)
        return super().write(vals) if vals else True

    @api.model
    def _consent_from_create_vals(self, vals):
        """A contact created with ``opt_in_<channel>`` (an import, the demo, the API) records it
        as consent of both purposes from that source (import unless said); without it, a new
        contact has no consent: service messages are allowed until withdrawn, campaigns are not."""
        commands = []
        for channel in ("whatsapp", "sms"):
            source = vals.pop(f"opt_in_{channel}_source", None) or "import"
            vals.pop(f"opt_in_{channel}_date", None)
            if f"opt_in_{channel}" in vals:
                state = "granted" if vals.pop(f"opt_in_{channel}") else "revoked"
                commands += [
                    fields.Command.create({"channel": channel, "purpose": purpose, "state": state, "source": source})
                    for purpose in ("service", "marketing")
                ]
        if commands:
            vals["consent_ids"] = commands + list(vals.get("consent_ids") or [])

    def _pop_partner_vals(self, vals):
        """Take out of ``vals`` the partner fields an agent edits through a contact."""
        return {name: vals.pop(name) for name in list(vals) if name in PARTNER_FIELDS}

    def _check_protected_write(self, vals, creating=False):
        """What people may not change by writing the contact, whatever their access rights:
        consent (it changes only through the paths that record its source; administrators may
        import contacts with it), the assigned agent
        (supervisors reassign; it decides who sees the contact), the campaigns that list it (their
        audience is the supervisors') and the company (emptying it would show the contact to every
        company)."""
        if self.env.su:
            return
        if CONSENT_FIELDS & vals.keys() and not (creating and self.env.user.has_group(ADMIN_GROUP)):
            raise AccessError(
                self.env._(
                    "Consent is recorded by the customer's own keywords or with a source and a note, not edited."
                )
            )
        if "assigned_agent_id" in vals and not self.env.user.has_group(SUPERVISOR_GROUP):
            raise AccessError(self.env._("Only supervisors assign contacts to agents."))
        if "campaign_ids" in vals and not self.env.user.has_group(SUPERVISOR_GROUP):
            raise AccessError(self.env._("Only supervisors list contacts on campaigns."))
        if "company_id" in vals and not vals["company_id"]:
            raise UserError(self.env._("A contact belongs to a company."))
        if vals.get("company_id") and vals["company_id"] not in self.env.user.company_ids.ids:
            raise AccessError(self.env._("You cannot move a contact to a company you do not work in."))

    @api.model
    def _normalize_number_vals(self, vals):
        for field in ("whatsapp_number", "sms_number"):
            if vals.get(field):
                vals[field] = self._normalize_number(vals[field])

    @api.model
    def _normalize_number(self, number):
        """E.164 form of ``number``, read in the company's country when it has no prefix.

        A number a provider wrote us from (context ``cc_provider_number``) is kept when it has the
        E.164 shape even if phonenumbers does not know its range: the message must not be lost.
        """
        region = self.env.company.country_id.code or None
        try:
            return to_e164(number, default_region=region)
        except InvalidPhoneNumber as error:
            if self.env.context.get("cc_provider_number") and E164_SHAPE.match(number or ""):
                return number
            raise ValidationError(
                self.env._("Invalid phone number %(number)s: %(reason)s", number=number, reason=error)
            ) from error

    @api.model
    def _find_by_number(self, e164):
        """The contact of the current company owning ``e164``: WhatsApp number, then SMS number,
        then the partner's phone."""
        company = [("company_id", "=", self.env.company.id)]
        for domain in (
            [("whatsapp_number", "=", e164)],
            [("sms_number", "=", e164)],
            [("phone", "=", e164)],
        ):
            contact = self.search(company + domain, limit=1)
            if contact:
                return contact
        return self.browse()

    @api.model
    def _find_by_sender(self, sender, sender_kind="phone", user_id=None):
        """The contact of the current company an event's sender is: by number, or by the short
        code, sender name or WhatsApp user id it wrote from."""
        if sender_kind == "phone":
            return self._find_by_number(sender)
        return self.search([("sender_ref", "=", user_id or sender), ("company_id", "=", self.env.company.id)], limit=1)

    @api.model
    def _find_or_create_from_inbound(self, event):
        """The contact who sent inbound ``event``, in the current company (the receiving
        configuration's): found by number (or sender id), or created with the profile name. A
        sender that is no phone number (short code, sender name, WhatsApp user id) is kept as the
        contact's Sender; the number fields hold E.164 numbers only."""
        kind = getattr(event, "sender_kind", "phone")
        contact = self._find_by_sender(event.sender, kind, getattr(event, "user_id", None))
        if not contact:
            contact = self._create_from_inbound([event])
        contact._note_referral(event)
        return contact

    def _note_referral(self, event):
        """The ad that brought the contact (a click-to-WhatsApp referral on ``event``), kept when
        the contact has none yet."""
        referral = getattr(event, "referral", None)
        if referral and not self.came_from:
            self.came_from = " ".join(filter(None, [referral.get("headline"), referral.get("source_url")]))[:250]

    @api.model
    def _create_from_inbound(self, events):
        """New contacts of the current company for the senders of inbound ``events`` (one each),
        named after their profile; in one ``create`` (a burst of first messages makes hundreds)."""
        values_list = []
        for event in events:
            kind = getattr(event, "sender_kind", "phone")
            values = {
                "name": event.profile_name or event.sender,
                "preferred_channel": event.channel,
                "company_id": self.env.company.id,
            }
            if kind == "phone":
                values["whatsapp_number" if event.channel == "whatsapp" else "sms_number"] = event.sender
            else:
                values.update(sender_kind=kind, sender_ref=getattr(event, "user_id", None) or event.sender)
            values_list.append(values)
        # Without the chatter's "created" note and follower, for the contact and its partner: made
        # by the webhook's superuser, they say nothing the contact's first message does not, and
        # cost about a fifth of a new sender's ingestion (125 -> 155 first messages/s without them
        # and with the partners created together).
        return self.with_context(cc_provider_number=True, mail_create_nolog=True, mail_create_nosubscribe=True).create(
            values_list
        )

    def _apply_opt_command(self, message):
        """Handle STOP/START/HELP (and the configured words) sent as a whole message.

        Opting out or in is logged on the contact and confirmed by one message on that channel.
        Returns True when the message was such a command.
        """
        self.ensure_one()
        params = self.env["ir.config_parameter"].sudo()
        command = opt_command(
            message.body_text or "",
            extra_out=parse_keywords(params.get_param("contact_centre.opt_out_words", "")),
            extra_in=parse_keywords(params.get_param("contact_centre.opt_in_words", "")),
            extra_help=parse_keywords(params.get_param("contact_centre.help_words", "")),
        )
        if not command:
            return False
        channel = message.channel
        if command == "help":
            reply = params.get_param("contact_centre.help_text") or self.env._(
                "Reply STOP to stop receiving messages, START to receive them again."
            )
        elif command == "opt_out":
            self._set_opt_in(channel, False, "keyword", message=message)
            reply = params.get_param("contact_centre.opt_out_text") or self.env._(
                "You will not receive more messages from us here. Reply START to subscribe again."
            )
        else:
            self._set_opt_in(channel, True, "keyword", message=message)
            reply = params.get_param("contact_centre.opt_in_text") or self.env._(
                "You are subscribed again. Reply STOP to unsubscribe."
            )
        message.thread_id._send_automated(text=reply, confirmation=True)
        return True

    def _number_for(self, channel):
        """Where a message on ``channel`` goes: a number, or on WhatsApp the user id of a customer
        who wrote without one (Meta delivers to it); short codes and sender names cannot be answered."""
        self.ensure_one()
        if channel == "whatsapp":
            return self.whatsapp_number or (self.sender_kind == "user_id" and self.sender_ref)
        return self.sms_number or self.whatsapp_number

    def _is_opted_in(self, channel, purpose="service"):
        """Whether a message of ``purpose`` may go to the contact on ``channel``."""
        self.ensure_one()
        return self[f"marketing_{channel}"] if purpose == "marketing" else self[f"opt_in_{channel}"]

    def _set_opt_in(self, channel, opted_in, source, message=None, purposes=("service", "marketing"), note=None):
        """Record a consent event (given or withdrawn, by ``source``, proved by ``message`` or by
        the current user and ``note``) for ``purposes`` on ``channel``, and log it in the chatter."""
        state = "granted" if opted_in else "revoked"
        self.env["contact.centre.consent"].sudo().create(
            [
                {
                    "contact_id": contact.id,
                    "channel": channel,
                    "purpose": purpose,
                    "state": state,
                    "source": source,
                    "message_id": message.id if message else False,
                    "note": note or False,
                }
                for contact in self
                for purpose in purposes
            ]
        )
        label = dict(CHANNELS)[channel]
        how = dict(CONSENT_SOURCES)[source]
        what = " + ".join(dict(PURPOSES)[purpose] for purpose in purposes)
        if opted_in:
            body = self.env._("Opted in to %(channel)s: %(what)s (%(how)s).", channel=label, what=what, how=how)
        else:
            body = self.env._("Opted out of %(channel)s: %(what)s (%(how)s).", channel=label, what=what, how=how)
        for contact in self:
            contact.sudo().message_post(body=body + (f"\n{note}" if note else ""))

    def _customer_opted_out(self, channel):
        """True when the customer's own keyword withdrew consent on ``channel`` and nothing of theirs restored it."""
        self.ensure_one()
        service = self.env["contact.centre.consent"]._latest(self).get((self.id, channel, "service"))
        return bool(service and service.state == "revoked" and service.source == "keyword")

    def action_record_consent(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("contact_centre.contact_centre_consent_wizard_action")
        action["context"] = {"default_contact_id": self.id, "default_channel": self.preferred_channel}
        return action

    def action_open_composer(self, channel=None):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("contact_centre.contact_centre_composer_action")
        action["context"] = {"default_contact_id": self.id, "default_channel": channel or self.preferred_channel}
        return action

    def action_view_messages(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("contact_centre.contact_centre_message_action")
        action["domain"] = [("contact_id", "=", self.id)]
        action["context"] = {"default_contact_id": self.id}
        return action

    def action_view_campaigns(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("contact_centre.contact_centre_campaign_action")
        action["domain"] = [("id", "in", self.campaign_ids.ids)]
        return action
