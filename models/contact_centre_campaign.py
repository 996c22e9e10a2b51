import json
import logging
import threading
from datetime import datetime, timedelta

import pytz

from odoo import api, fields, models, modules, sql_db
from odoo.addons.base.models.ir_cron import ODOO_NOTIFY_FUNCTION
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.service import server as server_module
from odoo.tools import SQL
from odoo.tools.safe_eval import safe_eval

from ..tools.batch_cache import batch_cached
from ..tools.keywords import OPT_OUT_WORDS, match_keyword, normalize, opt_command, parse_keywords
from ..tools.orm_cache import cache_rows, returned_fields
from ..tools.phone import timezone_of
from ..tools.providers import CONFIG, RECIPIENT, RETRY, OutboundMessage, SendResult
from ..tools.segments import sms_info

_logger = logging.getLogger(__name__)

CAMPAIGN_CHANNELS = [("whatsapp", "WhatsApp"), ("sms", "SMS"), ("both", "Both (preferred channel)")]

CAMPAIGN_STATES = [
    ("draft", "Draft"),
    ("scheduled", "Scheduled"),
    ("running", "Running"),
    ("paused", "Paused"),
    ("done", "Done"),
    ("cancelled", "Cancelled"),
]

RETRY_DELAY = timedelta(minutes=1)
LISTED_IN_FORM = 1000  # contacts of a campaign the form lists; the others are counted, not sent to the browser
WAKE_AFTER_START = 5  # seconds: the cron workers listen by then
# The shape of an E.164 number, as PostgreSQL regular expression.
E164_SQL = r"^\+[1-9][0-9]{6,14}$"
# A recipient's number on its channel (SMS goes to the WhatsApp number when there is no SMS one).
NUMBER_SQL = (
    "CASE WHEN {channel} = 'whatsapp' THEN {c}.whatsapp_number ELSE COALESCE({c}.sms_number, {c}.whatsapp_number) END"
)


