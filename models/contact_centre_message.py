import logging
import random
import time
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import psycopg2
from psycopg2.errors import LockNotAvailable, SerializationFailure
from psycopg2.extensions import TRANSACTION_STATUS_INERROR

from odoo import api, fields, models, modules
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, mute_logger
from odoo.tools.misc import _format_time_ago

from ..tools.batch_cache import batch_cache, in_batch, resume_batch
from ..tools.errors import explain
from ..tools.fetch import media_limit
from ..tools.interactive import flow_answers_text, flow_token_of, new_flow_token
from ..tools.orm_cache import cached_values, restore_cached
from ..tools.providers import (
    RECIPIENT,
    UNKNOWN,
    OutboundMessage,
    ProviderError,
    SendResult,
)
from ..tools.sending import SendPipeline, booked, kept, make_reference, parse_reference, sender_process
from ..tools.status import is_forward
from .contact_centre_contact import CHANNELS

_logger = logging.getLogger(__name__)

# Normalised webhook event -> the method of this model that ingests it (others are left alone).
INGESTERS = {
    "InboundMessage": "_ingest_inbound_event",
    "StatusUpdate": "_ingest_status_event",
    "TemplateStatusUpdate": "_ingest_template_status",
    "Reaction": "_ingest_reaction",
    "MessageDeleted": "_ingest_deletion",
    "OutboundEcho": "_ingest_echo",
    "ConsentUpdate": "_ingest_consent",
    "IdentityChange": "_ingest_identity",
    "AccountUpdate": "_ingest_account_update",
    "ContactSync": "_ingest_contact_sync",
}

STATUS_DATE_FIELDS = {"sent": "sent_date", "delivered": "delivered_date", "read": "read_date"}
# What a status update may change on its message (column -> SQL type), for the batched UPDATE.
STATUS_COLUMNS = {
    "status": "varchar",
    "external_message_id": "varchar",
    "sent_date": "timestamp",
    "delivered_date": "timestamp",
    "read_date": "timestamp",
    "error_code": "varchar",
    "error_message": "varchar",
    "pricing_category": "varchar",
    "billable": "boolean",
    "send_claimed_at": "timestamp",
    "unconfirmed_since": "timestamp",
    "needs_review": "boolean",
}
RAISE = object()  # _retrying: raise when the attempts are spent
CLAIM_LOCK_SPACE = 0x43430001  # first key of the advisory locks that mark live sending runs ("CC", 1)

DIRECTIONS = [("inbound", "Inbound"), ("outbound", "Outbound")]

