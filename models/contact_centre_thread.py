import base64
import binascii
import logging
from datetime import datetime, timedelta
from urllib.parse import quote

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.fields import Domain
from odoo.tools import SQL

from ..tools.batch_cache import batch_cached
from ..tools.providers import media as outbound_media
from ..tools.providers import mms
from ..tools.providers.receipts import send_read_receipts_later
from ..tools.rendering import MissingTemplateValues, render
from ..tools.segments import sms_info
from ..tools.window import window_end, window_open
from .contact_centre_contact import CHANNELS

_logger = logging.getLogger(__name__)

INBOX_PAGE = 40
# Bus subchannels of a company (see ir.websocket): its agents, its supervisors.
INBOX_AGENTS = "contact_centre_agents"
INBOX_SUPERVISORS = "contact_centre_supervisors"
# WhatsApp shows "typing..." for 25 s: one indicator per conversation every 20 s at most.
TYPING_INTERVAL = timedelta(seconds=20)
INBOX_CONVERSATION_FIELDS = [
    "contact_id",
    "channel",
    "state",
    "last_message_preview",
    "last_message_date",
    "unread_count",
    "unread_through_id",
    "assigned_agent_id",
    "whatsapp_window_end",
]


class ContactCentreThread(models.Model):
    """A conversation: one per contact and channel, the row agents work in the inbox.

    A resolved conversation is not closed for good: the contact's next inbound message reopens it.
    """

    _name = "contact.centre.thread"
    _description = "Contact Centre Conversation"
    _order = "last_message_date DESC NULLS LAST, id DESC"
    _rec_name = "contact_id"

    contact_id = fields.Many2one("contact.centre.contact", required=True, ondelete="cascade", index=True)
    partner_id = fields.Many2one(related="contact_id.partner_id")
    company_id = fields.Many2one(related="contact_id.company_id", store=True)
    channel = fields.Selection(CHANNELS, required=True)
    whatsapp_config_id = fields.Many2one("contact.centre.whatsapp.config", "WhatsApp Number", ondelete="set null")
    sms_config_id = fields.Many2one("contact.centre.sms.config", "SMS Provider", ondelete="set null")
    assigned_agent_id = fields.Many2one("res.users", "Assigned Agent", index="btree_not_null")
    assigned_date = fields.Datetime("Assigned On", readonly=True)
    state = fields.Selection([("open", "Open"), ("resolved", "Resolved")], default="open", required=True)
    message_ids = fields.One2many("contact.centre.message", "thread_id", "Messages")
    last_message_date = fields.Datetime("Last Activity")
    last_message_preview = fields.Char("Last Message")
    last_inbound_date = fields.Datetime("Last Inbound")
    whatsapp_window_end = fields.Datetime("WhatsApp Window Ends", compute="_compute_whatsapp_window_end", store=True)
    unread_count = fields.Integer(
        "Unread",
        compute="_compute_unread_count",
        search="_search_unread_count",
        help="Inbound messages you have not read.",
    )
    unread_through_id = fields.Integer(
        "Unread Counted Through",
        compute="_compute_unread_count",
        help="The newest inbound message the unread count accounts for (read or counted).",
    )
    suggested_script_ids = fields.Many2many(
        "contact.centre.script", string="Suggested Scripts", help="Scripts whose keywords the contact used."
    )
    resolved_date = fields.Datetime("Last Resolved On", help="Kept when the conversation reopens.")
    pricing_summary = fields.Char(
        "Provider Charges", compute="_compute_pricing_summary", help="Messages by the provider's pricing category."
    )
    typing_sent_at = fields.Datetime(
        "Typing Indicator Sent", readonly=True, copy=False, help="When WhatsApp was last told an agent is typing here."
    )
    read_receipt_message_id = fields.Integer(
        "Last Message Marked Read",
        readonly=True,
        copy=False,
        help="The customer's latest WhatsApp message an agent read here, as told to WhatsApp (the customer sees "
        "blue ticks): each message is marked read once.",
    )

    _contact_channel_uniq = models.Constraint(
        "UNIQUE(contact_id, channel)", "A contact has one conversation per channel."
    )
    _inbox_idx = models.Index("(state, last_message_date DESC)")

    @api.depends("channel", "last_inbound_date")
    def _compute_whatsapp_window_end(self):
        for thread in self:
            last = thread.channel == "whatsapp" and thread.last_inbound_date
            thread.whatsapp_window_end = window_end(last)

    @api.depends_context("uid")
    def _compute_unread_count(self):
        unread = self.env["contact.centre.thread.seen"]._unread(self, self.env.user)
        for thread in self:
            thread.unread_count, thread.unread_through_id = unread.get(thread.id, (0, 0))

    def _search_unread_count(self, operator, value):
        if operator not in (">", "!=") or value != 0:
            return NotImplemented
        return [("id", "in", self.env["contact.centre.thread.seen"]._unread_thread_query(self.env.user))]

    def _compute_pricing_summary(self):
        summaries = self.env["contact.centre.message"]._pricing_summaries("thread_id", self.ids)
        for thread in self:
            thread.pricing_summary = summaries.get(thread.id, False)

    @api.depends("contact_id", "channel")
    def _compute_display_name(self):
        labels = dict(CHANNELS)
        for thread in self:
            thread.display_name = f"{thread.contact_id.name or ''} ({labels.get(thread.channel, '')})"

    @api.model
    def _get_or_create(self, contact, channel):
        """The conversation of ``contact`` on ``channel``, created when it does not exist yet (by
        anyone who may see the contact: conversations are made by the product, never edited)."""
        contact.check_access("read")
        thread = self.search([("contact_id", "=", contact.id), ("channel", "=", channel)], limit=1)
        if not thread:
            thread = self.sudo().create(
                {"contact_id": contact.id, "channel": channel, "assigned_agent_id": contact.assigned_agent_id.id}
            )
        return thread.with_env(self.env)

    def action_open_composer(self):
        self.ensure_one()
        return self.contact_id.action_open_composer(channel=self.channel)

    def action_resolve(self):
        self.check_access("read")
        self.sudo().write({"state": "resolved", "resolved_date": fields.Datetime.now()})
        self.env["contact.centre.thread.seen"].sudo()._mark_seen(self, self.env.user)

    def action_reopen(self):
        self.check_access("read")
        self.sudo().write({"state": "open"})

    def action_mark_read(self):
        self.check_access("read")
        self.env["contact.centre.thread.seen"].sudo()._mark_seen(self, self.env.user)

    # Inbox (the server calls of the agents' screen; record rules apply: they run as the agent)

    @api.model
    def inbox_conversations(self, view="mine", channel=None, search=None, offset=0, limit=INBOX_PAGE):
        """One page of conversations, latest activity first."""
        return self.search_read(
            self._inbox_domain(view, channel, search),
            INBOX_CONVERSATION_FIELDS,
            offset=offset,
            limit=min(limit, 200),
            order="last_message_date DESC NULLS LAST, id DESC",
        )

    @api.model
    def _inbox_domain(self, view, channel, search):
        domain = Domain("state", "=", "resolved" if view == "resolved" else "open")
        if view == "mine":
            domain &= Domain("assigned_agent_id", "=", self.env.uid)
        elif view == "unassigned":
            domain &= Domain("assigned_agent_id", "=", False)
        if channel:
            domain &= Domain("channel", "=", channel)
        if search:
            domain &= self._inbox_search_domain(search.strip())
        return domain

    @api.model
    def _inbox_search_domain(self, text):
        """A number (digits, spaces, +) matches the start of the E.164 numbers; anything else the name."""
        digits = "".join(ch for ch in text if ch.isdigit())
        if digits and len(digits) >= 3 and all(ch.isdigit() or ch in "+ ()-." for ch in text):
            prefix = f"+{digits}%"
            return Domain("contact_id.whatsapp_number", "=like", prefix) | Domain(
                "contact_id.sms_number", "=like", prefix
            )
        return Domain("contact_id.name", "ilike", text)

    def inbox_messages(self, before_id=None, limit=INBOX_PAGE):
        """One page of this conversation's messages, oldest first, before message ``before_id``
        (keyset paging on the (thread, time, id) index: as fast on page 1,000 as on page 1)."""
        self.ensure_one()
        self.check_access("read")
        domain = Domain("thread_id", "=", self.id)
        if before_id:
            before = self.env["contact.centre.message"].browse(before_id)
            domain &= Domain("message_timestamp", "<", before.message_timestamp) | (
                Domain("message_timestamp", "=", before.message_timestamp) & Domain("id", "<", before.id)
            )
        messages = self.env["contact.centre.message"].search(
            domain, limit=min(limit, 200), order="message_timestamp DESC, id DESC"
        )
        return messages[::-1]._inbox_rows()

    def inbox_open(self):
        """Everything the inbox shows beside the messages of this conversation: the contact panel,
        the WhatsApp window, the templates the agent may send and the suggested scripts. Opening a
        conversation marks it read."""
        self.ensure_one()
        self.action_mark_read()
        contact = self.contact_id
        user = self.env.user
        is_supervisor = user.has_group("contact_centre.group_contact_centre_supervisor")
        return {
            "id": self.id,
            "channel": self.channel,
            "state": self.state,
            "whatsapp_window_end": self.whatsapp_window_end,
            "assigned_agent": self.assigned_agent_id and [self.assigned_agent_id.id, self.assigned_agent_id.name],
            "contact": {
                "id": contact.id,
                "name": contact.name,
                "whatsapp_number": contact.whatsapp_number,
                "sms_number": contact.sms_number,
                "preferred_channel": contact.preferred_channel,
                "opt_in_whatsapp": contact.opt_in_whatsapp,
                "opt_in_sms": contact.opt_in_sms,
                "campaigns": [[campaign.id, campaign.name] for campaign in contact.campaign_ids],
            },
            "templates": self._inbox_templates(),
            "attachment": self._inbox_attachment_rules(),
            # Typing shows the customer "typing..." and marks their message read: with read receipts only.
            "typing_indicator": self.channel == "whatsapp"
            and bool(self.env["ir.config_parameter"].sudo().get_param("contact_centre.whatsapp_read_receipts")),
            "scripts": [
                {"id": script.id, "name": script.name, "text": script.content_text}
                for script in self.suggested_script_ids
            ],
            "can_reassign": is_supervisor,
            "can_take": not self.assigned_agent_id,
            "agents": self._inbox_agents() if is_supervisor else [],
        }

    def _inbox_templates(self):
        """Sendable templates of the conversation's channel, each with its variables pre-filled for the contact."""
        templates = self.env["contact.centre.template"].search(
            [("channel", "=", self.channel), ("is_sendable", "=", True)]
        )
        result = []
        for template in templates:
            values = template._render_values(self.contact_id)
            labels = template._variable_labels()  # header, body, URL suffixes, offer code
            result.append(
                {
                    "id": template.id,
                    "name": template.name,
                    "body": template.body_text,
                    "variables": [
                        {"name": name, "label": label, "value": values.get(name) or ""}
                        for name, label in labels.items()
                    ],
                }
            )
        return result

    def _inbox_agents(self):
        agents = self.env["res.users"].search(self.env["res.users"]._cc_agent_domain(self._inbox_company()))
        return [[agent.id, agent.name] for agent in agents]

    def inbox_compose_info(self, text=None, template_id=None, values=None):
        """What the composer shows as the agent types: the text that would leave (a template
        rendered with the values typed so far) and, on SMS, its encoding and segment count."""
        self.ensure_one()
        self.check_access("read")
        body = preview = text or ""
        if template_id:
            template = self.env["contact.centre.template"].browse(template_id)
            filled = template._sending_values(self.contact_id, values)
            body = template._render_preview(filled)
            preview = template._render_full_preview(filled)  # WhatsApp: with its header, footer and buttons
        info = sms_info(body) if self.channel == "sms" else None
        return {
            "preview": preview,
            "sms_encoding": info and info.encoding,
            "sms_segments": info and info.segments,
            "sms_remaining": info and info.remaining,
            "sms_max_segments": info and self._sms_max_segments(),
        }

    def inbox_send(self, text=None, template_id=None, values=None, attachment=None):
        """Send the agent's reply: free text (with a file: ``attachment`` = ``{"name", "data"}``, its
        bytes in base64), or a template with the values the agent filled."""
        self.ensure_one()
        self.check_access("read")  # before anything is read, checked or uploaded
        template = self.env["contact.centre.template"].browse(template_id)
        media = None
        if attachment:
            if template:
                raise UserError(self.env._("A template cannot carry a file: remove the file or the template."))
            media = self._prepare_outbound_media(
                self._decoded_attachment(attachment), attachment.get("name") or "file", caption=text
            )
        message = self._send_message(text=text, template=template, template_values=values, media=media)
        return message._inbox_rows()[0]

    def _decoded_attachment(self, attachment):
        try:
            return base64.b64decode(attachment.get("data") or "", validate=True)
        except (binascii.Error, ValueError) as error:
            raise UserError(
                self.env._(
                    "The file %(name)s did not arrive whole: attach it again.", name=attachment.get("name") or ""
                )
            ) from error

    def _inbox_attachment_rules(self):
        """What the inbox lets an agent attach here, checked in the browser before the upload (the
        server checks again): ``{"allowed", "reason", "limits": {MIME type: most bytes}}``."""
        if self.channel == "whatsapp":
            limits = {
                mime_type: outbound_media.WHATSAPP_MEDIA_LIMITS[kind]
                for kind, types in outbound_media.OUTBOUND_MEDIA_TYPES.items()
                for mime_type in types
            }
            return {"allowed": True, "reason": False, "limits": limits}
        config = self._sending_config()
        refusal = config._mms_refusal() if config else self.env._("No SMS provider is configured.")
        return {"allowed": not refusal, "reason": refusal or False, "limits": {} if refusal else mms.accepted_types()}

    def inbox_typing(self):
        """The agent is typing a reply: on WhatsApp, inside the window, the customer sees "typing..."
        (Meta's typing indicator, sent with a read receipt of their latest message). At most once per
        ``TYPING_INTERVAL`` per conversation, whoever types (the claim is one statement); only where
        read receipts are on (*Settings > Send WhatsApp Read Receipts*: the indicator marks read).
        Sent after the commit, off the request. True when an indicator goes out."""
        self.ensure_one()
        self.check_access("read")
        params = self.env["ir.config_parameter"].sudo()
        if not self._window_open() or not params.get_param("contact_centre.whatsapp_read_receipts"):
            return False
        latest = self._latest_meta_inbound()
        config = latest.whatsapp_config_id
        if not latest or not config.active or not self._claim_typing():
            return False
        provider, wamid = config._get_provider(), latest.external_message_id
        self.env.cr.postcommit.add(lambda: send_read_receipts_later([(provider, wamid)], typing=True))
        return True

    def _window_open(self):
        """Whether WhatsApp's 24 h window of this conversation is open now (free text, interactive
        messages and flows may be sent; otherwise only a template)."""
        self.ensure_one()
        return self.channel == "whatsapp" and window_open(self.whatsapp_window_end, fields.Datetime.now())

    def _latest_meta_inbound(self):
        """The customer's latest WhatsApp message received through Meta here (what a read receipt names)."""
        return (
            self.env["contact.centre.message"]
            .sudo()
            .search(
                [
                    ("thread_id", "=", self.id),
                    ("direction", "=", "inbound"),
                    ("provider", "=", "meta"),
                    ("external_message_id", "!=", False),
                    ("whatsapp_config_id", "!=", False),
                ],
                order="message_timestamp DESC, id DESC",
                limit=1,
            )
        )

    def _claim_typing(self):
        """Take this conversation's turn to send a typing indicator: True unless one went out less
        than ``TYPING_INTERVAL`` ago (two agents, two tabs or two workers: one wins)."""
        self.flush_recordset(["typing_sent_at"])
        now = fields.Datetime.now()
        rows = self.env.execute_query(
            SQL(
                """UPDATE contact_centre_thread SET typing_sent_at = %(now)s
                    WHERE id = %(id)s AND (typing_sent_at IS NULL OR typing_sent_at <= %(since)s)
                RETURNING id""",
                now=now,
                id=self.id,
                since=now - TYPING_INTERVAL,
            )
        )
        self.invalidate_recordset(["typing_sent_at"])
        return bool(rows)

    # Inbound

    @api.model
    def _register_inbound(self, items):
        """Bring conversations and their contacts up to date with new inbound messages ``items``
        [(message, configuration)], in their order: latest activity and inbound time (never
        older than what they show), the preview and the number of the last one, a resolved
        conversation opened again. One statement each for conversations and contacts, whatever
        the number of messages (a burst of replies stores hundreds at once), then their windows
        computed again as their fields say."""
        latest = {}  # thread id -> (time, preview, WhatsApp config id, SMS config id)
        for message, config in items:
            thread_id, when = message.thread_id.id, message.message_timestamp
            if thread_id in latest:
                when = max(when, latest[thread_id][0])
            whatsapp = config._message_config_field() == "whatsapp_config_id"
            latest[thread_id] = (
                when,
                message.preview,
                config.id if whatsapp else None,
                None if whatsapp else config.id,
            )
        if not latest:
            return
        Contact = self.env["contact.centre.contact"]
        thread_fields = ["last_message_date", "last_message_preview", "last_inbound_date", "state"]
        contact_fields = ["last_inbound_date", "last_message_date", "last_whatsapp_inbound_date"]
        self.flush_model([*thread_fields, "whatsapp_config_id", "sms_config_id"])
        Contact.flush_model(contact_fields)
        rows = self.env.execute_query(
            SQL(
                """
                UPDATE contact_centre_thread AS thread
                   SET last_message_date = GREATEST(thread.last_message_date, latest.date),
                       last_inbound_date = GREATEST(thread.last_inbound_date, latest.date),
                       last_message_preview = latest.preview,
                       whatsapp_config_id = COALESCE(latest.whatsapp_config_id, thread.whatsapp_config_id),
                       sms_config_id = COALESCE(latest.sms_config_id, thread.sms_config_id),
                       state = CASE WHEN thread.state = 'resolved' THEN 'open' ELSE thread.state END,
                       write_date = now() at time zone 'UTC', write_uid = %s
                  FROM (VALUES %s) AS latest(id, date, preview, whatsapp_config_id, sms_config_id)
                 WHERE thread.id = latest.id
             RETURNING thread.id, thread.contact_id, thread.channel = 'whatsapp', thread.last_inbound_date
                """,
                self.env.uid,
                SQL(", ").join(
                    SQL("(%s, %s::timestamp, %s, %s::int, %s::int)", thread_id, *values)
                    for thread_id, values in latest.items()
                ),
            )
        )
        contacts = {}  # contact id -> (latest inbound, whether on WhatsApp)
        for _thread_id, contact_id, whatsapp, when in rows:
            before, on_whatsapp = contacts.get(contact_id, (when, False))
            contacts[contact_id] = (max(before, when), on_whatsapp or whatsapp)
        self.env.execute_query(
            SQL(
                """
                UPDATE contact_centre_contact AS contact
                   SET last_inbound_date = GREATEST(contact.last_inbound_date, latest.date),
                       last_message_date = GREATEST(contact.last_message_date, latest.date),
                       last_whatsapp_inbound_date = CASE WHEN latest.whatsapp
                           THEN GREATEST(contact.last_whatsapp_inbound_date, latest.date)
                           ELSE contact.last_whatsapp_inbound_date END,
                       write_date = now() at time zone 'UTC', write_uid = %s
                  FROM (VALUES %s) AS latest(id, date, whatsapp)
                 WHERE contact.id = latest.id
                """,
                self.env.uid,
                SQL(", ").join(
                    SQL("(%s, %s::timestamp, %s)", contact_id, when, whatsapp)
                    for contact_id, (when, whatsapp) in contacts.items()
                ),
            )
        )
        threads = self.browse([row[0] for row in rows])
        written = Contact.browse(contacts)
        threads.invalidate_recordset([*thread_fields, "whatsapp_config_id", "sms_config_id", "write_date", "write_uid"])
        written.invalidate_recordset([*contact_fields, "write_date", "write_uid"])
        threads.modified(thread_fields)
        written.modified(contact_fields)

    def _is_new_conversation(self, message):
        """True when ``message`` opens the conversation: its first inbound one, or the first since it
        was resolved. Earlier by id: the later messages of a batch may be stored already
        (``message._store_inbound_together``)."""
        self.ensure_one()
        earlier = [("thread_id", "=", self.id), ("direction", "=", "inbound"), ("id", "<", message.id)]
        if self.resolved_date:
            earlier.append(("message_timestamp", ">", self.resolved_date))
        return not self.env["contact.centre.message"].search_count(earlier, limit=1)

    def _suggest_scripts(self, message):
        """Put the scripts whose keywords ``message`` uses one click away for the agent."""
        scripts = (
            self.env["contact.centre.script"]
            .sudo()
            ._suggest_for(message.body_text, self.channel, self._inbox_company())
        )
        if scripts:
            self.sudo().suggested_script_ids = [fields.Command.link(script.id) for script in scripts]

    def _notify_inbox(self, messages):
        """Push new or changed ``messages`` of this conversation to the inbox of whoever may see it:
        its agent and the supervisors of its company, or every agent of its company while it is
        unassigned. Company channels (``ir.websocket`` subscribes each user to those of the
        companies they work in), never groups, to which Odoo subscribes users of every company."""
        self.ensure_one()
        agent = self.assigned_agent_id
        payload = {
            "thread_id": self.id,
            "channel": self.channel,
            "state": self.state,
            "assigned_agent_id": [agent.id, agent.name] if agent else False,
            "last_message_date": fields.Datetime.to_string(self.last_message_date),
            "last_message_preview": self.last_message_preview,
            "messages": [
                {"id": m.id, "status": m.status, "direction": m.direction, "preview": m.preview} for m in messages
            ],
        }
        company = self._inbox_company()
        if agent:
            agent._bus_send("contact_centre/thread", payload)
            self.env["bus.bus"]._sendone((company, INBOX_SUPERVISORS), "contact_centre/thread", payload)
        else:
            self.env["bus.bus"]._sendone((company, INBOX_AGENTS), "contact_centre/thread", payload)

    def _inbox_company(self):
        self.ensure_one()
        return self.company_id or (self.whatsapp_config_id or self.sms_config_id).company_id or self.env.company

    # Assignment

    def _auto_assign(self):
        """Give an unassigned open conversation to an available agent of its company with room for
        it, round robin or to the one with the fewest open conversations; without one it stays in
        the queue."""
        for thread in self.filtered(lambda t: t.state == "open" and not t.assigned_agent_id):
            if self.env["whatsapp.chatbot.session"]._running_for(thread):
                continue
            agent = thread._pick_agent()
            if agent:
                thread._assign(agent)

    def _pick_agent(self):
        agents = self._available_agents()
        if not agents:
            return agents
        params = self.env["ir.config_parameter"].sudo()
        if params.get_param("contact_centre.assignment_method", "round_robin") == "fewest_open":
            load = self._open_load(agents)
            return min(agents, key=lambda agent: (load.get(agent.id, 0), agent.id))
        # Round robin without a shared counter (which concurrent webhooks would fight over): the agent
        # whose last assignment is the oldest (never assigned first; then the fewest assignments).
        groups = self.sudo()._read_group(
            [("assigned_agent_id", "in", agents.ids)], ["assigned_agent_id"], ["assigned_date:max", "__count"]
        )
        last = {agent: (date or datetime.min, count) for agent, date, count in groups}
        return min(agents, key=lambda agent: (*last.get(agent, (datetime.min, 0)), agent.id))

    def _available_agents(self):
        """Agents of the conversation's company marked available whose open conversations are
        below their capacity."""
        self.ensure_one()
        Users = self.env["res.users"].sudo()
        company = self._inbox_company()

        def available():  # once per ingestion batch (it changes no user); the load is read each time
            domain = Users._cc_assignable_domain(company) + [("cc_available", "=", True)]
            return Users.search(domain, order="id").ids

        agents = Users.browse(batch_cached(self.env, ("available_agents", company.id), available))
        if not agents:
            return agents
        load = self._open_load(agents)
        return agents.filtered(lambda agent: load.get(agent.id, 0) < agent.cc_capacity)

    def _open_load(self, agents):
        groups = self.sudo()._read_group(
            [("assigned_agent_id", "in", agents.ids), ("state", "=", "open")], ["assigned_agent_id"], ["__count"]
        )
        return {agent.id: count for agent, count in groups}

    def _assign(self, agent):
        """Give these conversations to ``agent`` (or to nobody): the one place where assignment
        changes, with what the record rules read (the contact follows its latest assignment), the
        new agent's notification, and the inbox lists of everyone concerned: the queue or the
        previous agent are told the conversation left them."""
        previous = {thread: thread.assigned_agent_id for thread in self}
        self.sudo().write({"assigned_agent_id": agent.id, "assigned_date": fields.Datetime.now() if agent else False})
        self.contact_id.sudo().write({"assigned_agent_id": agent.id})
        Message = self.env["contact.centre.message"]
        for thread in self:
            if agent:
                agent._bus_send(
                    "contact_centre/assigned", {"thread_id": thread.id, "contact": thread.contact_id.display_name}
                )
            thread._notify_inbox(Message)
            before = previous[thread]
            if before == agent:
                continue
            left = {"thread_id": thread.id, "assigned_agent_id": [agent.id, agent.name] if agent else False}
            if before:
                before._bus_send("contact_centre/thread_left", left)
            else:
                self.env["bus.bus"]._sendone(
                    (thread._inbox_company(), INBOX_AGENTS), "contact_centre/thread_left", left
                )

    def action_take(self):
        """The current agent takes these unassigned conversations (the queue is every agent's until
        someone takes a conversation); one already taken by someone else stays theirs."""
        self.check_access("read")
        user = self.env.user
        for thread in self:
            if thread.assigned_agent_id and thread.assigned_agent_id != user:
                raise UserError(
                    self.env._("%(agent)s has already taken this conversation.", agent=thread.assigned_agent_id.name)
                )
        self._check_agent_of_company(user)
        self.filtered(lambda thread: not thread.assigned_agent_id)._assign(user)
        return True

    def _check_agent_of_company(self, user):
        """Refuse ``user`` as the agent of these conversations unless they are an agent of each one's company."""
        Users = self.env["res.users"].sudo()
        for thread in self:
            if user not in Users.search(Users._cc_agent_domain(thread._inbox_company())):
                raise UserError(self.env._("%(user)s is not an agent of this conversation's company.", user=user.name))

    def _take_on_reply(self):
        """A person replying to an unassigned conversation takes it (setting "A reply takes the
        conversation", on by default), so that it leaves the queue of the others."""
        takes = self.env["ir.config_parameter"].sudo().get_param("contact_centre.reply_takes")
        if takes and not self.assigned_agent_id and not self.env.su:
            self.action_take()

    def action_assign_to(self, user):
        """Reassign conversations (supervisors only) to an agent of their company, or to nobody."""
        if not self.env.user.has_group("contact_centre.group_contact_centre_supervisor"):
            raise AccessError(self.env._("Only supervisors can reassign conversations."))
        self.check_access("read")
        agent = self.env["res.users"].browse(user.id if hasattr(user, "id") else user).exists()
        if agent:
            self._check_agent_of_company(agent)
        self._assign(agent)
        return True

    # Sending

    def _send_message(
        self,
        text=None,
        template=None,
        template_values=None,
        interactive=None,
        author=None,
        automated=False,
        campaign=None,
        confirmation=False,
        media=None,
    ):
        """Queue an outbound message in this conversation and wake the send queue.

        Refuses what the provider would refuse or the contact did not agree to (``_sending_refusal``)
        and empty free text; a template is sent with its fixed variables as the template sets them.
        ``media``: a file made ready by ``_prepare_outbound_media``, ``{"type", "id" (WhatsApp: the
        upload's), "filename", "mime_type", "content"}``, sent with ``text`` as its caption (an MMS
        by SMS).
        """
        self.ensure_one()
        self.check_access("read")
        if not template and not interactive and not media and not (text or "").strip():
            raise UserError(self.env._("Write a message first."))
        if template and not template.is_sendable:
            raise UserError(self.env._("The template %(name)s is not approved yet.", name=template.display_name))
        config = self._sending_config()
        contact = self.contact_id
        values = template._sending_values(contact, template_values) if template else {}
        try:
            body = render(template.body_text, values) if template else text
        except MissingTemplateValues as error:
            raise UserError(str(error)) from error
        if template:
            template._check_sending_values(values)  # WhatsApp: the header's, URL suffixes, offer code
        refusal = self._sending_refusal(
            config,
            text=body,
            template=template,
            interactive=interactive,
            confirmation=confirmation,
            marketing=bool(campaign),
        )
        if refusal:
            raise UserError(refusal)
        message = (
            self.env["contact.centre.message"]
            .sudo()
            .create(
                {
                    "contact_id": contact.id,
                    "thread_id": self.id,
                    "channel": self.channel,
                    "direction": "outbound",
                    "status": "queued",
                    "provider": config._provider_name(),
                    "message_type": "template"
                    if template
                    else ("interactive" if interactive else (media["type"] if media else "text")),
                    "body_text": body,
                    "template_id": template.id if template else False,
                    "template_values": values if template else False,
                    "interactive_payload": interactive or False,
                    "author_id": (author or self.env.user).id if not automated else False,
                    "is_automated": automated,
                    "is_opt_confirmation": confirmation,
                    "campaign_id": campaign.id if campaign else False,
                    config._message_config_field(): config.id,
                }
            )
        )
        if media:
            self._attach_outbound_media(message, media)
        message._touch_conversations()
        message._notify_inbox()
        message._trigger_send_queue()
        if not automated and not campaign:
            self._take_on_reply()
        return message

    def _prepare_outbound_media(self, content, filename, caption=None):
        """A file an agent sends here (the composer's and the inbox's), checked and made ready to
        leave: on WhatsApp against Meta's types and sizes, then uploaded to Meta (sent by its id); by
        SMS, as an MMS where the provider sends them, against MMS's (the provider downloads it from
        a public link made with the message). A refusal is a ``UserError`` saying why: nothing is
        uploaded, and nothing written, for a message that could not leave."""
        self.ensure_one()
        self.check_access("read")
        if not content:
            raise UserError(self.env._("%(name)s is empty.", name=filename))
        config = self._sending_config()
        refusal = self._sending_refusal(config, text=caption)
        if refusal:
            raise UserError(refusal)
        if self.channel == "whatsapp":
            media = config._upload_outbound_media(content, filename, caption=(caption or "").strip())
        else:
            media = self._checked_mms_media(config, content, filename)
        return {**media, "content": content}

    def _checked_mms_media(self, config, content, filename):
        """``{"type", "filename", "mime_type"}`` of a file for an MMS through ``config``, or a ``UserError``."""
        refusal = config._mms_refusal()
        if refusal:
            raise UserError(refusal)
        mime_type = self.env["contact.centre.whatsapp.config"]._outbound_mime_type(content, filename)
        try:
            kind = mms.check_mms_media(mime_type, len(content or b""))
        except outbound_media.MediaRefused as error:
            if error.reason == outbound_media.SIZE:
                text = self.env._(
                    "%(name)s is too large for an MMS: at most %(limit)s MB.",
                    name=filename,
                    limit=error.limit // (1 << 20),
                )
            elif error.reason == outbound_media.EMPTY:
                text = self.env._("%(name)s is empty.", name=filename)
            else:
                text = self.env._(
                    "An MMS does not carry %(name)s (%(type)s). Send an image (JPEG, PNG, GIF), a video (MP4, 3GP), "
                    "audio (MP3, M4A, AMR, AAC, OGG), a PDF or a contact card.",
                    name=filename,
                    type=mime_type,
                )
            raise UserError(text) from error
        return {"type": kind, "filename": filename, "mime_type": mime_type}

    @api.model
    def _public_media_url(self, attachment):
        """The link an SMS provider downloads an MMS's file from, without a session: the file's
        access token, as Odoo's mail links attachments (``/web/content/<id>?access_token=``), on the
        database's Base URL (``web.base.url``)."""
        token = attachment.sudo().generate_access_token()[0]
        name = quote(attachment.name or "file", safe="")
        return f"{attachment.get_base_url()}/web/content/{attachment.id}/{name}?access_token={token}"

    @api.model
    def _attach_outbound_media(self, message, media):
        """Keep what an outbound media message sends: the provider's media id (in ``details``: a
        retry sends the same upload) or, for an MMS, the file's public link, and the file itself,
        shown in the conversation."""
        kept = {key: media[key] for key in ("type", "id", "filename", "mime_type") if media.get(key)}
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .with_context(attachments_mime_plainxml=True)
            .create(
                {
                    "name": media.get("filename") or media["type"],
                    "raw": media.get("content") or b"",
                    "mimetype": media.get("mime_type"),
                    "res_model": message._name,
                    "res_id": message.id,
                }
            )
        )
        if message.channel == "sms":
            kept["url"] = self._public_media_url(attachment)
        details = {**(message.details or {}), "media": kept}
        message.sudo().write({"details": details, "attachment_ids": [fields.Command.set(attachment.ids)]})

    def _sending_refusal(self, config, text=None, template=None, interactive=None, confirmation=False, marketing=False):
        """Why a message may not go to this conversation's contact through ``config`` now, or None.

        Checked when a message is queued and again when it leaves (the contact may have opted out
        meanwhile): the configuration is one of the contact's company, the contact did not opt out
        of the channel (except for the one confirmation of an opt-out) and, for ``marketing``
        (campaigns), gave marketing consent on it, has a number for it; on WhatsApp, free text and
        interactive messages stay inside the 24 h window (a template is needed then); an SMS ``text``
        stays within the configured number of segments.
        """
        self.ensure_one()
        contact = self.contact_id
        if not config:
            return self.env._("No %(channel)s provider is configured.", channel=self.channel)
        if self.company_id and config.company_id != self.company_id:  # the contact's, stored: no read of it
            return self.env._(
                "%(config)s belongs to another company than %(contact)s.",
                config=config.display_name,
                contact=contact.display_name,
            )
        if not confirmation and not contact._is_opted_in(self.channel):
            return self.env._(
                "%(contact)s opted out of %(channel)s.", contact=contact.display_name, channel=self.channel
            )
        if marketing and not contact._is_opted_in(self.channel, "marketing"):
            return self.env._(
                "%(contact)s has not given marketing consent on %(channel)s.",
                contact=contact.display_name,
                channel=self.channel,
            )
        if not contact._number_for(self.channel):
            if contact.sender_kind in ("short_code", "alphanumeric"):
                return self.env._(
                    "%(contact)s writes from %(sender)s, a short code or sender name: it cannot be replied to.",
                    contact=contact.display_name,
                    sender=contact.sender_ref,
                )
            return self.env._(
                "%(contact)s has no number for %(channel)s.", contact=contact.display_name, channel=self.channel
            )
        segments = sms_info(text).segments if self.channel == "sms" and text else 0
        if segments > self._sms_max_segments():
            return self.env._(
                "This SMS would be sent in %(segments)s parts: at most %(max)s are allowed. Shorten it.",
                segments=segments,
                max=self._sms_max_segments(),
            )
        if self.channel == "whatsapp" and not template and not self._window_open():
            return self.env._(
                "The WhatsApp conversation window is closed (24 hours after the contact's last message): "
                "send an approved template instead."
            )
        return None

    @api.model
    def _sms_max_segments(self):
        """Most segments an outgoing SMS may take (``contact_centre.sms_max_segments``, 10 by default)."""
        return self.env["ir.config_parameter"]._cc_get_int("contact_centre.sms_max_segments", 10) or 10

    def _send_automated(self, **values):
        """Send on behalf of an automation, a chatbot or an opt-out: a message the rules refuse
        (window closed, opted out, no provider) is skipped and noted, never a failed webhook."""
        try:
            with self.env.cr.savepoint():
                return self._send_message(automated=True, **values)
        except UserError as error:
            _logger.info("Automated reply on conversation %s not sent: %s", self.id, error)
            return self.env["contact.centre.message"]

    def _sending_config(self):
        """The configuration replies go through: the conversation's, else the first active one of
        the conversation's company (``_sending_refusal`` says when there is none)."""
        self.ensure_one()
        Config = self.env[
            "contact.centre.whatsapp.config" if self.channel == "whatsapp" else "contact.centre.sms.config"
        ]
        config = self.whatsapp_config_id if self.channel == "whatsapp" else self.sms_config_id
        return config.sudo() or Config.sudo().search([("company_id", "=", self._inbox_company().id)], limit=1)