class ContactCentreCampaign(models.Model):
    """A broadcast to a list of contacts (outbound) or a keyword people send to join (inbound)."""

    _name = "contact.centre.campaign"
    _description = "Contact Centre Campaign"
    _inherit = ["mail.thread", "mail.activity.mixin", "contact.centre.company.mixin"]
    _order = "id DESC"
    _check_company_auto = True

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    user_id = fields.Many2one(
        "res.users",
        "Responsible",
        default=lambda self: self.env.user,
        tracking=True,
        check_company=True,
        help="The filter is evaluated as this user, with their access to contacts: one of the company.",
    )
    campaign_type = fields.Selection(
        [("outbound", "Outbound Broadcast"), ("inbound", "Inbound Keyword")],
        "Type",
        required=True,
        default="outbound",
        tracking=True,
    )
    channel = fields.Selection(CAMPAIGN_CHANNELS, required=True, default="whatsapp", tracking=True)
    state = fields.Selection(CAMPAIGN_STATES, required=True, default="draft", tracking=True, copy=False)
    scheduled_date = fields.Datetime("Scheduled For", tracking=True, copy=False)
    contact_ids = fields.Many2many(
        "contact.centre.contact",
        "contact_centre_campaign_contact_rel",
        "campaign_id",
        "contact_id",
        "Contacts",
        check_company=True,
    )
    listed_count = fields.Integer("Listed Contacts", compute="_compute_listed_count")
    listed_truncated = fields.Boolean(compute="_compute_listed_count")
    filter_domain = fields.Char(
        "Also send to contacts matching",
        help="A filter on contacts that widens the audience (each contact still gets one message). "
        "Empty: no filter, only the listed contacts; never the whole database.",
    )
    has_filter = fields.Boolean(compute="_compute_has_filter")
    audience_count = fields.Integer(
        "Audience",
        compute="_compute_audience_count",
        help="Contacts the campaign goes to: the listed ones and those the filter matches, in the campaign's "
        "company, each once, before exclusions (opted out, no number, a number another contact has).",
    )
    template_id = fields.Many2one(
        "contact.centre.template",
        "Template",
        domain="[('channel', 'in', (channel, False))]",
        tracking=True,
        check_company=True,
    )
    sms_template_id = fields.Many2one(
        "contact.centre.template",
        "SMS Template",
        domain="[('channel', '=', 'sms')]",
        check_company=True,
        help="Used for contacts reached by SMS when the channel is Both or with the SMS fallback.",
    )
    sms_fallback = fields.Boolean(
        "Fall Back to SMS",
        help="Send by SMS when WhatsApp cannot reach a contact (no number, opted out, undeliverable).",
    )
    whatsapp_config_id = fields.Many2one("contact.centre.whatsapp.config", "WhatsApp Number", check_company=True)
    sms_config_id = fields.Many2one("contact.centre.sms.config", "SMS Provider", check_company=True)
    quiet_hours_start = fields.Float(
        "Quiet From", default=21.0, help="No sending from this hour, in the contact's time zone."
    )
    quiet_hours_end = fields.Float("Quiet Until", default=8.0)
    use_quiet_hours = fields.Boolean("Quiet Hours", default=True)
    sms_segment_cost = fields.Float("Cost per SMS Segment", digits=(16, 4))
    keyword = fields.Char(help="Inbound campaigns: the word that enrols whoever sends it, e.g. JOIN.")
    reply_text = fields.Text("Reply", help="Inbound campaigns: the answer sent to each new member.")
    test_contact_id = fields.Many2one("contact.centre.contact", "Test Contact", check_company=True)
    stop_reason = fields.Char(readonly=True, copy=False)
    audience_ready = fields.Boolean(readonly=True, copy=False, help="Recipients were listed when the campaign started.")
    recipient_ids = fields.One2many("contact.centre.campaign.recipient", "campaign_id", "Recipient Lines")
    cc_message_ids = fields.One2many(
        "contact.centre.message", "campaign_id", "Campaign Messages", help="Every message this campaign sent."
    )
    recipient_count = fields.Integer(
        "Recipients", compute="_compute_statistics", help="Recipients of the campaign, the excluded ones not counted."
    )
    excluded_count = fields.Integer("Excluded", compute="_compute_statistics")
    sent_count = fields.Integer("Sent", compute="_compute_statistics")
    delivered_count = fields.Integer("Delivered", compute="_compute_statistics")
    read_count = fields.Integer("Read", compute="_compute_statistics")
    failed_count = fields.Integer("Failed", compute="_compute_statistics")
    template_preview = fields.Text(
        "Message Preview",
        compute="_compute_template_preview",
        help="The whole message as the first listed contact (the oldest) will see it; with the template's "
        "sample values while no contact is listed.",
    )
    preview_contact_id = fields.Many2one(
        "contact.centre.contact",
        "Previewed For",
        compute="_compute_preview_contact",
        help="The contact the previews and the SMS estimate are rendered for: the first listed.",
    )
    review_count = fields.Integer("To Review", compute="_compute_statistics")
    unconfirmed_count = fields.Integer(
        "Awaiting Confirmation",
        compute="_compute_statistics",
        help="Handed to the provider by a process that stopped before the answer came: the provider's "
        "callbacks settle them.",
    )
    replied_count = fields.Integer("Replied", compute="_compute_statistics")
    opted_out_count = fields.Integer("Opted Out", compute="_compute_statistics")
    enrolled_count = fields.Integer("Enrolled", compute="_compute_statistics")
    delivered_rate = fields.Float("Delivered (%)", compute="_compute_statistics")
    read_rate = fields.Float("Read (%)", compute="_compute_statistics")
    replied_rate = fields.Float("Replied (%)", compute="_compute_statistics")
    progress = fields.Float(compute="_compute_statistics")
    pricing_summary = fields.Char(
        "Provider Charges", compute="_compute_pricing_summary", help="Messages by the provider's pricing category."
    )
    sms_segments = fields.Integer("SMS Segments", compute="_compute_sms_estimate")
    sms_cost_estimate = fields.Float("Estimated SMS Cost", compute="_compute_sms_estimate")

    # Statistics

    def _compute_pricing_summary(self):
        summaries = self.env["contact.centre.message"]._pricing_summaries("campaign_id", self.ids)
        for campaign in self:
            campaign.pricing_summary = summaries.get(campaign.id, False)

    def _compute_statistics(self):
        """Every figure of every campaign of ``self`` from the campaigns' tallies (kept by
        PostgreSQL as the rows change: see ``contact.centre.campaign.tally``) and one query for
        the replies and opt-outs: a campaign of a million recipients answers in milliseconds."""
        counts = self.env["contact.centre.campaign.tally"]._counts(self.ids)
        replied, opted_out = self._reply_and_opt_out_counts()
        for campaign in self:
            tally = counts.get(campaign.id, {})
            states, statuses = tally.get("state", {}), tally.get("status", {})
            read = statuses.get("read", 0)
            delivered = statuses.get("delivered", 0) + read
            sent = statuses.get("sent", 0) + delivered
            total = sum(states.values()) - states.get("excluded", 0)
            campaign.recipient_count = total
            campaign.excluded_count = states.get("excluded", 0)
            campaign.enrolled_count = states.get("enrolled", 0)
            campaign.review_count = states.get("review", 0)
            campaign.unconfirmed_count = states.get("unconfirmed", 0)
            campaign.sent_count = sent
            campaign.delivered_count = delivered
            campaign.read_count = read
            campaign.failed_count = statuses.get("failed", 0)
            campaign.replied_count = replied.get(campaign.id, 0)
            campaign.opted_out_count = opted_out.get(campaign.id, 0)
            campaign.delivered_rate = 100.0 * delivered / sent if sent else 0.0
            campaign.read_rate = 100.0 * read / sent if sent else 0.0
            campaign.replied_rate = 100.0 * campaign.replied_count / sent if sent else 0.0
            done = total - states.get("pending", 0) - states.get("sending", 0)
            campaign.progress = 100.0 * done / total if total else 0.0

    def _reply_and_opt_out_counts(self):
        """Contacts who wrote back after their campaign message (an opt-out command such as STOP is
        not a reply), and who opted out of its channel after it.

        Read from the few that may count, not from every recipient: the inbound messages and the
        opt-outs since the campaign was made (partial indexes), each joined to its recipient by the
        campaign's unique (campaign, contact) index. A campaign of a million recipients is counted
        in milliseconds, while it runs."""
        if not self.ids:
            return {}, {}
        for model in ("contact.centre.campaign.recipient", "contact.centre.message", "contact.centre.contact"):
            self.env[model].flush_model()
        rows = self.env.execute_query(
            SQL(
                """
                WITH replied AS (
                    SELECT r.campaign_id, COUNT(DISTINCT r.id) AS count
                      FROM contact_centre_campaign campaign
                      JOIN contact_centre_message i
                        ON i.direction = 'inbound' AND i.message_timestamp > campaign.create_date
                      JOIN contact_centre_campaign_recipient r ON r.campaign_id = campaign.id
                                                              AND r.contact_id = i.contact_id
                      JOIN contact_centre_message m ON m.id = r.message_id
                     WHERE campaign.id IN %(campaigns)s AND i.message_timestamp > m.message_timestamp
                       AND COALESCE(i.body_text, '') <> ALL(%(opt_outs)s::text[])
                  GROUP BY r.campaign_id
                ), opted_out_since AS MATERIALIZED (
                    -- first the few who opted out since the campaign was made, then their recipients
                    SELECT campaign.id AS campaign_id, c.id AS contact_id, c.opt_in_whatsapp, c.opt_in_whatsapp_date,
                           c.opt_in_sms, c.opt_in_sms_date
                      FROM contact_centre_campaign campaign
                      JOIN contact_centre_contact c
                        ON (NOT c.opt_in_whatsapp AND c.opt_in_whatsapp_date > campaign.create_date)
                        OR (NOT c.opt_in_sms AND c.opt_in_sms_date > campaign.create_date)
                     WHERE campaign.id IN %(campaigns)s
                ), opted_out AS (
                    SELECT r.campaign_id, COUNT(*) AS count
                      FROM opted_out_since c
                      JOIN contact_centre_campaign_recipient r
                        ON r.campaign_id = c.campaign_id AND r.contact_id = c.contact_id
                      JOIN contact_centre_message m ON m.id = r.message_id
                     WHERE (m.channel = 'whatsapp' AND NOT c.opt_in_whatsapp
                            AND c.opt_in_whatsapp_date > m.message_timestamp)
                        OR (m.channel = 'sms' AND NOT c.opt_in_sms AND c.opt_in_sms_date > m.message_timestamp)
                  GROUP BY r.campaign_id
                )
                SELECT campaign.id, COALESCE(replied.count, 0), COALESCE(opted_out.count, 0)
                  FROM contact_centre_campaign campaign
             LEFT JOIN replied ON replied.campaign_id = campaign.id
             LEFT JOIN opted_out ON opted_out.campaign_id = campaign.id
                 WHERE campaign.id IN %(campaigns)s
                """,
                campaigns=tuple(self.ids),
                opt_outs=self._opt_out_replies(),
            )
        )
        return {row[0]: row[1] for row in rows}, {row[0]: row[2] for row in rows}

    def _opt_out_replies(self):
        """The texts of the replies to these campaigns that are opt-out commands (``opt_command``,
        with the configured words, as the inbound rules read them): the distinct short replies are
        read in one query (no more word characters than the longest opt-out word) and checked here."""
        extra_out = parse_keywords(self.env["ir.config_parameter"].sudo().get_param("contact_centre.opt_out_words", ""))
        longest = max(len(normalize(word)) for word in (*OPT_OUT_WORDS, *extra_out))
        rows = self.env.execute_query(
            SQL(
                """
                SELECT DISTINCT i.body_text
                  FROM contact_centre_campaign campaign
                  JOIN contact_centre_message i ON i.direction = 'inbound' AND i.message_timestamp > campaign.create_date
                  JOIN contact_centre_campaign_recipient r ON r.campaign_id = campaign.id AND r.contact_id = i.contact_id
                  JOIN contact_centre_message m ON m.id = r.message_id
                 WHERE campaign.id IN %s AND i.message_timestamp > m.message_timestamp
                   AND length(regexp_replace(i.body_text, '\\W+', '', 'g')) <= %s
                """,
                tuple(self.ids),
                longest,
            )
        )
        return [text for (text,) in rows if opt_command(text, extra_out=extra_out) == "opt_out"]

    @api.depends("filter_domain")
    def _compute_has_filter(self):
        for campaign in self:
            campaign.has_filter = bool(campaign._filter_domain())

    @api.depends("contact_ids")
    def _compute_listed_count(self):
        """How many contacts are listed (as saved), counted in SQL; the form shows the first
        ``LISTED_IN_FORM`` of them."""
        saved = [campaign._origin.id for campaign in self if campaign._origin.id]
        counts = dict(
            self.env.execute_query(
                SQL(
                    """SELECT campaign_id, COUNT(*) FROM contact_centre_campaign_contact_rel
                        WHERE campaign_id = ANY(%s) GROUP BY campaign_id""",
                    saved,
                )
            )
        )
        for campaign in self:
            campaign.listed_count = counts.get(campaign._origin.id, 0)
            campaign.listed_truncated = campaign.listed_count > LISTED_IN_FORM

    def web_read(self, specification):
        """The form lists the first ``LISTED_IN_FORM`` contacts of a campaign (by id), not all of
        them: the web client would otherwise be sent every id of the list (a million for a large
        campaign, each checked against its partner's archive flag: minutes and gigabytes for one
        form). The list's edits are link and unlink commands, right whatever is shown."""
        if "contact_ids" not in specification:
            return super().web_read(specification)
        listed = specification["contact_ids"] or {}
        result = super().web_read({key: spec for key, spec in specification.items() if key != "contact_ids"})
        Contact = self.env["contact.centre.contact"].with_context(**listed.get("context", {}))
        for values, campaign in zip(result, self, strict=True):
            contacts = Contact.search([("campaign_ids", "in", campaign.id)], order="id", limit=LISTED_IN_FORM)
            if "fields" not in listed:
                values["contact_ids"] = contacts.ids
                continue
            shown = contacts[: listed.get("limit") or len(contacts)]
            rows = {row["id"]: row for row in shown.web_read(listed["fields"])}
            values["contact_ids"] = [rows.get(contact_id) or {"id": contact_id} for contact_id in contacts.ids]
        return result

    @api.depends("contact_ids", "filter_domain", "company_id", "user_id", "audience_ready")
    def _compute_audience_count(self):
        """Once prepared, the audience is the campaign's recipients (each contact once), read from
        its tallies; before, one COUNT over ``_audience_query``: the contacts are never loaded."""
        self.flush_model(["contact_ids", "company_id", "user_id", "filter_domain"])
        prepared = self.filtered("audience_ready")
        tallies = self.env["contact.centre.campaign.tally"]._counts(prepared.ids)
        for campaign in prepared:
            campaign.audience_count = sum(tallies.get(campaign.id, {}).get("state", {}).values())
        for campaign in self - prepared:
            [(count,)] = self.env.execute_query(
                SQL(
                    "SELECT COUNT(*) FROM contact_centre_contact WHERE id IN %s",
                    campaign._audience_query(),
                )
            )
            campaign.audience_count = count

    @api.depends("contact_ids")
    @api.depends_context("uid", "allowed_company_ids")
    def _compute_preview_contact(self):
        """The first listed contact by id that the reader may see (its record rules), saved or not
        (the form adds the last picked first), without reading the whole list."""
        Contact = self.env["contact.centre.contact"]
        for campaign in self:
            if isinstance(campaign.id, int):
                first = Contact.search([("campaign_ids", "in", campaign.id)], order="id", limit=1)
            else:
                first = campaign.contact_ids.sorted(lambda contact: contact._origin.id or 0)[:1]
            campaign.preview_contact_id = first

    @api.depends("template_id.full_preview", "preview_contact_id")
    def _compute_template_preview(self):
        for campaign in self:
            # The template as the related field it replaces read it (sudo): the contact is the
            # reader's own (``preview_contact_id``, searched under their rules).
            template, contact = campaign.template_id.sudo(), campaign.preview_contact_id
            if not template:
                campaign.template_preview = False
                continue
            values = template._render_values(contact) if contact else template._sample_values()
            campaign.template_preview = template._render_full_preview(values)

    @api.depends(
        "template_id", "sms_template_id", "channel", "audience_count", "sms_segment_cost", "preview_contact_id"
    )
    def _compute_sms_estimate(self):
        for campaign in self:
            template = campaign.template_id if campaign.channel == "sms" else campaign.sms_template_id
            contact = campaign.preview_contact_id
            text = template.body_text or "" if template else ""
            if template and contact:
                text = template._render_preview(template._render_values(contact))
            segments = sms_info(text).segments
            campaign.sms_segments = segments
            sms_contacts = campaign.audience_count if campaign.channel == "sms" else 0
            campaign.sms_cost_estimate = segments * sms_contacts * campaign.sms_segment_cost

    # Lifecycle

    def action_confirm_schedule(self):
        """The Schedule button: check the campaign, then ask "Send to N contacts?" (N its real audience)."""
        self.ensure_one()
        self._check_ready()
        self._check_audience()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Schedule the Campaign"),
            "res_model": "contact.centre.campaign.schedule",
            "view_mode": "form",
            "target": "new",
            "context": {"default_campaign_id": self.id},
        }

    def action_schedule(self):
        for campaign in self:
            campaign._check_ready()
            campaign._check_audience()
        now = fields.Datetime.now()
        for campaign in self:
            campaign.write(
                {"state": "scheduled", "scheduled_date": campaign.scheduled_date or now, "stop_reason": False}
            )
            self._dispatch_cron()._trigger(at=max(campaign.scheduled_date, now))
        return True

    def action_pause(self):
        self.filtered(lambda c: c.state in ("scheduled", "running")).write({"state": "paused"})

    def action_resume(self):
        self.filtered(lambda c: c.state == "paused").write({"state": "running", "stop_reason": False})
        self._dispatch_cron()._trigger()

    def action_cancel(self):
        self.filtered(lambda c: c.state not in ("done", "cancelled")).write({"state": "cancelled"})

    def action_draft(self):
        self.filtered(lambda c: c.state in ("scheduled", "cancelled")).write({"state": "draft"})

    def action_start_inbound(self):
        for campaign in self:
            if not campaign.keyword:
                raise UserError(self.env._("An inbound campaign needs its keyword."))
        self.write({"state": "running"})

    def action_test_send(self):
        """Send the campaign's message to its test contact now (not counted in the campaign): for
        those who may edit the campaign (agents read it; they do not send on its behalf)."""
        self.ensure_one()
        self.check_access("write")
        if not self.test_contact_id:
            raise UserError(self.env._("Choose the contact the test is sent to."))
        self._check_ready()
        channel = self._channel_for(self.test_contact_id)
        thread = self.env["contact.centre.thread"]._get_or_create(self.test_contact_id, channel)
        template = self._template_for(channel)
        if channel == "whatsapp":
            return thread._send_message(
                template=template, template_values=template._render_values(self.test_contact_id)
            )
        return thread._send_message(text=template._render_preview(template._render_values(self.test_contact_id)))

    def action_view_messages(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("contact_centre.contact_centre_message_action")
        action["domain"] = [("campaign_id", "=", self.id)]
        return action

    def action_view_recipients(self):
        """The recipients the Recipients button counts: the excluded ones are not among them."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Recipients (excluded not shown)"),
            "res_model": "contact.centre.campaign.recipient",
            "view_mode": "list",
            "domain": self._recipients_domain(excluded=False),
        }

    def action_view_excluded(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Excluded Recipients"),
            "res_model": "contact.centre.campaign.recipient",
            "view_mode": "list",
            "domain": self._recipients_domain(excluded=True),
            "context": {"search_default_group_reason": 1},
        }

    def action_add_filter(self):
        """Start a filter with a rule that matches nobody until it is filled in (contacts with one of
        the tags to choose): an empty filter is never "every contact"."""
        self.ensure_one()
        self.filter_domain = "[('category_id', 'in', [])]"
        return True

    def _recipients_domain(self, excluded):
        """The recipients the statistics count as such (``recipient_count``), or the excluded ones."""
        return [("campaign_id", "=", self.id), ("state", "=" if excluded else "!=", "excluded")]

    def _check_ready(self):
        self.ensure_one()
        if self.campaign_type != "outbound":
            raise UserError(self.env._("Only outbound campaigns are scheduled; inbound ones are started."))
        channels = ["whatsapp", "sms"] if self.channel == "both" else [self.channel]
        if self.sms_fallback:
            channels.append("sms")
        for channel in set(channels):
            template = self._template_for(channel)
            if not template:
                raise UserError(self.env._("Choose the %(channel)s template of the campaign.", channel=channel))
            if not template.is_sendable:
                raise UserError(self.env._("The template %(name)s is not approved by Meta yet.", name=template.name))
            template._check_filled_for_every_contact()
            if not self._config_for(channel):
                raise UserError(self.env._("Choose the %(channel)s provider of the campaign.", channel=channel))

    def _check_audience(self):
        self.ensure_one()
        self.invalidate_recordset(["audience_count"])  # never a count from before the last changes
        if not self.audience_count:
            raise UserError(
                self.env._(
                    "The campaign %(name)s would be sent to 0 contacts: add contacts to it, or a filter that "
                    "matches some (an empty filter adds nobody).",
                    name=self.name,
                )
            )

    def _dispatch_cron(self):
        return self.env.ref("contact_centre.ir_cron_contact_centre_campaign_dispatch")

    # Audience

    def _template_for(self, channel):
        if channel == "whatsapp" or self.channel == "sms":
            return self.template_id
        return self.sms_template_id or (self.template_id if self.template_id.channel == "sms" else self.sms_template_id)

    def _config_for(self, channel):
        return self.whatsapp_config_id if channel == "whatsapp" else self.sms_config_id

    def _channel_for(self, contact):
        return contact.preferred_channel if self.channel == "both" else self.channel

    def _audience_query(self):
        """SQL of the ids of the campaign's contacts and of its filter's, without loading them.

        Evaluated as the campaign's responsible within the campaign's company (record rules
        apply, contacts of other companies never join). An empty filter adds nobody: only what
        is listed plus an explicitly set filter is the audience, never the whole database."""
        self.ensure_one()
        user = (self.user_id or self.create_uid or self.env.user)._origin
        # The campaign's company alone: the reader's other companies may not be the responsible's.
        company = self.company_id._origin
        Contact = self.env["contact.centre.contact"].with_user(user).with_context(allowed_company_ids=company.ids)
        if isinstance(self.id, int):
            domain = Domain("campaign_ids", "in", self.id)
        else:  # a campaign being edited (form): its contacts as listed on screen
            domain = Domain("id", "in", self.contact_ids._origin.ids)
        filter_domain = self._filter_domain()
        if filter_domain:
            domain |= Domain(filter_domain)
        return Contact._search(domain & Domain("company_id", "=", self.company_id._origin.id)).subselect()

    def _reach_sql(self):
        """SQL of the campaign's audience as it would be sent, one row per contact: ``id``, its
        ``route`` (the campaign's channel, the contact's preferred one for Both, or SMS as the
        fallback), its ``number`` on that route and whether it ``opted_in`` to marketing there.
        Shared by the Schedule preview and the preparation of the recipients."""
        self.ensure_one()
        preferred = self.channel == "both"
        return SQL(
            """
            SELECT routed.id, routed.route, %(number)s AS number,
                   CASE WHEN routed.route = 'whatsapp' THEN routed.marketing_whatsapp
                        ELSE routed.marketing_sms END AS opted_in
              FROM (SELECT c.*, CASE
                           WHEN %(fallback)s AND base.channel = 'whatsapp'
                                AND (c.whatsapp_number IS NULL OR NOT c.marketing_whatsapp)
                                AND c.sms_number IS NOT NULL AND c.marketing_sms THEN 'sms'
                           ELSE base.channel END AS route
                      FROM contact_centre_contact c,
                           LATERAL (SELECT CASE WHEN %(preferred)s THEN c.preferred_channel
                                                ELSE %(channel)s END AS channel) AS base
                     WHERE c.id IN %(audience)s) AS routed
            """,
            fallback=self.sms_fallback and self.channel != "sms",
            preferred=preferred,
            channel=self.channel if not preferred else "whatsapp",
            audience=self._audience_query(),
            number=SQL(NUMBER_SQL.format(channel="routed.route", c="routed")),
        )

    def _audience_preview(self):
        """What Schedule tells before sending, in one query over ``_reach_sql``: the audience
        (each contact once) and, of it, who the campaign would already exclude: no valid number on
        the channel, opted out of it, or a number another contact of the audience has on it."""
        self.ensure_one()
        self.flush_model()
        self.env["contact.centre.contact"].flush_model()
        [(audience, no_number, opted_out, duplicates)] = self.env.execute_query(
            SQL(
                """
                SELECT COUNT(*),
                       COUNT(*) FILTER (WHERE COALESCE(number, '') !~ %(e164)s),
                       COUNT(*) FILTER (WHERE number ~ %(e164)s AND NOT opted_in),
                       COUNT(*) FILTER (WHERE number ~ %(e164)s AND opted_in)
                           - COUNT(DISTINCT (route, number)) FILTER (WHERE number ~ %(e164)s AND opted_in)
                  FROM (%(reach)s) AS reach
                """,
                reach=self._reach_sql(),
                e164=E164_SQL,
            )
        )
        return {"audience": audience, "no_number": no_number, "opted_out": opted_out, "duplicates": duplicates}

    def _filter_domain(self):
        """The saved filter as a domain; empty (``[]``, "Match all records") means no filter."""
        return safe_eval(self.filter_domain) if self.filter_domain else []

    def _prepare_recipients(self):
        """One recipient row per audience contact (each once), its channel and exclusion decided
        as it is inserted, in one statement: a campaign of any size is never loaded in memory, and
        its rows are written once (a million in well under a minute).

        Excluded: no number on the channel, not a valid one, no marketing consent on it, or a
        number another contact of the audience has on the same channel (the oldest contact keeps
        it: one message per number)."""
        self.ensure_one()
        self.env.flush_all()
        self.env.execute_query(
            SQL(
                """
                INSERT INTO contact_centre_campaign_recipient
                       (campaign_id, contact_id, channel, state, exclusion_reason, attempts,
                        create_uid, write_uid, create_date, write_date)
                SELECT %(campaign)s, judged.id, judged.route,
                       CASE WHEN judged.reason IS NULL THEN 'pending' ELSE 'excluded' END, judged.reason, 0,
                       %(uid)s, %(uid)s, now() at time zone 'UTC', now() at time zone 'UTC'
                  FROM (SELECT reach.id, reach.route, CASE
                                   WHEN reach.number IS NULL THEN 'no_number'
                                   WHEN reach.number !~ %(e164)s THEN 'invalid_number'
                                   WHEN NOT reach.opted_in THEN 'opted_out'
                                   WHEN ROW_NUMBER() OVER (
                                            PARTITION BY reach.route, reach.number,
                                                         reach.number ~ %(e164)s AND reach.opted_in
                                            ORDER BY reach.id) > 1 THEN 'duplicate_number'
                               END AS reason
                          FROM (%(reach)s) AS reach) AS judged
                ON CONFLICT (campaign_id, contact_id) DO NOTHING
                """,
                campaign=self.id,
                uid=self.env.uid,
                reach=self._reach_sql(),
                e164=E164_SQL,
            )
        )
        # Fresh statistics for the planner: without them, the claims of a million new rows are
        # planned as if the table held a few (a bitmap scan of every pending row, each claim).
        Recipient = self.env["contact.centre.campaign.recipient"]
        self.env.cr.execute(SQL("ANALYZE %s", SQL.identifier(Recipient._table)))
        Recipient.invalidate_model()
        self.audience_ready = True

    # Dispatch

    def _register_hook(self):
        """When a server starts (a deploy, a restart after a crash), wake the cron workers a few
        seconds later if a campaign is running: Odoo's cron worker sleeps up to a minute before its
        first look, and nothing else would wake it before then."""
        super()._register_hook()
        if not modules.module.current_test and server_module.server is not None:
            timer = threading.Timer(WAKE_AFTER_START, self._wake_cron_workers, args=(self.env.cr.dbname,))
            timer.daemon = True
            timer.start()

    @api.model
    def _wake_cron_workers(self, dbname):
        """NOTIFY the cron workers as Odoo's own ``ir.cron._notifydb`` does (they listen on the
        ``postgres`` database), if a campaign of ``dbname`` is running or due."""
        try:
            with sql_db.db_connect(dbname).cursor() as cr:
                cr.execute(
                    """SELECT 1 FROM contact_centre_campaign
                        WHERE state = 'running' OR (state = 'scheduled' AND scheduled_date <= now() AT TIME ZONE 'UTC')
                        LIMIT 1"""
                )
                busy = bool(cr.fetchone())
            if busy:
                with sql_db.db_connect("postgres").cursor() as cr:
                    cr.execute(SQL("SELECT %s('cron_trigger', %s)", SQL.identifier(ODOO_NOTIFY_FUNCTION), dbname))
        except Exception:  # noqa: BLE001 - a wake-up that fails leaves the cron's own schedule
            _logger.warning("Could not wake the cron workers after start", exc_info=True)

    @api.model
    def _process_dispatch(self):
        """The dispatch cron: start due campaigns, then send their recipients.

        Recipients are claimed a few at a time (SKIP LOCKED: two workers, or two hosts, share a
        campaign and never take the same one) and each provider answer is recorded as it comes:
        a process killed at any moment leaves in doubt only what was in flight, and those are
        settled by the provider's callbacks (``message._settle_abandoned_claims``).

        Odoo's cron calls this again and again in one job, ten times and for ten seconds at least
        (``ir.cron._run_job``): the first call sends until the job's time is up (then wakes the
        cron for the next job: ``message._send_pipelined``), and a call after it returns at once
        (it started a sender process only to find the time up). The job then ends, rescheduled at
        once."""
        if not self._commit():
            return  # the job's time is up: the next job goes on
        Message = self.env["contact.centre.message"]
        Message._retrying(Message._settle_abandoned_claims, give_up=None)
        Message._retrying(self._start_due, give_up=None)
        for campaign in self.search([("state", "=", "running"), ("campaign_type", "=", "outbound")]):
            if not campaign.audience_ready and not campaign._prepare_once():
                continue
            campaign._dispatch()
        # Recipients still due (time was up) bring the cron back at once; those waiting for a
        # retry or the end of quiet hours have their own trigger.
        self._commit(remaining=self._due_recipient_count())

    @api.model
    def _due_recipient_count(self):
        return self.env["contact.centre.campaign.recipient"].search_count(
            [
                ("campaign_id.state", "=", "running"),
                ("state", "=", "pending"),
                "|",
                ("next_attempt", "=", False),
                ("next_attempt", "<=", fields.Datetime.now()),
            ]
        )

    @api.model
    def _start_due(self):
        due = self.search([("state", "=", "scheduled"), ("scheduled_date", "<=", fields.Datetime.now())])
        due.try_lock_for_update().write({"state": "running"})

    def _prepare_once(self):
        """Prepare the audience unless another worker is doing it (its row is locked); True when
        the audience is ready."""
        Message = self.env["contact.centre.message"]
        if not Message._retrying(lambda: bool(self.try_lock_for_update()), give_up=False):
            return False
        self.invalidate_recordset(["audience_ready"])
        if not self.audience_ready:
            self._prepare_recipients()
            self._commit()
        return True

    def _dispatch(self):
        """Send this campaign's pending recipients until none is left, the campaign stops or time
        is up, through the message model's pipeline (``_send_pipelined``)."""
        self.ensure_one()
        if self._pause_if_blocked():
            return
        progress = {}  # how far this run has claimed (``_next_batch``)
        self.env["contact.centre.message"]._send_pipelined(
            lambda room, token: self._claim_recipients(room, token, progress),
            self._record_answers,
            unclaimed=lambda: self._claim_undone(progress),
            own_process=self._sends_from_own_process(),
            keep=self._dispatch_settings,
        )
        self.invalidate_recordset(["state"])
        if self.state == "running":
            self.env["contact.centre.message"]._retrying(self._finish_if_done, give_up=None)
        self._commit()

    def _dispatch_settings(self):
        """What every turn of the dispatch reads: the campaign, its templates with their variables
        and buttons, and its configurations (an edit reaches a running dispatch within
        ``KEEP_SECONDS``; the campaign's state is read by each claim's statement)."""
        templates = self.template_id | self.sms_template_id
        return [
            self,
            templates,
            templates.variable_ids,
            templates.button_ids,
            self.whatsapp_config_id,
            self.sms_config_id,
        ]

    def _sends_from_own_process(self):
        """The providers of this run's configurations when its requests are made by a sender
        process (``_send_pipelined``), else (): when the campaign has at least
        ``contact_centre.sender_process_from`` recipients still to send (1,000 by default; 0
        never), for which a process that starts in a fraction of a second pays off."""
        threshold = self.env["ir.config_parameter"]._cc_get_int("contact_centre.sender_process_from", 1000)
        pending = self.env["contact.centre.campaign.tally"]._counts(self.ids).get(self.id, {}).get("state", {})
        if not threshold or pending.get("pending", 0) < threshold:
            return ()
        return tuple(
            sorted({config._provider_name() for config in (self.whatsapp_config_id, self.sms_config_id) if config})
        )

    def _pause_if_blocked(self):
        """Pause, with the reason on the form, when a number of the campaign may not send now: Meta
        rates its quality red, restricts its account, or its messaging limit would be exceeded by
        the recipients still to reach on it."""
        Recipient = self.env["contact.centre.campaign.recipient"]
        for channel in ("whatsapp", "sms"):
            config = self._config_for(channel)
            if not config:
                continue
            waiting = Recipient.search_count(
                [("campaign_id", "=", self.id), ("state", "=", "pending"), ("channel", "=", channel)]
            )
            reason = waiting and config._campaign_block_reason(waiting)
            if reason:
                self._stop(reason)
                self._commit()
                return True
        return False

    def _claim_recipients(self, room, token, progress=None):
        """Claim up to ``room`` due recipients (no more than a second of the rate limit) for run
        ``token``, none once the campaign stopped running: their messages are created and claimed.
        Returns (claimed, hand-overs)."""
        progress = {} if progress is None else progress
        progress["claim_from"] = progress.get("after", 0)
        try:
            batch = self._next_batch(min(room, self._rate_cap()), progress)
            ready = self._defer_quiet_hours(batch)
            return len(batch), self._hand_over(ready, token) if ready else []
        except Exception:
            self._claim_undone(progress)
            raise

    @api.model
    def _claim_undone(self, progress):
        """The last claim was rolled back (it met another process's changes, or its turn's answers
        did): its recipients, pending again, are looked for from where it began, not past the last
        of them (they would wait for the end of the campaign)."""
        progress["after"] = progress.get("claim_from", 0)

    def _rate_cap(self):
        """A second of the slowest of the campaign's numbers and providers."""
        rates = [config.rate_limit for config in (self.whatsapp_config_id, self.sms_config_id) if config]
        return max(1, min(rates or [1]))

    def _next_batch(self, limit, progress):
        """Pending recipients due now, locked for this run (SKIP LOCKED: never two workers on one).

        Looked for past the last one this run found (``progress["after"]``), then, when too few
        are left there, from the start (retries now due, rows another run let go): a claim never
        walks again over the rows the campaign already sent (a million of them, late in a large
        campaign, whatever plan PostgreSQL picks)."""
        domain = [
            ("campaign_id", "=", self.id),
            # Read in the statement, not from the cache: a dispatch keeps its campaign in cache
            # across its commits (``_dispatch_settings``), and someone may pause it meanwhile.
            ("campaign_id.state", "=", "running"),
            ("state", "=", "pending"),
            "|",
            ("next_attempt", "=", False),
            ("next_attempt", "<=", fields.Datetime.now()),
        ]
        after = progress.get("after", 0)
        found = self._lock_first([*domain, ("id", ">", after)], limit)
        if len(found) < limit and after:
            found = self._lock_first([*domain, ("id", "<=", after)], limit - len(found)) | found
        progress["after"] = max(found.ids, default=after)
        return found

    def _lock_first(self, domain, limit):
        """The first ``limit`` recipients of ``domain`` by id that no other run holds, locked in the
        statement that finds them (as ``try_lock_for_update`` would lock them after a search: one
        round trip less per claim, and rows another run holds are passed over, not counted), with
        the contact and channel the hand-over reads next, the contact's own row and the partner's
        fields the templates render, put in the cache as reading them would (three round trips
        less again)."""
        Recipient, Contact = self.env["contact.centre.campaign.recipient"], self.env["contact.centre.contact"]
        Partner = self.env["res.partner"]
        query = Recipient._search(domain, limit=limit, order="id")
        contact = query.join(Recipient._table, "contact_id", Contact._table, "id", "contact")
        contact_fields, partner_fields = returned_fields(Contact), self._partner_fields_rendered()
        partner = query.join(contact, "partner_id", Partner._table, "id", "partner")
        statement = SQL(
            "%s FOR UPDATE OF %s SKIP LOCKED",
            query.select(
                *(SQL.identifier(Recipient._table, column) for column in ("id", "contact_id", "channel")),
                *(SQL.identifier(contact, field.name) for field in contact_fields),
                *(SQL.identifier(partner, name) for name in ["id", *(field.name for field in partner_fields)]),
            ),
            SQL.identifier(Recipient._table),
        )
        self.env.flush_query(statement)
        # Rows another run claimed since this transaction's snapshot fail the statement: expected
        # with two runs on one campaign, tried again on a new snapshot (``_retrying``), not logged.
        self.env.cr.execute(statement, log_exceptions=False)
        rows = self.env.cr.fetchall()
        recipients = Recipient.browse(row[0] for row in rows)
        Recipient._fields["contact_id"]._insert_cache(recipients, [row[1] for row in rows])
        Recipient._fields["channel"]._insert_cache(recipients, [row[2] for row in rows])
        split = 3 + len(contact_fields)
        contacts = {row[1]: row[3:split] for row in rows}  # each contact once, whatever its recipients
        cache_rows(Contact, contact_fields, [(contact_id, *values) for contact_id, values in contacts.items()])
        partners = {row[split]: row[split + 1 :] for row in rows}
        cache_rows(Partner, partner_fields, [(partner_id, *values) for partner_id, values in partners.items()])
        return recipients

    def _partner_fields_rendered(self):
        """The partner's fields the campaign's templates render for a contact (a contact's name is
        its partner's), of those a statement can return as they are (``returned_fields``)."""
        Contact = self.env["contact.centre.contact"]
        names = {
            field.related_field.name
            for template in self.template_id | self.sms_template_id
            for field in template._contact_fields_rendered(Contact)
            if field.inherited
        }
        return [field for field in returned_fields(self.env["res.partner"]) if field.name in names]

    def _hand_over(self, recipients, token):
        """Create the recipients' messages, claimed for run ``token``; the refused ones are
        recorded at once. Returns the hand-overs of the others, answers keyed (recipient, message)."""
        messages = self._create_messages(recipients, token)
        outbound = messages._outbound_or_refusal()
        refused = recipients.filtered(lambda r: not isinstance(outbound[r.message_id], OutboundMessage))
        if refused:
            self._record_results(refused, refused.message_id, [outbound[r.message_id] for r in refused])
        sendable = recipients - refused
        return sendable.message_id._hand_overs(outbound, {r.message_id: (r, r.message_id) for r in sendable})

    def _record_answers(self, answers):
        """Record the provider's answers [((recipient, message), result)]."""
        Recipient, Message = self.env["contact.centre.campaign.recipient"], self.env["contact.centre.message"]
        recipients = Recipient.browse([recipient.id for (recipient, _message), _result in answers])
        messages = Message.browse([message.id for (_recipient, message), _result in answers])
        self._record_results(recipients, messages, [result for _key, result in answers])

    def _create_messages(self, recipients, token):
        """One queued message per recipient, in its conversation, rendered for its contact and
        claimed for run ``token``; each recipient linked to its message and *sending*.

        The hot path of a campaign: the batch's missing conversations are made in one statement,
        its messages, recipients and conversations' and contacts' latest activity written in
        another (the ORM's ``create`` and ``write`` cost more than the provider's request, and on
        a busy machine every round trip to PostgreSQL waits for a core). Returns the messages, in
        the order of ``recipients``."""
        threads = self._threads_for(recipients)
        now = fields.Datetime.now()
        rows, rendering = [], {}
        for recipient in recipients:
            contact, channel = recipient.contact_id, recipient.channel
            if channel not in rendering:
                template, config = self._template_for(channel), self._config_for(channel)
                template._prefetch_values(recipients.contact_id)
                rendering[channel] = (template, config, config._provider_name(), config._message_config_field())
            template, config, provider, config_field = rendering[channel]
            values = template._render_values(contact)
            rows.append(
                (
                    recipient.id,
                    contact.id,
                    threads[contact.id, channel],
                    channel,
                    provider,
                    "template" if channel == "whatsapp" else "text",
                    template.id,
                    config.id if config_field == "whatsapp_config_id" else None,
                    config.id if config_field == "sms_config_id" else None,
                    json.dumps(values) if channel == "whatsapp" else None,
                    template._render_preview(values),
                )
            )
        Message = self.env["contact.centre.message"]
        # The conversations' latest message, from what is written (not read back), in the same statement.
        latest = {row[2]: (now, Message._preview_of(row[10], row[5]), row[1]) for row in rows}
        touch_threads, touch_contacts = Message._touch_latest_updates(latest)
        self.env.flush_all()
        returned = returned_fields(Message)
        written = self.env.execute_query(
            SQL(
                """
                WITH batch(recipient_id, contact_id, thread_id, channel, provider, message_type, template_id,
                           whatsapp_config_id, sms_config_id, template_values, body_text) AS (VALUES %(rows)s),
                inserted AS (
                    INSERT INTO contact_centre_message
                           (contact_id, thread_id, channel, direction, status, provider, message_type,
                            template_id, template_values, body_text, campaign_id, is_automated,
                            whatsapp_config_id, sms_config_id, company_id, assigned_agent_id,
                            message_timestamp, send_claimed_at, send_claim_token,
                            create_uid, write_uid, create_date, write_date)
                    SELECT batch.contact_id, batch.thread_id, batch.channel, 'outbound', 'queued',
                           batch.provider, batch.message_type, batch.template_id, batch.template_values,
                           batch.body_text, %(campaign)s, TRUE, batch.whatsapp_config_id, batch.sms_config_id,
                           thread.company_id, thread.assigned_agent_id, %(now)s, %(now)s, %(token)s,
                           %(uid)s, %(uid)s, %(now)s, %(now)s
                      FROM batch
                      JOIN contact_centre_thread AS thread ON thread.id = batch.thread_id
                 RETURNING *
                ),
                touched_threads AS (%(touch_threads)s),
                touched_contacts AS (%(touch_contacts)s)
                UPDATE contact_centre_campaign_recipient AS recipient
                   SET message_id = inserted.id, state = 'sending', claimed_at = %(now)s,
                       write_uid = %(uid)s, write_date = %(now)s
                  FROM inserted JOIN batch ON batch.thread_id = inserted.thread_id
                 WHERE recipient.id = batch.recipient_id
             RETURNING recipient.id, inserted.id, %(columns)s
                """,
                rows=SQL(", ").join(
                    SQL("(%s, %s, %s, %s, %s, %s, %s, %s::int, %s::int, %s::jsonb, %s)", *row) for row in rows
                ),
                campaign=self.id,
                now=now,
                token=token,
                uid=self.env.uid,
                touch_threads=touch_threads,
                touch_contacts=touch_contacts,
                columns=SQL(", ").join(SQL.identifier("inserted", field.name) for field in returned),
            )
        )
        linked = {recipient_id: message_id for recipient_id, message_id, *_values in written}
        recipients.invalidate_recordset(["state", "message_id", "claimed_at", "write_uid", "write_date"])
        # What the hand-over reads next (the refusal check, the message to send), from what was
        # written: no read back.
        recipients._fields["message_id"]._insert_cache(recipients, [linked[recipient.id] for recipient in recipients])
        self._forget_lists_of("contact.centre.message")  # before caching: it forgets the rows' own links too
        cache_rows(Message, returned, [row[1:] for row in written])
        Message._touched_latest(latest)
        return Message.browse([linked[recipient.id] for recipient in recipients])

    def _forget_lists_of(self, *model_names):
        """Rows of ``model_names`` were inserted in SQL: forget the lists that may hold them (a
        conversation's messages, a contact's conversations...), and nothing else of the cache:
        what this turn read (contacts, templates, configurations) is read again otherwise. Odoo
        forgets with a list the links back to it (the ``thread_id`` of every message with the
        conversations' messages): the rows put in the cache go in after."""
        for model_name in model_names:
            for field in self.env[model_name]._fields.values():
                if field.type == "many2one" and field.store:
                    for inverse in self.env.registry.field_inverses[field]:
                        self.env[inverse.model_name].invalidate_model([inverse.name])

    def _threads_for(self, recipients):
        """{(contact id, channel): conversation id} for the recipients, the missing conversations
        created in the same statement (assigned to the contact's agent, as the inbox would), and
        put in the cache as read (the refusal check reads them next)."""
        Thread = self.env["contact.centre.thread"]
        pairs = {(recipient.contact_id.id, recipient.channel) for recipient in recipients}
        returned = returned_fields(Thread)
        # The statement's own inserts are not in its snapshot: those come back by RETURNING.
        rows = self.env.execute_query(
            SQL(
                """
                WITH batch(contact_id, channel) AS (VALUES %(batch)s),
                created AS (
                    INSERT INTO contact_centre_thread
                           (contact_id, channel, company_id, assigned_agent_id, state,
                            create_uid, write_uid, create_date, write_date)
                    SELECT contact.id, batch.channel, partner.company_id, contact.assigned_agent_id, 'open',
                           %(uid)s, %(uid)s, now() at time zone 'UTC', now() at time zone 'UTC'
                      FROM batch
                      JOIN contact_centre_contact AS contact ON contact.id = batch.contact_id
                      JOIN res_partner AS partner ON partner.id = contact.partner_id
                    ON CONFLICT (contact_id, channel) DO NOTHING
                 RETURNING *
                )
                SELECT thread.id, %(existing)s
                  FROM contact_centre_thread AS thread
                  JOIN batch ON thread.contact_id = batch.contact_id AND thread.channel = batch.channel
                 UNION ALL
                SELECT created.id, %(created)s FROM created
                """,
                uid=self.env.uid,
                batch=SQL(", ").join(SQL("(%s, %s)", contact_id, channel) for contact_id, channel in pairs),
                existing=SQL(", ").join(SQL.identifier("thread", field.name) for field in returned),
                created=SQL(", ").join(SQL.identifier("created", field.name) for field in returned),
            )
        )
        self._forget_lists_of("contact.centre.thread")  # before caching: it forgets the rows' own links too
        cache_rows(Thread, returned, rows)
        threads = Thread.browse(row[0] for row in rows)
        return {(thread.contact_id.id, thread.channel): thread.id for thread in threads}

    def _record_results(self, recipients, messages, results):
        """What the provider answered for each recipient: the accepted ones in bulk (with their
        messages, in one round trip), the others one by one."""
        accepted = [isinstance(result, SendResult) for result in results]
        sent = recipients.browse([r.id for r, ok in zip(recipients, accepted, strict=True) if ok])
        messages._apply_send_results(results, then=self._sent_statement(sent))
        sent.invalidate_recordset(["state", "claimed_at", "write_uid", "write_date"], flush=False)
        for recipient, message, result, ok in zip(recipients, messages, results, accepted, strict=True):
            if not ok:
                self._record_failure(recipient, message, result)

    def _sent_statement(self, recipients):
        """The statement that marks ``recipients`` sent (accepted by the provider), run with their
        messages' (``message._apply_accepted``); None without recipients. A campaign records
        thousands a second: the ORM's ``write`` would first ask PostgreSQL for the time."""
        if not recipients:
            return None
        recipients.flush_recordset(["state", "claimed_at"])
        return SQL(
            """UPDATE contact_centre_campaign_recipient
                  SET state = 'sent', claimed_at = NULL, write_uid = %s, write_date = %s
                WHERE id IN %s""",
            self.env.uid,
            fields.Datetime.now(),
            tuple(recipients.ids),
        )

    def _record_failure(self, recipient, message, result):
        """A provider's ``ProviderError`` for one recipient (already recorded on its message): retry
        later, fall back to SMS, stop the campaign on a broken configuration, or fail the recipient."""
        if result.kind == CONFIG:
            # Nothing was accepted: the recipients go back to the queue and the campaign stops with the reason.
            message.unlink()
            recipient.write({"state": "pending", "claimed_at": False, "message_id": False, "error": str(result)})
            self._stop(self.env._("The provider refused the configuration: %(error)s", error=result))
        elif result.kind == RETRY:
            message.unlink()
            recipient.write(
                {
                    "state": "pending",
                    "claimed_at": False,
                    "message_id": False,
                    "error": str(result),
                    "attempts": recipient.attempts + 1,
                    "next_attempt": fields.Datetime.now() + RETRY_DELAY * (2 ** min(recipient.attempts, 6)),
                }
            )
        elif (
            result.kind == RECIPIENT
            and recipient.channel == "whatsapp"
            and self.sms_fallback
            and recipient.contact_id.sms_number
        ):
            recipient.write(
                {"state": "pending", "claimed_at": False, "message_id": False, "channel": "sms", "error": str(result)}
            )
        else:
            recipient.write({"state": "failed", "claimed_at": False, "error": str(result)})

    def _stop(self, reason):
        if self.state == "running":
            self.write({"state": "paused", "stop_reason": reason})
            self.message_post(body=reason)

    def _finish_if_done(self):
        busy = self.env["contact.centre.campaign.recipient"].search_count(
            [("campaign_id", "=", self.id), ("state", "in", ("pending", "sending"))], limit=1
        )
        if not busy:
            self.state = "done"
        else:
            # Recipients waiting for a retry or for the end of quiet hours: wake up when the first is due.
            first = self.env["contact.centre.campaign.recipient"].search(
                [("campaign_id", "=", self.id), ("state", "=", "pending"), ("next_attempt", "!=", False)],
                order="next_attempt",
                limit=1,
            )
            if first:
                self._dispatch_cron()._trigger(at=first.next_attempt)

    # Quiet hours

    def _defer_quiet_hours(self, recipients):
        """Recipients it is quiet hours for (in their time zone) wait until the window ends."""
        if not self.use_quiet_hours or self.quiet_hours_start == self.quiet_hours_end:
            return recipients
        now = datetime.utcnow()
        waiting = self.env["contact.centre.campaign.recipient"]
        for recipient in recipients:
            end = self._quiet_until(recipient.contact_id, now)
            if end:
                recipient.next_attempt = end
                waiting |= recipient
        if waiting:
            self._dispatch_cron()._trigger(at=min(waiting.mapped("next_attempt")))
        return recipients - waiting

    def _quiet_until(self, contact, now):
        """When quiet hours end for ``contact`` (naive UTC), or None when it is not quiet there now."""
        zone = pytz.timezone(self._timezone_of(contact))
        local = pytz.utc.localize(now).astimezone(zone)
        hour = local.hour + local.minute / 60
        start, end = self.quiet_hours_start, self.quiet_hours_end
        quiet = (start <= hour < end) if start < end else (hour >= start or hour < end)
        if not quiet:
            return None
        end_local = local.replace(hour=int(end), minute=int(round((end % 1) * 60)), second=0, microsecond=0)
        if end_local <= local:
            end_local += timedelta(days=1)
        return end_local.astimezone(pytz.utc).replace(tzinfo=None)

    def _timezone_of(self, contact):
        number = contact.whatsapp_number or contact.sms_number
        return contact.tz or (number and timezone_of(number)) or self.company_id.partner_id.tz or "UTC"

    # Inbound keyword campaigns

    @api.model
    def _handle_inbound_keyword(self, message):
        """Enrol the sender of inbound ``message`` into the running inbound campaign whose keyword it
        is, answer with the campaign's reply, and say whether the message was consumed."""
        company = message._provider_config().company_id

        def keyword_campaigns():  # once per ingestion batch: (id, keyword), in the campaigns' order
            campaigns = self.sudo().search_fetch(
                [
                    ("campaign_type", "=", "inbound"),
                    ("state", "=", "running"),
                    ("channel", "in", (message.channel, "both")),
                    ("keyword", "!=", False),
                    ("company_id", "=", company.id),
                ],
                ["keyword"],
            )
            return [(campaign.id, campaign.keyword) for campaign in campaigns]

        candidates = batch_cached(
            self.env, ("inbound_keyword_campaigns", message.channel, company.id), keyword_campaigns
        )
        text = message.body_text or ""
        campaign = self.sudo().browse(next((id_ for id_, keyword in candidates if match_keyword(text, [keyword])), ()))
        if not campaign:
            return False
        contact = message.contact_id
        campaign.contact_ids = [fields.Command.link(contact.id)]
        recipient = (
            self.env["contact.centre.campaign.recipient"]
            .sudo()
            .search([("campaign_id", "=", campaign.id), ("contact_id", "=", contact.id)])
        )
        if not recipient:
            recipient.create(
                {
                    "campaign_id": campaign.id,
                    "contact_id": contact.id,
                    "channel": message.channel,
                    "state": "enrolled",
                    "message_id": message.id,
                }
            )
        contact._set_opt_in(message.channel, True, "campaign")
        message.sudo().campaign_id = campaign
        if campaign.reply_text:
            message.thread_id._send_automated(text=campaign.reply_text, campaign=campaign)
        return True

    # Commits

    def _commit(self, processed=0, remaining=None):
        """Commit as the sending pipeline does (``message._commit_sending``); False when time is up."""
        return self.env["contact.centre.message"]._commit_sending(processed, remaining=remaining)