STATUSES = [
    ("queued", "Queued"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("read", "Read"),
    ("failed", "Failed"),
    ("received", "Received"),
]

MESSAGE_TYPES = [
    ("text", "Text"),
    ("template", "Template"),
    ("image", "Image"),
    ("document", "Document"),
    ("audio", "Audio"),
    ("video", "Video"),
    ("sticker", "Sticker"),
    ("location", "Location"),
    ("interactive", "Interactive"),
    ("button", "Button Reply"),
    ("contacts", "Contacts"),
    ("order", "Order"),
    ("unsupported", "Unsupported"),
    ("unknown", "Unknown"),
]

PROVIDERS = [("meta", "Meta Cloud API"), ("twilio", "Twilio"), ("infobip", "Infobip"), ("custom", "Custom HTTP")]


INBOX_MESSAGE_FIELDS = [
    "direction",
    "message_type",
    "body_text",
    "status",
    "message_timestamp",
    "error_code",
    "error_message",
    "error_explanation",
    "needs_review",
    "interactive_payload",
    "attachment_ids",
    "is_automated",
    "author_id",
    "template_id",
    "reactions",
    "is_edited",
    "is_deleted",
    "is_echo",
]


# What an outbound message changes on its conversation and contact (``_touch_latest``).
TOUCHED_THREAD_FIELDS = ["last_message_date", "last_message_preview"]
TOUCHED_CONTACT_FIELDS = ["last_outbound_date", "last_message_date"]

RECORD_ATTEMPTS = 20  # tries to record a turn's provider answers, each in a new snapshot
KEEP_SECONDS = 1.0  # how long a sending run keeps in cache, across its commits, the settings it reads every turn

# Kinds of events that never make or change a contact: a batch of only these may create the new
# senders of its inbound messages before ingesting them (``InboundLookups._create_senders``).
LEAVES_CONTACTS = {"InboundMessage", "StatusUpdate", "TemplateStatusUpdate", "Reaction", "MessageDeleted"}


class InboundLookups:
    """What the inbound messages of a batch of webhook requests need looked up, looked up at once:
    which of them are stored already (and the messages they reply to), their senders' contacts
    and those contacts' conversations. It answers only for what it looked up or saw created, and
    only positively for contacts and conversations (another kind of event of the batch may create
    them: a miss is looked up as before); what an event that failed added is forgotten (its
    savepoint undid it)."""

    def __init__(self, env, requests):
        self.env = env
        self._stored = {}  # (config key, provider message id) -> message id, or None when not stored
        self._contacts = {}  # (company id, "phone"|"ref", sender) -> contact id
        self._threads = {}  # (contact id, channel) -> thread id
        # (config key, provider message id) -> (the event, the id of its message stored with the
        # batch's others): that event's own, a copy of it later in the batch is a duplicate
        self._together = {}
        self._journal = []  # (dictionary, key) added since start()
        inbound = {}
        for config, events in requests:
            for event in events:
                if type(event).__name__ == "InboundMessage" and not event.edited_of:
                    inbound.setdefault(config, []).append(event)
        # New senders are created up front, together, unless an event of the batch may make or
        # change a contact before their message comes (then each is made in its turn).
        self._creates_senders = {type(e).__name__ for _c, events in requests for e in events} <= LEAVES_CONTACTS
        if inbound:
            self._look_up(inbound)

    @staticmethod
    def _config_key(config):
        return (config._name, config.id)

    def _look_up(self, inbound):
        Message = self.env["contact.centre.message"]
        Message.flush_model(["external_message_id", "provider", "whatsapp_config_id", "sms_config_id"])
        by_company = {}
        for config, events in inbound.items():
            key = self._config_key(config)
            external_ids = {e.provider_message_id for e in events} | {
                e.reply_to_provider_id for e in events if e.reply_to_provider_id
            }
            external_ids.discard(None)
            for external_id in external_ids:
                self._stored[key, external_id] = None
            rows = self.env.execute_query(
                SQL(
                    """SELECT external_message_id, id FROM contact_centre_message
                        WHERE external_message_id = ANY(%s::varchar[]) AND provider = %s AND %s = %s""",
                    sorted(external_ids),
                    config._provider_name(),
                    SQL.identifier(config._message_config_field()),
                    config.id,
                )
            )
            self._stored.update(((key, external_id), message_id) for external_id, message_id in rows)
            by_company.setdefault(config.company_id, []).extend(events)
        contacts = self.env["contact.centre.contact"]
        for company, events in by_company.items():
            Contact = contacts.with_company(company)
            phones = sorted({e.sender for e in events if e.sender_kind == "phone" and e.sender})
            refs = sorted({e.user_id or e.sender for e in events if e.sender_kind != "phone"} - {None, ""})
            # As Contact._find_by_sender: by WhatsApp number, then SMS number, then the partner's phone;
            # the first in the contacts' order.
            for field in ("whatsapp_number", "sms_number", "phone"):
                missing = [phone for phone in phones if (company.id, "phone", phone) not in self._contacts]
                if not missing:
                    break
                for contact in Contact.search([("company_id", "=", company.id), (field, "in", missing)]):
                    self._contacts.setdefault((company.id, "phone", contact[field]), contact.id)
            if refs:
                for contact in Contact.search([("company_id", "=", company.id), ("sender_ref", "in", refs)]):
                    self._contacts.setdefault((company.id, "ref", contact.sender_ref), contact.id)
            if self._creates_senders:
                self._create_senders(Contact, company, events)
        contact_ids = set(self._contacts.values())
        if contact_ids:
            # Their companies (their partners'), which each message stores: read at once, not one by one.
            contacts.browse(sorted(contact_ids)).mapped("company_id")
            channels = sorted({e.channel for events in inbound.values() for e in events})
            threads = self.env["contact.centre.thread"].search(
                [("contact_id", "in", sorted(contact_ids)), ("channel", "in", channels)], order="id"
            )
            for thread in threads:
                self._threads.setdefault((thread.contact_id.id, thread.channel), thread.id)

    def _create_senders(self, Contact, company, events):
        """The contacts of the phone numbers writing for the first time, made together (as
        ``_find_or_create_from_inbound`` would make them one by one, from each one's first message)."""
        first = {}
        for event in events:
            key = (company.id, "phone", event.sender)
            if event.sender_kind == "phone" and event.sender and key not in self._contacts:
                first.setdefault(event.sender, event)
        if first:
            created = Contact._create_from_inbound(list(first.values()))
            for sender, contact in zip(first, created, strict=True):
                self._contacts[company.id, "phone", sender] = contact.id

    def _contact_key(self, config, event):
        if event.sender_kind == "phone":
            return (config.company_id.id, "phone", event.sender)
        return (config.company_id.id, "ref", event.user_id or event.sender)

    def _add(self, dictionary, key, value):
        if dictionary.get(key) != value:
            self._journal.append((dictionary, key, dictionary.get(key, _MISSING)))
            dictionary[key] = value

    def start(self):
        """An event begins: what it adds is forgotten by undo()."""
        self._journal = []

    def undo(self):
        """The event failed, its savepoint rolled back: forget what it added."""
        for dictionary, key, before in reversed(self._journal):
            if before is _MISSING:
                dictionary.pop(key, None)
            else:
                dictionary[key] = before
        self._journal = []

    def is_stored(self, config, external_id):
        """True when stored, False when looked up and not stored, None when not looked up."""
        key = (self._config_key(config), external_id)
        return None if key not in self._stored else self._stored[key] is not None

    def message_id(self, config, external_id):
        return self._stored.get((self._config_key(config), external_id))

    def stored(self, config, external_id, message_id):
        self._add(self._stored, (self._config_key(config), external_id), message_id)

    def contact(self, config, event):
        """The sender's contact, found as ``_find_or_create_from_inbound`` would (with the ad that
        brought them when they have none yet), or None when not known here."""
        contact_id = self._contacts.get(self._contact_key(config, event))
        if not contact_id:
            return None
        contact = self.env["contact.centre.contact"].with_company(config.company_id).browse(contact_id)
        contact._note_referral(event)
        return contact

    def thread(self, contact, channel):
        thread_id = self._threads.get((contact.id, channel))
        return self.env["contact.centre.thread"].browse(thread_id) if thread_id else None

    def remember(self, config, event, contact, thread):
        self._add(self._contacts, self._contact_key(config, event), contact.id)
        self._add(self._threads, (contact.id, thread.channel), thread.id)

    def together(self, requests):
        """[(config, event, contact)]: the inbound messages of ``requests`` that may be stored with
        the others of the batch, before any event is ingested (``_store_inbound_together``): when no
        event of the batch may make or change a contact, for senders known or just created, each
        provider id once, neither stored already nor replying to a message of the same batch
        (whose id is not known before it is stored), not from a synchronised history (which opens
        no window)."""
        if not self._creates_senders:
            return []
        batch_ids = {
            e.provider_message_id
            for _config, events in requests
            for e in events
            if type(e).__name__ == "InboundMessage"
        }
        items, seen = [], set()
        for config, events in requests:
            for event in events:
                if type(event).__name__ != "InboundMessage":
                    continue
                key = (self._config_key(config), event.provider_message_id)
                if (
                    event.edited_of
                    or event.from_history
                    or key in seen
                    or self.is_stored(config, event.provider_message_id) is not False
                    or event.reply_to_provider_id in batch_ids
                ):
                    continue
                contact = self.contact(config, event)
                if contact:
                    seen.add(key)
                    items.append((config, event, contact))
        return items

    def threads_of(self, pairs):
        """{(contact id, channel): thread} for [(contact, channel)], the missing conversations
        created together (assigned to the contact's agent, as ``thread._get_or_create`` does).
        Not remembered: ``stored_together`` does, once everything is written."""
        Thread = self.env["contact.centre.thread"]
        missing = {}
        for contact, channel in pairs:
            if (contact.id, channel) not in self._threads:
                missing.setdefault((contact.id, channel), contact)
        created = Thread.sudo().create(
            [
                {"contact_id": contact_id, "channel": channel, "assigned_agent_id": contact.assigned_agent_id.id}
                for (contact_id, channel), contact in missing.items()
            ]
        )
        threads = {key: Thread.browse(thread_id) for key, thread_id in self._threads.items()}
        threads.update(zip(missing, created.with_env(self.env), strict=True))
        return threads

    def stored_together(self, items, messages):
        """``messages`` were stored for ``items`` [(config, event, contact)] (in their order)."""
        for (config, event, contact), message in zip(items, messages, strict=True):
            key = (self._config_key(config), event.provider_message_id)
            self._stored[key] = message.id
            self._together[key] = (event, message.id)
            self._threads[contact.id, message.channel] = message.thread_id.id

    def take_stored_together(self, config, event):
        """The message stored for ``event`` with the batch's others, or None (not stored so, or
        ``event`` is a later copy of the one it was stored for: a duplicate)."""
        owner, message_id = self._together.get((self._config_key(config), event.provider_message_id), (None, None))
        return self.env["contact.centre.message"].browse(message_id) if owner is event else None

    def drop_stored_together(self, config, event):
        """``event`` failed: the id of the message stored for it with the batch's others, which
        must go too (the retry of the event stores it again, and runs its rules), or None."""
        key = (self._config_key(config), getattr(event, "provider_message_id", None))
        if self._together.get(key, (None,))[0] is not event:
            return None
        self._stored[key] = None
        return self._together.pop(key)[1]


_MISSING = object()
INBOUND_LOOKUPS = "inbound_lookups"  # key of the batch's InboundLookups in its cache (tools/batch_cache.py)


class ContactCentreMessage(models.Model):
    _name = "contact.centre.message"
    _description = "Contact Centre Message"
    _order = "message_timestamp DESC, id DESC"
    _rec_name = "preview"

    contact_id = fields.Many2one("contact.centre.contact", required=True, ondelete="cascade")
    partner_id = fields.Many2one(related="contact_id.partner_id")
    thread_id = fields.Many2one("contact.centre.thread", "Conversation", ondelete="cascade")
    channel = fields.Selection(CHANNELS, required=True)
    direction = fields.Selection(DIRECTIONS, required=True)
    message_type = fields.Selection(MESSAGE_TYPES, "Type", required=True, default="text")
    body_text = fields.Text("Text")
    body_html = fields.Html("Body", sanitize=True)
    preview = fields.Char(compute="_compute_preview")
    status = fields.Selection(STATUSES, required=True, default="queued", index=False)
    provider = fields.Selection(PROVIDERS)
    external_message_id = fields.Char("Provider Message ID", copy=False, readonly=True)
    campaign_id = fields.Many2one("contact.centre.campaign", ondelete="set null", index="btree_not_null")
    template_id = fields.Many2one("contact.centre.template", ondelete="restrict")
    assigned_agent_id = fields.Many2one(related="thread_id.assigned_agent_id", store=True, index="btree_not_null")
    author_id = fields.Many2one("res.users", "Sent By", readonly=True, help="The agent who wrote an outbound message.")
    is_automated = fields.Boolean("Automated", readonly=True, help="Sent by an automation, a chatbot or a campaign.")
    is_opt_confirmation = fields.Boolean(
        "Opt-out Confirmation", readonly=True, help="The one message confirming an opt-out, sent on the channel left."
    )
    parent_message_id = fields.Many2one("contact.centre.message", "Reply To", ondelete="set null")
    reply_to_external_id = fields.Char("Reply To (Provider ID)", readonly=True)
    message_timestamp = fields.Datetime("Time", required=True, default=fields.Datetime.now)
    sent_date = fields.Datetime(readonly=True)
    delivered_date = fields.Datetime(readonly=True)
    read_date = fields.Datetime(readonly=True)
    error_code = fields.Char(readonly=True)
    error_message = fields.Char("Error", readonly=True, help="The provider's own text, as it answered.")
    error_explanation = fields.Char(
        "What Happened", compute="_compute_error_explanation", help="The failure in words, and what to do about it."
    )
    attachment_ids = fields.Many2many("ir.attachment", string="Attachments")
    interactive_payload = fields.Json("Interactive Payload", readonly=True)
    flow_token = fields.Char(
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="WhatsApp Flows: the token a flow message was sent with, or that the customer's answers brought "
        "back; it links the answers to the flow message (in the same conversation only).",
    )
    details = fields.Json(
        readonly=True,
        help="What the message carried besides text: location, shared contacts, order, ad referral, "
        "forwarding, WhatsApp's errors for unsupported content.",
    )
    reactions = fields.Json(readonly=True, help="Emoji put on this message: {customer|business: emoji}.")
    edit_history = fields.Json(readonly=True, help="Earlier texts of an edited message, oldest first.")
    is_edited = fields.Boolean("Edited", readonly=True)
    is_deleted = fields.Boolean("Deleted", readonly=True, help="Deleted for everyone by the one who sent it.")
    pricing_category = fields.Char(
        "Pricing Category", readonly=True, help="How the provider charges this message (Meta: marketing, utility...)."
    )
    billable = fields.Boolean(readonly=True, help="The provider charges this message.")
    is_echo = fields.Boolean(
        "Sent From the App", readonly=True, help="Sent from the WhatsApp Business app or a linked device."
    )
    whatsapp_config_id = fields.Many2one("contact.centre.whatsapp.config", "WhatsApp Number", ondelete="set null")
    sms_config_id = fields.Many2one("contact.centre.sms.config", "SMS Provider", ondelete="set null")
    # Precomputed: in the INSERT, not in an UPDATE after it (one query less per message ingested).
    company_id = fields.Many2one(related="contact_id.company_id", store=True, precompute=True)
    template_values = fields.Json(
        "Template Values", readonly=True, help="Placeholder -> value, as sent (WhatsApp templates)."
    )
    send_claimed_at = fields.Datetime(
        "Handed Over At",
        readonly=True,
        copy=False,
        help="Set, and committed, just before the message is handed to the provider. A queued message that "
        "keeps it after its sending process died is unconfirmed: the provider's callbacks settle it.",
    )
    send_claim_token = fields.Integer(
        readonly=True, copy=False, help="The sending run that claimed it (the key of its advisory lock)."
    )
    unconfirmed_since = fields.Datetime(
        "Unconfirmed Since",
        readonly=True,
        copy=False,
        help="Its sending process died before the provider answered: it may or may not have left. The "
        "provider's callback, carrying our reference, settles it; after the configuration's wait without "
        "one, its policy decides (flag for a person, or send again).",
    )
    unconfirmed_for = fields.Char("In Doubt For", compute="_compute_unconfirmed_for")
    needs_review = fields.Boolean(
        readonly=True,
        copy=False,
        help="Unconfirmed for longer than its configuration waits, with no word from the provider: a person "
        "decides whether to send it again.",
    )

    _external_message_config_uniq = models.UniqueIndex(
        "(external_message_id, provider, COALESCE(whatsapp_config_id, 0), COALESCE(sms_config_id, 0))"
        " WHERE external_message_id IS NOT NULL",
        "A provider message can be stored only once per account.",
    )
    _contact_channel_direction_idx = models.Index("(contact_id, channel, direction)")
    _status_timestamp_idx = models.Index("(status, message_timestamp)")
    _thread_timestamp_idx = models.Index("(thread_id, message_timestamp DESC, id DESC)")
    _send_queue_idx = models.Index("(id) WHERE status = 'queued' AND direction = 'outbound'")
    # The replies since a campaign was made, for its statistics (contact_centre.campaign).
    _inbound_timestamp_idx = models.Index("(message_timestamp) WHERE direction = 'inbound'")
    _claimed_idx = models.Index("(send_claim_token) WHERE status = 'queued' AND send_claimed_at IS NOT NULL")

    @api.depends("unconfirmed_since")
    def _compute_unconfirmed_for(self):
        now = fields.Datetime.now()
        for message in self:
            message.unconfirmed_for = (
                _format_time_ago(self.env, now - message.unconfirmed_since, add_direction=False)
                if message.unconfirmed_since and message.status == "queued"
                else False
            )

    @api.depends("body_text", "message_type")
    def _compute_preview(self):
        for message in self:
            message.preview = self._preview_of(message.body_text, message.message_type)

    @api.model
    def _preview_of(self, text, message_type):
        """A message's one-line preview: its text, or its kind when it has none."""
        text = (text or "").strip().replace("\n", " ")
        return text[:80] if text else f"[{dict(MESSAGE_TYPES).get(message_type, '')}]"

    @api.depends("status", "provider", "error_code")
    def _compute_error_explanation(self):
        for message in self:
            if message.status == "failed":
                explanation = explain(message.provider, message.error_code)
                message.error_explanation = f"{explanation.what} {explanation.todo}"
            else:
                message.error_explanation = False

    @api.model_create_multi
    def create(self, vals_list):
        # A flow message's token, kept in a column of its own: the customer's answers are found by it.
        for vals in vals_list:
            if vals.get("interactive_payload") and not vals.get("flow_token"):
                vals["flow_token"] = flow_token_of(vals["interactive_payload"]) or False
        return super().create(vals_list)

    @api.model
    def _pricing_summaries(self, field_name, ids):
        """{record id: "marketing 120 (118 billable), utility 3"}: what the provider charged the
        messages of each campaign or conversation ``ids`` (``field_name`` of the message), by
        pricing category, in one grouped query."""
        groups = self.sudo()._read_group(
            [(field_name, "in", ids), ("direction", "=", "outbound"), ("pricing_category", "!=", False)],
            [field_name, "pricing_category", "billable"],
            ["__count"],
        )
        counts = {}
        for record, category, billable, count in groups:
            total, charged = counts.setdefault(record.id, {}).get(category, (0, 0))
            counts[record.id][category] = (total + count, charged + (count if billable else 0))
        return {
            record_id: ", ".join(
                self.env._(
                    "%(category)s %(total)s (%(billable)s billable)", category=category, total=total, billable=charged
                )
                for category, (total, charged) in sorted(by_category.items())
            )
            for record_id, by_category in counts.items()
        }

    def _provider_config(self):
        """The configuration record this message goes or came through."""
        self.ensure_one()
        return self.whatsapp_config_id if self.channel == "whatsapp" else self.sms_config_id

    # Ingestion of webhooks

    @api.model
    def _ingest_events(self, config, events):
        """Store what one webhook request carried, each event in its own savepoint: inbound
        messages (each at most once, then their rules), status updates (never backwards),
        reactions, edits, deletions, messages sent from the WhatsApp Business app, consent and
        identity changes, account and template updates. Kinds the product does not handle are
        left alone. Returns [(event, error)] of the events that failed: the others are stored."""
        return self._ingest_batch([(config, events)])[0]

    @api.model
    def _ingest_batch(self, requests):
        """Ingest the events of several webhook requests, ``[(config, events)]`` in the order they
        came, sharing what a batch allows. Returns, for each request, [(event, error)] of its
        events that failed (in their order): every other event is stored, a failure fails alone.

        - Status updates are applied together, per configuration (``_ingest_statuses``): one
          locked SELECT of their messages, the statuses folded in Python, one UPDATE. They only
          ever change outbound messages that the other kinds do not read, so they are applied
          after them (a status that follows the echo creating its message finds it). Should the
          batch fail, they are applied again one by one, each in its own savepoint.
        - Inbound messages: their duplicates, contacts and conversations are looked up for the
          whole batch first (``InboundLookups``), and, where nothing else in the batch may change
          their contacts, stored together and registered on their conversations in one savepoint
          (``_store_inbound_together``); then each one's rules run (each is stored first if it
          was not), in its own savepoint, in order with the other kinds (a reaction or an edit
          after the message it is about). What the rules look up that the batch does not change
          (keyword campaigns, automations, scripts, agents, the conversations without a running
          chatbot) is looked up once per batch (``tools/batch_cache.py``).
        - Every other kind is ingested alone, in order, in its own savepoint.
        """
        failures = [[] for _request in requests]
        statuses = {}  # config -> [(request index, position, event)]
        with batch_cache(self.env) as cache:
            lookups = cache[INBOUND_LOOKUPS] = InboundLookups(self.env, requests)
            self._store_inbound_together(lookups, lookups.together(requests))
            # The conversations the batch knows: their running chatbots are looked up at once.
            cache["inbound_thread_ids"] = set(lookups._threads.values())
            changed = self._ingest_in_order(requests, cache, statuses, failures)
        for config, items in statuses.items():
            try:
                with self.env.cr.savepoint():
                    changed |= self._ingest_statuses(config, [event for _index, _position, event in items])
                continue
            except psycopg2.extensions.TransactionRollbackError:
                raise
            except Exception:  # noqa: BLE001 - then one by one, so that only the broken one fails
                _logger.warning("Status updates of %s not ingested together: one by one", config, exc_info=True)
            for index, position, event in items:
                try:
                    with self.env.cr.savepoint():
                        changed |= self._ingest_status(config, event) or self.browse()
                except psycopg2.extensions.TransactionRollbackError:
                    raise
                except Exception as error:  # noqa: BLE001 - kept with its error for a retry
                    _logger.exception("Webhook event StatusUpdate could not be ingested")
                    failures[index].append((position, event, error))
        changed._notify_inbox()
        return [
            [(event, error) for _position, event, error in sorted(failed, key=lambda f: f[0])] for failed in failures
        ]

    @api.model
    def _ingest_in_order(self, requests, cache, statuses, failures):
        """The events of ``requests`` but status updates (gathered in ``statuses``), in order,
        each in its own savepoint, with the batch's ``cache``; ``failures`` gets those that
        failed. Returns what changed."""
        changed = self.browse()
        lookups = cache[INBOUND_LOOKUPS]
        for index, (config, events) in enumerate(requests):
            for position, event in enumerate(events):
                resume_batch(self.env, cache)
                kind = type(event).__name__
                if kind == "StatusUpdate":
                    statuses.setdefault(config, []).append((index, position, event))
                    continue
                handler = getattr(self, INGESTERS.get(kind, ""), None)
                if handler is None:
                    _logger.info("Webhook event %s left alone: %s", kind, getattr(event, "reason", ""))
                    continue
                lookups.start()
                try:
                    with self.env.cr.savepoint():
                        changed |= handler(config, event) or self.browse()
                except psycopg2.extensions.TransactionRollbackError:
                    raise  # a conflict with a concurrent run: the whole batch is taken again
                except psycopg2.errors.UniqueViolation as error:
                    lookups.undo()
                    self._drop_stored_together(lookups, config, event)
                    if kind == "InboundMessage" and self._is_duplicate_inbound(error):
                        _logger.info("Duplicate inbound message %s ignored", event.provider_message_id)
                        continue
                    _logger.exception("Webhook event %s could not be ingested", kind)
                    failures[index].append((position, event, error))
                except Exception as error:  # noqa: BLE001 - kept with its error for a retry; its neighbours go through
                    _logger.exception("Webhook event %s could not be ingested", kind)
                    failures[index].append((position, event, error))
                    lookups.undo()
                    self._drop_stored_together(lookups, config, event)
        return changed

    @api.model
    def _store_inbound_together(self, lookups, items):
        """Store the inbound messages ``items`` [(config, event, contact)] in one ``create``, their
        missing conversations made together, and bring their conversations and contacts up to
        date in one flush: the ORM's per-record work and one flush per message cost a burst of
        replies more than its rules. In one savepoint: should it fail (another run stored one of
        them, or made one of the conversations, meanwhile), each is stored in its turn, as
        before. Each one's rules still run in its turn (``_ingest_inbound_event``), seeing the
        conversation as the whole batch left it; a message whose rules fail is removed again
        (``_drop_stored_together``)."""
        if not items:
            return
        try:
            with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                threads = lookups.threads_of([(contact, event.channel) for _config, event, contact in items])
                messages = self.create(
                    [
                        self._inbound_values(config, event, contact, threads[contact.id, event.channel], lookups)
                        for config, event, contact in items
                    ]
                )
                self.env["contact.centre.thread"]._register_inbound(
                    [(message, config) for (config, _event, _contact), message in zip(items, messages, strict=True)]
                )
        except psycopg2.extensions.TransactionRollbackError:
            raise
        except Exception:  # noqa: BLE001 - then one by one, as each event comes
            _logger.info("Inbound messages of the batch not stored together: one by one", exc_info=True)
            return
        lookups.stored_together(items, messages)

    def _drop_stored_together(self, lookups, config, event):
        """``event`` failed, its savepoint rolled back: the message stored for it with the batch's
        others goes too, so that nothing of it is left when the event is retried."""
        message_id = lookups.drop_stored_together(config, event)
        if message_id:
            with self.env.cr.savepoint():
                self.browse(message_id).unlink()

    def _is_duplicate_inbound(self, error):
        """Whether ``error`` is the unique index on the provider's message id refusing a message
        stored meanwhile by another transaction (see ``_ingest_inbound``)."""
        return error.diag.constraint_name == f"{self._table}_external_message_config_uniq"

    @api.model
    def _ingest_inbound_event(self, config, event):
        if event.edited_of:
            return self._ingest_edit(config, event)
        lookups = (in_batch(self.env) or {}).get(INBOUND_LOOKUPS)  # the batch's, set by _ingest_batch
        message = self._ingest_inbound(config, config._provider_name(), event, lookups=lookups)
        if message and not event.from_history:
            message._dispatch_inbound()
        return message

    @api.model
    def _ingest_status_event(self, config, event):
        return self._ingest_status(config, event)

    @api.model
    def _ingest_template_status(self, config, event):
        """Meta's review of a template: its status and reason, on the template."""
        self.env["contact.centre.template"]._apply_template_status(config, event)

    @api.model
    def _ingest_edit(self, config, event):
        """A customer edited a message: the new text replaces it, the old one is kept."""
        message = self._find_by_external_id(config, event.edited_of)
        if message:
            message.write(
                {
                    "edit_history": [*(message.edit_history or []), message.body_text or ""],
                    "body_text": event.text,
                    "is_edited": True,
                }
            )
        return message

    @api.model
    def _ingest_reaction(self, config, event):
        """An emoji put on (or taken off) one of the conversation's messages, by the customer or
        from the WhatsApp Business app."""
        message = self._find_by_external_id(config, event.reaction_to) if event.reaction_to else self.browse()
        if message:
            side = "business" if event.direction == "outbound" else "customer"
            reactions = dict(message.reactions or {})
            if event.removed or not event.emoji:
                reactions.pop(side, None)
            else:
                reactions[side] = event.emoji
            message.reactions = reactions or False
        return message

    @api.model
    def _ingest_deletion(self, config, event):
        message = self._find_by_external_id(config, event.provider_message_id)
        message.is_deleted = True
        return message

    @api.model
    def _ingest_echo(self, config, event):
        """A message our number sent from the WhatsApp Business app (coexistence): shown in the
        conversation as outbound, never sent again."""
        if self._find_by_external_id(config, event.provider_message_id):
            return self.browse()
        recipient = SimpleNamespace(
            sender=event.recipient,
            sender_kind=event.recipient_kind,
            user_id=event.recipient_user_id,
            profile_name=None,
            channel=event.channel,
        )
        contact = (
            self.env["contact.centre.contact"].with_company(config.company_id)._find_or_create_from_inbound(recipient)
        )
        thread = self.env["contact.centre.thread"]._get_or_create(contact, event.channel)
        message = self.create(
            {
                "contact_id": contact.id,
                "thread_id": thread.id,
                "channel": event.channel,
                "direction": "outbound",
                "status": "sent",
                "provider": config._provider_name(),
                "external_message_id": event.provider_message_id,
                "message_type": event.message_type if event.message_type in dict(MESSAGE_TYPES) else "unknown",
                "body_text": event.text,
                "message_timestamp": self._event_time(event),
                "is_echo": True,
                config._message_config_field(): config.id,
            }
        )
        if not event.from_history:
            message._touch_conversations()
        return message

    @api.model
    def _ingest_consent(self, config, event):
        """A customer stopping or resuming marketing messages from inside WhatsApp."""
        contact = self._event_contact(config, event)
        if contact:
            contact._set_opt_in(event.channel, event.granted, "provider", purposes=(event.purpose,), note=event.detail)

    @api.model
    def _ingest_identity(self, config, event):
        """The customer's phone, device or WhatsApp identity changed: flagged for the agent."""
        contact = self._event_contact(config, event)
        if contact:
            contact.identity_changed_date = self._event_time(event)
            contact.message_post(
                body=self.env._(
                    "The customer's identity changed (%(kind)s%(new)s): check it is still them before sharing anything personal.",
                    kind=event.kind.replace("_", " "),
                    new=f": {event.new_sender}" if event.new_sender else "",
                )
            )

    @api.model
    def _ingest_account_update(self, config, event):
        """Quality, limits, template category and account problems: visible on the configuration; a
        WhatsApp number's quality rating, messaging limit and restrictions are kept on it."""
        parts = [event.kind.replace("_", " "), event.event, event.template_name, event.error_code, event.error_title]
        config.message_post(body=self.env._("Provider update: %(what)s", what=" - ".join(p for p in parts if p)))
        # A template's quality score or category, on the template.
        self.env["contact.centre.template"]._apply_template_update(config, event)
        if config._name == "contact.centre.whatsapp.config":
            config._apply_account_update(event)

    @api.model
    def _ingest_contact_sync(self, config, event):
        """A contact added in the WhatsApp Business app's address book (coexistence): known here
        too, with its name. A removal there deletes nothing here."""
        if event.action != "add" or not event.phone:
            return
        Contact = self.env["contact.centre.contact"].with_company(config.company_id)
        contact = Contact._find_by_sender(event.phone, event.phone_kind, event.user_id)
        name = event.name or event.first_name
        if contact and name and contact.name in (contact.whatsapp_number, contact.sender_ref):
            contact.name = name
        elif not contact:
            sender = SimpleNamespace(
                sender=event.phone,
                sender_kind=event.phone_kind,
                user_id=event.user_id,
                profile_name=name,
                channel="whatsapp",
            )
            Contact._find_or_create_from_inbound(sender)

    @api.model
    def _event_contact(self, config, event):
        """The existing contact, in ``config``'s company, an event about a person names."""
        Contact = self.env["contact.centre.contact"].with_company(config.company_id)
        return Contact._find_by_sender(event.sender, event.sender_kind, event.user_id)

    @staticmethod
    def _event_time(event):
        """When an event happened (naive UTC, as Odoo stores it), else now."""
        return (
            fields.Datetime.to_datetime(event.timestamp.replace(tzinfo=None))
            if event.timestamp
            else fields.Datetime.now()
        )

    @api.model
    def _find_by_external_id(self, config, external_id):
        """The message ``config``'s provider knows as ``external_id``: provider ids are unique per
        account only, and an account's webhook must never reach another account's messages."""
        return self.search(
            [
                ("external_message_id", "=", external_id),
                ("provider", "=", config._provider_name()),
                (config._message_config_field(), "=", config.id),
            ],
            limit=1,
        )

    @api.model
    def _ingest_inbound(self, config, provider, event, lookups=None):
        """The new message for ``event``, or nothing when it was already stored.

        The unique index on (external_message_id, provider, configuration) is the guard: when two
        workers store the same retried event at once, the second insert fails on it and is taken
        as a duplicate. The contact is looked up, or created, in the configuration's company.
        ``lookups`` (``InboundLookups``) holds what the batch looked up at once: the messages
        already stored, contacts and conversations; what it does not know is looked up here.
        """
        lookups = lookups or InboundLookups(self.env, [])
        message = lookups.take_stored_together(config, event)
        if message:  # stored with the batch's others, and registered on its conversation
            message._store_inbound_media(config, event)
            return message
        stored = lookups.is_stored(config, event.provider_message_id)
        if stored or (stored is None and self._find_by_external_id(config, event.provider_message_id)):
            return self.browse()
        contact = lookups.contact(config, event) or self.env["contact.centre.contact"].with_company(
            config.company_id
        )._find_or_create_from_inbound(event)
        thread = lookups.thread(contact, event.channel) or self.env["contact.centre.thread"]._get_or_create(
            contact, event.channel
        )
        lookups.remember(config, event, contact, thread)
        values = self._inbound_values(config, event, contact, thread, lookups)
        if stored is False:
            # Looked up by the batch: a message another transaction stores meanwhile makes the
            # insert fail on the index, and the batch takes the event as a duplicate
            # (``_ingest_in_order``): no savepoint of its own, two queries less per message.
            with mute_logger("odoo.sql_db"):
                message = self.create(values)
        else:
            try:
                with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                    message = self.create(values)
            except psycopg2.errors.UniqueViolation:
                _logger.info("Duplicate inbound message %s from %s ignored", event.provider_message_id, provider)
                return self.browse()
        lookups.stored(config, event.provider_message_id, message.id)
        message._store_inbound_media(config, event)
        if not event.from_history:  # synchronised history: already answered, opens no window
            self.env["contact.centre.thread"]._register_inbound([(message, config)])
        return message

    def _inbound_values(self, config, event, contact, thread, lookups):
        """The values of the message storing inbound ``event`` of ``contact`` in ``thread``."""
        return {
            "contact_id": contact.id,
            "thread_id": thread.id,
            "channel": event.channel,
            "direction": "inbound",
            "status": "received",
            "provider": config._provider_name(),
            "external_message_id": event.provider_message_id,
            "message_type": event.message_type,
            "body_text": event.text,
            "message_timestamp": self._event_time(event),
            "reply_to_external_id": event.reply_to_provider_id,
            "parent_message_id": event.reply_to_provider_id
            and (
                lookups.message_id(config, event.reply_to_provider_id)
                or self._find_by_external_id(config, event.reply_to_provider_id).id
            ),
            "interactive_payload": self._interactive_payload(event),
            **self._flow_reply_values(thread, event),
            "details": self._inbound_details(event),
            config._message_config_field(): config.id,
        }

    def _flow_reply_values(self, thread, event):
        """A Flow's answers (``nfm_reply``): shown as ``Label: value`` lines, linked to the flow message
        of the same conversation sent with the same token; a token of another conversation links nothing."""
        if event.flow_response is None and not event.flow_token:
            return {}
        values = {"body_text": flow_answers_text(event.flow_response) or event.text}
        if event.flow_token:
            values["flow_token"] = event.flow_token
            asked = self.search(
                [("flow_token", "=", event.flow_token), ("thread_id", "=", thread.id), ("direction", "=", "outbound")],
                limit=1,
            )
            if asked:
                values["parent_message_id"] = asked.id
        return values

    @staticmethod
    def _interactive_payload(event):
        payload = {
            "id": event.interactive_id,
            "title": event.interactive_title,
            "flow_token": event.flow_token,
            "flow_response": event.flow_response,
        }
        return {key: value for key, value in payload.items() if value} or False

    @staticmethod
    def _inbound_details(event):
        details = {
            "location": event.location,
            "contacts": list(event.shared_contacts),
            "order": event.order,
            "referral": event.referral,
            "forwarded": "frequently" if event.frequently_forwarded else event.forwarded,
            "errors": list(event.errors),
            "voice": event.voice,
        }
        return {key: value for key, value in details.items() if value} or False

    def _store_inbound_media(self, config, event):
        """Download the media of an inbound message into attachments, within the size limit (the
        ``contact_centre.max_media_bytes`` setting, else WhatsApp's own limit for the kind of media).

        A failed or too large download keeps the message with a note: it never fails the webhook.
        """
        max_bytes = self.env["ir.config_parameter"]._cc_get_int("contact_centre.max_media_bytes", 0) or media_limit(
            self.message_type
        )
        attachments = self.env["ir.attachment"]
        for index, media in enumerate(event.media):
            try:
                content, mime_type, filename = config._download_media(media, max_bytes)
            except ProviderError as error:
                self.error_message = self.env._("Media not stored: %(reason)s", reason=error)
                continue
            # Stored as plain text when it is HTML, SVG or XML: downloaded, never rendered in Odoo's origin.
            attachments |= (
                attachments.sudo()
                .with_context(attachments_mime_plainxml=True)
                .create(
                    {
                        "name": filename or media.filename or f"{self.message_type}-{index + 1}",
                        "raw": content,
                        "mimetype": mime_type or media.mime_type,
                        "res_model": self._name,
                        "res_id": self.id,
                    }
                )
            )
        if attachments:
            self.attachment_ids = [fields.Command.set(attachments.ids)]

    @api.model
    def _ingest_status(self, config, event):
        """Apply a delivery status if it moves the message forward; the row is locked first so that
        two concurrent callbacks cannot move it backwards. Only ``config``'s messages are looked at.

        A message whose send answer never came back (its process died) is found by the reference
        we sent it with: the callback settles it, with the provider's id."""
        message = self._lock_for_status(config, event)
        if not message:
            _logger.debug("Status %s for unknown message %s ignored", event.status, event.provider_message_id)
            return self.browse()
        if not message.external_message_id:
            message.write({"external_message_id": event.provider_message_id})
        if message.send_claimed_at or message.needs_review:
            # The provider's own word: no longer in doubt.
            message.write({"send_claimed_at": False, "unconfirmed_since": False, "needs_review": False})
        if event.pricing_category and not message.pricing_category:
            # What the provider charges for it: kept whatever the order the statuses arrive in.
            message.write({"pricing_category": event.pricing_category, "billable": bool(event.billable)})
        if not is_forward(message.status, event.status):
            return self.browse()
        values = {"status": event.status}
        when = self._event_time(event)
        if event.status in STATUS_DATE_FIELDS:
            values[STATUS_DATE_FIELDS[event.status]] = when
        if event.status == "failed":
            values.update(error_code=event.error_code, error_message=event.error_title or event.error_code)
        elif message.status == "failed":
            values.update(error_code=False, error_message=False)
        message.write(values)
        message._sync_campaign_recipients()
        return message

    @api.model
    def _ingest_statuses(self, config, events):
        """``_ingest_status`` for a batch of ``config``'s status updates, in their order: the same
        outcome, event by event, in three statements whatever their number. One SELECT locks all
        their messages (by provider id, or by our reference for a message without one: see
        ``_lock_for_status``), in the order of their ids so that two runs cannot deadlock; each
        message's statuses are folded here (``is_forward``: never backwards, failed lifted only by
        delivered or read; its date per status reached, the failure's code and text, pricing,
        the doubt of a lost send answer cleared, the provider id of a message found by
        reference); one UPDATE writes what changed. Returns the messages that moved forward."""
        config_field = config._message_config_field()
        namespace = self._reference_namespace()
        references = [parse_reference(event.client_ref, namespace) for event in events]
        external_ids = sorted({event.provider_message_id for event in events if event.provider_message_id})
        self.flush_model([*STATUS_COLUMNS, "provider", "direction", config_field])
        rows = self.env.execute_query(
            SQL(
                """SELECT id, %s FROM contact_centre_message
                    WHERE provider = %s AND %s = %s
                      AND (external_message_id = ANY(%s::varchar[])
                           OR (id = ANY(%s::int[]) AND external_message_id IS NULL AND direction = 'outbound'))
                    ORDER BY id
                      FOR UPDATE""",
                SQL(", ").join(SQL.identifier(column) for column in STATUS_COLUMNS),
                config._provider_name(),
                SQL.identifier(config_field),
                config.id,
                external_ids,
                sorted({reference for reference in references if reference}),
            )
        )
        found = {row[0]: dict(zip(STATUS_COLUMNS, row[1:], strict=True)) for row in rows}
        before = {message_id: dict(values) for message_id, values in found.items()}
        by_external = {
            values["external_message_id"]: mid for mid, values in found.items() if values["external_message_id"]
        }
        forwarded = []
        for event, reference in zip(events, references, strict=True):
            message_id = by_external.get(event.provider_message_id)
            if message_id is None and reference in found and not found[reference]["external_message_id"]:
                message_id = reference
            if message_id is None:
                _logger.debug("Status %s for unknown message %s ignored", event.status, event.provider_message_id)
                continue
            values = found[message_id]
            if not values["external_message_id"] and event.provider_message_id:
                values["external_message_id"] = event.provider_message_id
                by_external[event.provider_message_id] = message_id
            if values["send_claimed_at"] or values["needs_review"]:
                values.update(send_claimed_at=None, unconfirmed_since=None, needs_review=False)
            if event.pricing_category and not values["pricing_category"]:
                values.update(pricing_category=event.pricing_category, billable=bool(event.billable))
            if not is_forward(values["status"], event.status):
                continue
            previous, values["status"] = values["status"], event.status
            if event.status in STATUS_DATE_FIELDS:
                values[STATUS_DATE_FIELDS[event.status]] = self._event_time(event)
            if event.status == "failed":
                values.update(
                    error_code=event.error_code or None, error_message=event.error_title or event.error_code or None
                )
            elif previous == "failed":
                values.update(error_code=None, error_message=None)
            if message_id not in forwarded:
                forwarded.append(message_id)
        updated = [message_id for message_id, values in found.items() if values != before[message_id]]
        if updated:
            # One column of values per field (unnest: a VALUES list in one parameter per column).
            self.env.execute_query(
                SQL(
                    """UPDATE contact_centre_message AS message
                          SET %s, write_uid = %s, write_date = now() AT TIME ZONE 'UTC'
                         FROM unnest(%s::int[], %s) AS batch(id, %s)
                        WHERE message.id = batch.id""",
                    SQL(", ").join(
                        SQL("%s = batch.%s", SQL.identifier(column), SQL.identifier(column))
                        for column in STATUS_COLUMNS
                    ),
                    self.env.uid,
                    updated,
                    SQL(", ").join(
                        SQL("%s::%s[]", [found[message_id][column] for message_id in updated], SQL(sql_type))
                        for column, sql_type in STATUS_COLUMNS.items()
                    ),
                    SQL(", ").join(SQL.identifier(column) for column in STATUS_COLUMNS),
                )
            )
            self.browse(updated).invalidate_recordset([*STATUS_COLUMNS, "write_uid", "write_date"])
        moved = self.browse(forwarded)
        moved._sync_campaign_recipients()
        return moved

    @api.model
    def _lock_for_status(self, config, event):
        """``config``'s message a status event is about, locked: by the provider's id, else by our
        reference when the message has no provider id yet (its send answer was lost)."""
        self.flush_model(["external_message_id", "provider", "direction", config._message_config_field()])
        config_field = SQL.identifier(config._message_config_field())
        rows = self.env.execute_query(
            SQL(
                """SELECT id FROM contact_centre_message
                    WHERE external_message_id = %s AND provider = %s AND %s = %s
                      FOR UPDATE""",
                event.provider_message_id,
                config._provider_name(),
                config_field,
                config.id,
            )
        )
        message_id = parse_reference(event.client_ref, self._reference_namespace())
        if not rows and message_id:
            rows = self.env.execute_query(
                SQL(
                    """SELECT id FROM contact_centre_message
                        WHERE id = %s AND external_message_id IS NULL AND direction = 'outbound'
                          AND provider = %s AND %s = %s
                          FOR UPDATE""",
                    message_id,
                    config._provider_name(),
                    config_field,
                    config.id,
                )
            )
        return self.browse(rows[0][0]) if rows else self.browse()

    @api.model
    def _reference_namespace(self):
        """What tells this database's references from another's on a shared provider account."""
        return (self.env["ir.config_parameter"].sudo().get_param("database.uuid") or "0")[:8].lower()

    # Sending

    def _to_outbound(self):
        """The Odoo-free ``OutboundMessage`` to hand to the provider for this queued message."""
        self.ensure_one()
        config = self._provider_config()
        outbound = OutboundMessage(
            to=self.contact_id._number_for(self.channel),
            channel=self.channel,
            text=self.body_text,
            reply_to=self.parent_message_id.external_message_id or None,
            interactive=self.interactive_payload or None,
            status_callback=config._status_callback_url(),
            client_ref=make_reference(self._reference_namespace(), self.id),
        )
        media = (self.details or {}).get("media") if self.direction == "outbound" else None
        if media and media.get("id"):  # uploaded by the composer (thread._send_message)
            outbound.media_type, outbound.media_id = media["type"], media["id"]
            outbound.filename = media.get("filename")
        elif media and media.get("url") and self.channel == "sms":  # an MMS: the provider downloads the file
            outbound.media_type, outbound.media_url = media["type"], media["url"]
            outbound.filename = media.get("filename")
        if self.channel == "whatsapp" and self.template_id:
            if self.template_id._has_flow_button() and not self.flow_token:
                # A token of its own, given here rather than at creation (campaign messages are
                # inserted in bulk): the claim's commit stores it before the message leaves, so the
                # customer's answers (nfm_reply) find this message by it.
                self.sudo().flow_token = new_flow_token()
            # Every component: header text or media, body variables, URL suffixes, offer code, flow token.
            outbound.template = self.template_id._meta_template_message(
                self.template_values or {}, config, flow_token=self.flow_token or None
            )
            outbound.text = None
        return outbound

    def _apply_send_results(self, results, then=None):
        """Record what the provider answered for each message (``results`` in the order of
        ``self``: a ``SendResult`` or a ``ProviderError`` each). The accepted ones, nearly all of
        them, in one statement: a campaign records thousands a second. ``then``: a statement about
        the accepted ones (a campaign's recipients), sent in the same round trip."""
        accepted = [(m, r) for m, r in zip(self, results, strict=True) if isinstance(r, SendResult)]
        for message, result in zip(self, results, strict=True):
            if not isinstance(result, SendResult):
                message._apply_send_failure(result)
        if accepted:
            self.browse([message.id for message, _result in accepted])._apply_accepted(accepted, then)

    def _apply_accepted(self, accepted, then=None):
        """The provider's ids of ``accepted`` [(message, SendResult)]: sent, unless a status webhook
        already moved the message further (and ``then``, in the same round trip)."""
        self.flush_recordset()
        now = fields.Datetime.now()
        # A status callback ingested meanwhile may have changed these rows since the snapshot: the
        # statement then fails and the answers are recorded again (``_retrying``), no error logged.
        statement = SQL(
            """UPDATE contact_centre_message AS message
                  SET status = CASE WHEN message.status = 'queued' THEN 'sent' ELSE message.status END,
                      external_message_id = accepted.external_id, sent_date = %s, send_claimed_at = NULL,
                      error_code = NULL, error_message = NULL, write_uid = %s, write_date = %s
                 FROM (VALUES %s) AS accepted(id, external_id)
                WHERE message.id = accepted.id""",
            now,
            self.env.uid,
            now,
            SQL(", ").join(SQL("(%s, %s)", message.id, result.provider_message_id) for message, result in accepted),
        )
        self.env.cr.execute(SQL("%s; %s", statement, then) if then else statement, log_exceptions=False)
        self.invalidate_recordset(
            ["status", "external_message_id", "sent_date", "send_claimed_at", "error_code", "error_message"]
        )

    def _apply_send_failure(self, error):
        """A ``ProviderError`` the provider answered for this message: failed, with its reason."""
        self.ensure_one()
        self.write(
            {
                "status": "failed",
                "send_claimed_at": False,
                "error_code": error.code,
                "error_message": str(error)[:250],
            }
        )

    @api.model
    def _send_queued(self):
        """The send queue's cron: hand queued outbound messages to their providers.

        A few at a time are claimed (rows locked with SKIP LOCKED, ``send_claimed_at`` and the run's
        token set) and committed before any provider call, and each answer is recorded as it comes
        back: two workers never take the same message, no transaction waits on a provider, and a
        process killed at any moment leaves in doubt only the requests that were in flight.
        """
        self._settle_abandoned_claims()
        self._send_pipelined(self._claim_queued, self._record_queued)

    @api.model
    def _claim_queued(self, room, token):
        """Claim up to ``room`` queued messages for run ``token``, no more of a configuration than
        it may send in a second; returns (how many were claimed, their hand-overs)."""
        batch = self.search(self._queue_domain(), limit=room, order="id").try_lock_for_update()
        claimed = self.browse()
        for config, messages in batch.grouped(lambda m: m._provider_config()).items():
            claimed |= messages[: max(1, config.rate_limit or 1)]
        outbound = claimed._claim(token)
        refused = claimed.filtered(lambda m: not isinstance(outbound[m], OutboundMessage))
        for message in refused:
            message._apply_send_failure(outbound[message])
        refused._sync_campaign_recipients()
        return len(claimed), (claimed - refused)._hand_overs(outbound)

    @api.model
    def _record_queued(self, answers):
        """Record the provider's answers [(message, result)] of queued messages."""
        messages = self.browse([message.id for message, _result in answers])
        messages._apply_send_results([result for _message, result in answers])
        messages._sync_campaign_recipients()
        messages._notify_inbox()

    def _claim(self, token):
        """Mark these messages handed over by run ``token`` and build what goes to the provider:
        {message: ``OutboundMessage``, or the ``ProviderError`` saying why it may not leave}."""
        self.write({"send_claimed_at": fields.Datetime.now(), "send_claim_token": token})
        return self._outbound_or_refusal()

    def _hand_overs(self, outbound, keys=None):
        """[(key, send, OutboundMessage, book)] of these claimed messages (``keys``: message -> what
        the answer is recorded on, the message itself by default); ``book(count)`` reserves send
        times within the configuration's rate limit (``sending.booked``)."""
        hand_overs = []
        for config, messages in self.grouped(lambda m: m._provider_config()).items():
            send, book = config._get_provider()._send_or_error, config._reserve_send_times
            hand_overs += [((keys or {}).get(m, m), send, outbound[m], book) for m in messages]
        return hand_overs

    @api.model
    def _send_pipelined(self, claim, record, own_process=(), keep=None, unclaimed=None):
        """Keep up to ``contact_centre.max_in_flight`` provider requests in flight, claiming more as
        answers come back; one commit per turn holds what was recorded and what was claimed.

        ``claim(room, token)`` claims at most ``room`` items, marked with this run's ``token``, and
        returns how many it claimed and the hand-overs of those that may leave [(key, send,
        message, book)], their send times booked once committed; ``record(answers)``
        records [(key, result)]. A turn claims while its requests are in flight, then waits for
        the answers that make room for what it claimed: those are recorded, the whole committed,
        and what was claimed handed over at once (the pipeline never waits for a claim, and what
        is in doubt after a crash is still at most what was in flight). Hands over no more than
        the rate limit sends in about a second, booked on a connection the run holds
        (``_bookings_connection``). Reports progress to the cron from the first hand-over, so that
        a host killed again and again never makes Odoo take the cron for a job that times out.
        With ``own_process``, the names of the providers sent through, the requests are made by a
        sender process (``sender_process``; kept idle for the next run a minute, as Odoo's cron jobs of
        ten seconds follow one another): the ORM and the HTTP client then run on two
        cores. ``keep()`` returns the records every turn reads (the campaign, its templates and
        configurations): kept in cache across the turns' commits, read again once a second.
        ``unclaimed()`` is called when the claim made ahead was rolled back (``_record_turn``).
        Stopped by the cron's time with work left, it wakes the cron for the next job.
        """
        limit = self._max_in_flight()
        # Claimed at least per turn: a turn costs some ten round trips to PostgreSQL whatever its
        # size, and the pipeline waits for none of them (bench_dispatch, one after the other: a
        # quarter of the requests in flight sent 7% more than an eighth, a third 3% less; when the
        # claim came after the answers, an eighth had sent 7-8% more than a quarter).
        turn = max(1, limit // 4)
        pipeline = sender_process(limit, prepare=own_process) if own_process else SendPipeline(limit)
        bookings = self.env["contact.centre.provider.mixin"]._bookings_connection()
        with self._claim_token() as token, bookings, kept(pipeline):
            claiming, time_up, ahead_until, kept_until = True, False, 0.0, 0.0
            claimed, hand_overs = 0, []  # claimed in the open transaction: handed over once it is committed
            while claiming or len(pipeline) or hand_overs:
                if hand_overs:
                    answers = pipeline.make_room(len(hand_overs))
                else:  # a turn's worth of answers, or a moment: what falls due meanwhile is claimed then
                    answers = pipeline.collect(timeout=0.05 if claiming else None, at_least=turn)
                if answers and not self._record_turn(record, answers, claim_pending=bool(hand_overs)):
                    claimed, hand_overs = 0, []  # rolled back: claimed again by a later turn
                    if unclaimed:
                        unclaimed()
                keeping = keep is not None and time.monotonic() < kept_until
                if not self._commit_sending(claimed, keep=keep() if keeping else None):
                    claiming = False  # time is up: what is in flight is recorded, nothing more claimed
                    time_up = True
                if not keeping:
                    kept_until = time.monotonic() + KEEP_SECONDS
                for key, send, message, at, book in booked(hand_overs):
                    pipeline.submit(key, send, message, at, book)
                    ahead_until = max(ahead_until, at)
                pipeline.flush()
                # The next claim is made while these requests are in flight, not after their answers.
                claimed, hand_overs = 0, []
                if claiming and ahead_until - time.monotonic() < 1:
                    room = max(pipeline.free, turn)
                    claimed, hand_overs = self._retrying(
                        lambda room=room: claim(room, token), give_up=(None, []), alone=True
                    )
                    # None: another process held what this run would claim; try again next turn.
                    claiming = claimed is None or bool(claimed) or bool(len(pipeline))
                    claimed = claimed or 0
            self._commit_sending(0)
        if time_up:
            self._wake_own_cron()
        if pipeline.rebooked:
            _logger.info("%s messages booked again: their thread woke too late for their time", pipeline.rebooked)

    @api.model
    def _wake_own_cron(self):
        """Run again soon the cron job running this, whose time was up with work left. Odoo
        reschedules such a job, but wakes no cron worker for it (only with
        ``ODOO_NOTIFY_CRON_CHANGES``): the next job would wait for the workers' minute poll (20,000
        campaign recipients through a server's cron: 157 s, two waits of 61 s; 33 s woken)."""
        self.env["ir.cron"].browse(self.env.context["cron_id"])._trigger()

    @api.model
    def _record_turn(self, record, answers, claim_pending):
        """``record(answers)``: False when the claim made ahead (``claim_pending``: the transaction
        holds it and nothing else) had to be rolled back for them, True otherwise.

        The provider's callbacks, ingested meanwhile (maybe by another host), update the same
        messages: answers are tried again, each time in a new transaction, until recorded, never
        given up after a few conflicts (the run would stop and leave what is in flight in doubt).
        Committing the claim before its turn's answers are recorded would leave more than
        ``max_in_flight`` committed as handed over and unanswered (bench_crash counted 101 after a
        kill): on a conflict, the claim is rolled back with the transaction instead (``alone``:
        nothing of it was handed over or booked; its recipients are pending again)."""
        tries = []

        def work():
            tries.append(True)
            record(answers)

        self._retrying(work, attempts=RECORD_ATTEMPTS, alone=claim_pending)
        rolled_back = claim_pending and len(tries) > 1
        if rolled_back:
            _logger.info("A claim was rolled back: its turn's answers met another process's changes")
        return not rolled_back

    @api.model
    def _retrying(self, work, attempts=3, give_up=RAISE, alone=False):
        """``work()`` in a savepoint, tried again in a new transaction when another process changed
        its rows since this transaction's snapshot (Odoo's transactions are REPEATABLE READ: two
        dispatchers, or a dispatcher and the webhook ingestion, meet on the same rows). What this
        transaction did before is committed first. After ``attempts``, ``give_up`` is returned (or
        the error raised). ``alone``: a conflict rolls the whole transaction back, without a
        savepoint (two round trips a turn less): ``work`` is all it holds (a dispatch's claim, right
        after a commit), or what else it holds is to be undone with it (the claim made ahead, when
        a turn's answers are recorded: ``_record_turn``)."""
        conflicts = (SerializationFailure, LockNotAvailable)

        def attempt():
            if alone and not modules.module.current_test:  # a test's work is never alone in its transaction
                try:
                    return work()
                except conflicts:
                    self.env.cr.rollback()
                    raise
            with self.env.cr.savepoint():
                return work()

        for _attempt in range(0 if modules.module.current_test else attempts - 1):
            try:
                return attempt()
            except conflicts:
                self._commit_sending(0)  # a new snapshot, which sees the other process's work
        try:
            return attempt()
        except conflicts:
            if give_up is RAISE:
                raise
            _logger.info("Rows taken by another process: left for the next turn")
            return give_up

    @api.model
    def _commit_sending(self, handed_over, remaining=None, keep=None):
        """Commit (through the cron's progress when run by it: ``handed_over`` done, ``remaining``
        left), then forget the cache of what was committed, so that a long run's memory stays
        flat, except what it holds of the records ``keep``; False when time is up. Not in tests."""
        if modules.module.current_test:
            return True
        more = True
        kept = cached_values(keep or ())
        self.env["contact.centre.campaign.tally"]._fold_now_and_then()
        if self.env.context.get("cron_id"):
            more = self.env["ir.cron"]._commit_progress(handed_over, remaining=remaining) > 0
        else:
            self.env.cr.commit()
        self.env.invalidate_all()
        restore_cached(kept)
        return more

    @api.model
    def _max_in_flight(self):
        return self.env["ir.config_parameter"]._cc_get_int("contact_centre.max_in_flight", 100) or 100

    @api.model
    @contextmanager
    def _claim_token(self):
        """A token that marks this run's claims, alive as long as this database session holds its
        advisory lock: PostgreSQL drops the lock with the session of a process that dies, so any
        other process knows at once which claims have no sender left (``_settle_abandoned_claims``)."""
        cr = self.env.cr
        while True:
            token = random.randint(1, 2**31 - 1)
            cr.execute(SQL("SELECT pg_try_advisory_lock(%s, %s)", CLAIM_LOCK_SPACE, token))
            if cr.fetchone()[0]:
                break
        try:
            yield token
        finally:
            if not modules.module.current_test and cr._cnx.info.transaction_status == TRANSACTION_STATUS_INERROR:
                cr.rollback()  # a failed transaction refuses every statement, the unlock too
            # Never left held: the connection goes back to the pool, and its lock would make this
            # run's claims look alive for as long as the connection lives.
            cr.execute(SQL("SELECT pg_advisory_unlock(%s, %s)", CLAIM_LOCK_SPACE, token))

    @api.model
    def _live_claim_tokens(self):
        rows = self.env.execute_query(
            SQL(
                """SELECT objid::bigint FROM pg_locks
                    WHERE locktype = 'advisory' AND classid = %s AND objsubid = 2 AND granted
                      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())""",
                CLAIM_LOCK_SPACE,
            )
        )
        return [token for (token,) in rows]

    @api.model
    def _settle_abandoned_claims(self):
        """Messages claimed by a run whose process is gone, with no answer recorded, may or may not
        have reached the provider: they become unconfirmed (never sent again by themselves) until
        the provider's callback or the configuration's policy settles them. Their campaign
        recipients follow."""
        self.flush_model(["status", "send_claimed_at", "send_claim_token", "unconfirmed_since"])
        rows = self.env.execute_query(
            SQL(
                """UPDATE contact_centre_message
                      SET unconfirmed_since = (now() AT TIME ZONE 'UTC'), error_message = %s
                    WHERE status = 'queued' AND send_claimed_at IS NOT NULL AND unconfirmed_since IS NULL
                      AND NOT (COALESCE(send_claim_token, 0) = ANY(%s))
                RETURNING id""",
                self.env._("Its sending process stopped before the provider answered."),
                self._live_claim_tokens() or [0],
            )
        )
        abandoned = self.browse([message_id for (message_id,) in rows])
        if abandoned:
            _logger.warning(
                "%s messages were in flight when their sending process stopped: unconfirmed", len(abandoned)
            )
            self.env["contact.centre.campaign.recipient"].flush_model(["state", "message_id"])
            self.env.cr.execute(
                SQL(
                    """UPDATE contact_centre_campaign_recipient SET state = 'unconfirmed'
                        WHERE state = 'sending' AND message_id = ANY(%s)""",
                    abandoned.ids,
                )
            )
            self.env.invalidate_all()
        return abandoned

    @api.model
    def _settle_unconfirmed(self):
        """The unconfirmed messages' cron: settle what may still be settled, then apply each
        configuration's policy to what waited long enough without a word from the provider.

        A provider that can be asked by our reference (Infobip) is asked first; then the message is
        flagged for a person (``needs_review``) or, when the configuration says so, sent again."""
        self._settle_abandoned_claims()
        waiting = self.search(
            [("unconfirmed_since", "!=", False), ("status", "=", "queued"), ("needs_review", "=", False)]
        )
        for config, messages in waiting.grouped(lambda m: m._provider_config()).items():
            due = messages.filtered(
                lambda m, wait=timedelta(minutes=config.unconfirmed_wait): (
                    m.unconfirmed_since <= fields.Datetime.now() - wait
                )
            )
            if not config or not due:
                continue
            due._ask_provider(config)
            left = due.filtered(lambda m: m.status == "queued")
            if config.unconfirmed_policy == "resend":
                left._send_again()
            else:
                left._flag_for_review()
            self._commit_sending(len(due))

    def _ask_provider(self, config):
        """Settle these messages with what ``config``'s provider says of our references, where it
        can be asked (else nothing happens)."""
        references = {make_reference(self._reference_namespace(), m.id): m for m in self}
        try:
            updates = config._get_provider().lookup_statuses(list(references))
        except ProviderError as error:
            _logger.warning("Could not ask %s about unconfirmed messages: %s", config.display_name, error)
            return
        for update in updates or []:
            self._ingest_status(config, update)

    def _flag_for_review(self):
        """No word from the provider after the wait: a person decides (Unconfirmed Messages)."""
        self.write({"needs_review": True})
        self._sync_campaign_recipients()

    def _send_again(self):
        """Back in the send queue, as new: the provider may already have them (the policy, or the
        person who asked, accepts that risk)."""
        self.write(
            {
                "status": "queued",
                "send_claimed_at": False,
                "send_claim_token": 0,
                "unconfirmed_since": False,
                "needs_review": False,
                "error_code": False,
                "error_message": False,
            }
        )
        if self.campaign_id:
            self.env["contact.centre.campaign.recipient"].sudo().search(
                [("message_id", "in", self.ids), ("state", "in", ("review", "unconfirmed", "failed"))]
            ).write({"state": "unconfirmed", "error": False})
        self._trigger_send_queue()

    def _sync_campaign_recipients(self):
        """Campaign recipients waiting on these messages (unconfirmed, to review, failed) follow
        what is now known of them: sent once the provider has them, failed when it refused them,
        to review when a person must decide. A recipient still handed over is sent as soon as the
        provider's callback says so: its run may have died before recording the answer."""
        if not self.campaign_id:
            return
        self.flush_recordset(["status", "needs_review", "error_message"])
        self.env["contact.centre.campaign.recipient"].flush_model(["state", "message_id", "error", "claimed_at"])
        self.env.cr.execute(
            SQL(
                """UPDATE contact_centre_campaign_recipient AS recipient
                      SET state = CASE WHEN message.status IN ('sent', 'delivered', 'read') THEN 'sent'
                                       WHEN message.status = 'failed' THEN 'failed'
                                       WHEN message.needs_review THEN 'review'
                                       ELSE recipient.state END,
                          error = CASE WHEN message.status = 'failed' THEN message.error_message
                                       ELSE recipient.error END,
                          claimed_at = NULL
                     FROM contact_centre_message AS message
                    WHERE recipient.message_id = message.id AND message.id = ANY(%s)
                      AND (recipient.state IN ('unconfirmed', 'review', 'failed')
                           OR (recipient.state = 'sending' AND message.status IN ('sent', 'delivered', 'read')))""",
                self.ids,
            )
        )
        self.env["contact.centre.campaign.recipient"].invalidate_model(["state", "error", "claimed_at"])

    def _outbound_or_refusal(self):
        """{message: the ``OutboundMessage`` to hand over, or the ``ProviderError`` saying why it
        may not leave}: every message is checked again as it leaves, and one that is refused or
        cannot be built fails alone, with its reason, without holding up the others."""
        result = {}
        for message in self:
            refusal = (
                message.thread_id._sending_refusal(
                    message._provider_config(),
                    text=message.body_text,
                    template=message.template_id,
                    interactive=message.interactive_payload,
                    confirmation=message.is_opt_confirmation,
                    marketing=bool(message.campaign_id),
                )
                if message.thread_id
                else self.env._("The message has no conversation.")
            )
            if refusal:
                result[message] = ProviderError(RECIPIENT, refusal, code="refused")
                continue
            try:
                result[message] = message._to_outbound()
            except Exception as error:  # noqa: BLE001 - one broken message must not stop the batch
                _logger.exception("Queued message %s cannot be built", message.id)
                result[message] = ProviderError(UNKNOWN, self.env._("Cannot be sent: %(error)s", error=error))
        return result

    @api.model
    def _queue_domain(self):
        return [("status", "=", "queued"), ("direction", "=", "outbound"), ("send_claimed_at", "=", False)]

    @api.model
    def _trigger_send_queue(self):
        self.env.ref("contact_centre.ir_cron_contact_centre_send_queue")._trigger()

    def action_resend_unconfirmed(self):
        """Send the selected unconfirmed messages again (a supervisor's choice: the provider may
        already have some of them)."""
        self._unconfirmed_for_supervisor()._send_again()
        return True

    def action_mark_not_sent(self):
        """Decide that the selected unconfirmed messages never left: failed, with who said so."""
        doubtful = self._unconfirmed_for_supervisor()
        doubtful.write(
            {
                "status": "failed",
                "send_claimed_at": False,
                "unconfirmed_since": False,
                "needs_review": False,
                "error_code": "not_sent",
                "error_message": self.env._("Marked as not sent by %(user)s", user=self.env.user.name),
            }
        )
        doubtful._sync_campaign_recipients()
        return True

    def _unconfirmed_for_supervisor(self):
        """The unconfirmed messages of ``self``, as the system, once the user is known to be a
        supervisor allowed to read them all."""
        if not self.env.user.has_group("contact_centre.group_contact_centre_supervisor"):
            raise AccessError(self.env._("Only supervisors decide about unconfirmed messages."))
        self.check_access("read")
        doubtful = self.filtered(
            lambda m: m.direction == "outbound" and m.status == "queued" and (m.unconfirmed_since or m.needs_review)
        )
        if not doubtful:
            raise UserError(self.env._("None of the selected messages is unconfirmed."))
        return doubtful.sudo()

    def action_retry(self):
        """Queue failed or abandoned messages again (the person asked for it: a resend is intended)."""
        self.check_access("read")
        retriable = self.filtered(lambda m: m.direction == "outbound" and (m.status == "failed" or m.needs_review))
        if not retriable:
            raise UserError(self.env._("Only failed outbound messages can be retried."))
        retriable.sudo()._send_again()
        return True

    # Hooks between the parts of the contact centre.

    def _dispatch_inbound(self):
        """Run the inbound rules on a newly stored inbound message: opt-out/in commands, inbound
        campaign keywords, a running chatbot, automations, then assignment of the conversation."""
        self.ensure_one()
        if self.contact_id._apply_opt_command(self):
            return
        if self.env["contact.centre.campaign"]._handle_inbound_keyword(self):
            return
        if self.env["whatsapp.chatbot.session"]._handle_inbound(self):
            return
        self.env["contact.centre.automation"]._run_on_inbound(self)
        self.thread_id._suggest_scripts(self)
        self.thread_id._auto_assign()

    def _inbox_rows(self):
        """These messages as the inbox draws them: with the message each replies to and their attachments."""
        rows = self.read(INBOX_MESSAGE_FIELDS)
        attachments = {
            attachment.id: {"id": attachment.id, "name": attachment.name, "mimetype": attachment.mimetype}
            for attachment in self.attachment_ids
        }
        for row, message in zip(rows, self, strict=True):
            parent = message.parent_message_id
            row["parent"] = parent and {"id": parent.id, "preview": parent.preview, "direction": parent.direction}
            row["attachments"] = [attachments[attachment_id] for attachment_id in row.pop("attachment_ids")]
            if message.template_id and message.channel == "whatsapp":
                # The template's header, footer and buttons around its text.
                row["template_parts"] = parts = message.template_id._inbox_parts(message.template_values)
                if parts.get("media") == "image":  # the header image itself, as the customer sees it
                    template = message.template_id
                    parts["image_url"] = template.header_media_url or (
                        f"/web/image/contact.centre.template/{template.id}/header_sample"
                    )
        return rows

    @api.model
    def inbox_message_rows(self, ids):
        """Rows of the messages the bus announced, as far as the agent may see them."""
        return self.search([("id", "in", ids)], order="message_timestamp, id")._inbox_rows()

    def _touch_conversations(self):
        """What every outbound message, whatever sent it (a person, a campaign, the WhatsApp
        Business app), does to its conversation (latest time and preview, never older than what it
        shows) and to its contact (latest outbound and activity): see ``_touch_latest``."""
        latest = {}
        for message in self:  # one message per conversation in a batch; the latest one if ever not
            when = message.message_timestamp
            if message.thread_id.id not in latest or latest[message.thread_id.id][0] <= when:
                latest[message.thread_id.id] = (when, message.preview, message.contact_id.id)
        self._touch_latest(latest)

    @api.model
    def _touch_latest(self, latest):
        """``latest``: {conversation id: (time, preview, contact id)} of outbound messages, for a
        whole batch in one statement."""
        if not latest:
            return
        threads, contacts = self._touch_latest_updates(latest)
        self.env.execute_query(SQL("WITH touched AS (%s) %s", threads, contacts))
        self._touched_latest(latest)

    @api.model
    def _touch_latest_updates(self, latest):
        """The two UPDATEs of ``_touch_latest`` (conversations, contacts), for a statement that
        does more (a campaign's hand-over): the pending writes of their fields are flushed first;
        ``_touched_latest(latest)`` once it ran."""
        self.env["contact.centre.thread"].flush_model(TOUCHED_THREAD_FIELDS)
        self.env["contact.centre.contact"].flush_model(TOUCHED_CONTACT_FIELDS)
        threads = SQL(
            """
                UPDATE contact_centre_thread AS thread
                   SET last_message_date = latest.date, last_message_preview = latest.preview,
                       write_date = now() at time zone 'UTC', write_uid = %s
                  FROM (VALUES %s) AS latest(id, date, preview)
                 WHERE thread.id = latest.id
                   AND (thread.last_message_date IS NULL OR thread.last_message_date <= latest.date)
            """,
            self.env.uid,
            SQL(", ").join(
                SQL("(%s, %s::timestamp, %s)", thread_id, when, preview)
                for thread_id, (when, preview, _contact_id) in latest.items()
            ),
        )
        contacts = SQL(
            """
                UPDATE contact_centre_contact AS contact
                   SET last_outbound_date = GREATEST(contact.last_outbound_date, latest.date),
                       last_message_date = GREATEST(contact.last_message_date, latest.date)
                  FROM (SELECT id, MAX(date) AS date FROM (VALUES %s) AS batch(id, date) GROUP BY id) AS latest
                 WHERE contact.id = latest.id
            """,
            SQL(", ").join(
                SQL("(%s, %s::timestamp)", contact_id, when) for when, _preview, contact_id in latest.values()
            ),
        )
        return threads, contacts

    @api.model
    def _touched_latest(self, latest):
        """Forget what ``_touch_latest_updates(latest)`` changed in the database."""
        self.env["contact.centre.thread"].browse(latest).invalidate_recordset(
            [*TOUCHED_THREAD_FIELDS, "write_date", "write_uid"]
        )
        self.env["contact.centre.contact"].browse(
            [contact_id for _when, _preview, contact_id in latest.values()]
        ).invalidate_recordset(TOUCHED_CONTACT_FIELDS)

    def _notify_inbox(self):
        """Tell the inbox of the agents who may see these messages that they are new or changed."""
        for thread, messages in self.grouped("thread_id").items():
            if thread:
                thread._notify_inbox(messages)
