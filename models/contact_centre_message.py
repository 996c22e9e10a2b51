import logging
from datetime import timedelta
from types import SimpleNamespace

import psycopg2

from odoo import api, fields, models, modules
from odoo.exceptions import UserError
from odoo.tools import SQL, mute_logger

from ..tools.errors import explain
from ..tools.fetch import media_limit
from ..tools.providers import (
    RECIPIENT,
    UNKNOWN,
    OutboundMessage,
    ProviderError,
    SendResult,
    TemplateMessage,
)
from ..tools.rendering import meta_components, placeholders
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
CLAIM_TIMEOUT = timedelta(minutes=10)

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
    company_id = fields.Many2one(related="contact_id.company_id", store=True)
    template_values = fields.Json(
        "Template Values", readonly=True, help="Placeholder -> value, as sent (WhatsApp templates)."
    )
    send_claimed_at = fields.Datetime(
        "Handed Over At",
        readonly=True,
        copy=False,
        help="Set, and committed, just before the message is handed to the provider. A queued message that "
        "keeps it was in flight when a process died: it is never resent automatically but marked for review.",
    )
    needs_review = fields.Boolean(
        readonly=True, copy=False, help="The process sending it died: check with the provider whether it left."
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

    @api.depends("body_text", "message_type")
    def _compute_preview(self):
        types = dict(MESSAGE_TYPES)
        for message in self:
            text = (message.body_text or "").strip().replace("\n", " ")
            message.preview = text[:80] if text else f"[{types.get(message.message_type, '')}]"

    @api.depends("status", "provider", "error_code")
    def _compute_error_explanation(self):
        for message in self:
            if message.status == "failed":
                explanation = explain(message.provider, message.error_code)
                message.error_explanation = f"{explanation.what} {explanation.todo}"
            else:
                message.error_explanation = False

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
        changed, failures = self.browse(), []
        for event in events:
            handler = getattr(self, INGESTERS.get(type(event).__name__, ""), None)
            if handler is None:
                _logger.info("Webhook event %s left alone: %s", type(event).__name__, getattr(event, "reason", ""))
                continue
            try:
                with self.env.cr.savepoint():
                    changed |= handler(config, event) or self.browse()
            except Exception as error:  # noqa: BLE001 - kept with its error for a retry; its neighbours go through
                _logger.exception("Webhook event %s could not be ingested", type(event).__name__)
                failures.append((event, error))
        changed._notify_inbox()
        return failures

    @api.model
    def _ingest_inbound_event(self, config, event):
        if event.edited_of:
            return self._ingest_edit(config, event)
        message = self._ingest_inbound(config, config._provider_name(), event)
        if message and not event.from_history:
            message._dispatch_inbound()
        return message

    @api.model
    def _ingest_status_event(self, config, event):
        return self._ingest_status(config, event)

    @api.model
    def _ingest_template_status(self, config, event):
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
        """Quality, limits, template category and account problems: visible on the configuration."""
        parts = [event.kind.replace("_", " "), event.event, event.template_name, event.error_code, event.error_title]
        config.message_post(body=self.env._("Provider update: %(what)s", what=" - ".join(p for p in parts if p)))

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
    def _ingest_inbound(self, config, provider, event):
        """The new message for ``event``, or nothing when it was already stored.

        The unique index on (external_message_id, provider, configuration) is the guard: when two
        workers store the same retried event at once, the second insert fails on it and is taken
        as a duplicate. The contact is looked up, or created, in the configuration's company.
        """
        if self._find_by_external_id(config, event.provider_message_id):
            return self.browse()
        contact = self.env["contact.centre.contact"].with_company(config.company_id)._find_or_create_from_inbound(event)
        thread = self.env["contact.centre.thread"]._get_or_create(contact, event.channel)
        timestamp = self._event_time(event)
        values = {
            "contact_id": contact.id,
            "thread_id": thread.id,
            "channel": event.channel,
            "direction": "inbound",
            "status": "received",
            "provider": provider,
            "external_message_id": event.provider_message_id,
            "message_type": event.message_type,
            "body_text": event.text,
            "message_timestamp": timestamp,
            "reply_to_external_id": event.reply_to_provider_id,
            "parent_message_id": event.reply_to_provider_id
            and self._find_by_external_id(config, event.reply_to_provider_id).id,
            "interactive_payload": self._interactive_payload(event),
            "details": self._inbound_details(event),
            config._message_config_field(): config.id,
        }
        try:
            with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                message = self.create(values)
        except psycopg2.errors.UniqueViolation:
            _logger.info("Duplicate inbound message %s from %s ignored", event.provider_message_id, provider)
            return self.browse()
        message._store_inbound_media(config, event)
        if not event.from_history:  # synchronised history: already answered, opens no window
            thread._register_inbound(message, config)
        return message

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
        configured = self.env["ir.config_parameter"].sudo().get_param("contact_centre.max_media_bytes")
        max_bytes = (int(configured) if (configured or "").isdigit() else 0) or media_limit(self.message_type)
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
        two concurrent callbacks cannot move it backwards. Only ``config``'s messages are looked at."""
        rows = self.env.execute_query(
            SQL(
                """SELECT id FROM contact_centre_message
                    WHERE external_message_id = %s AND provider = %s AND %s = %s
                      FOR UPDATE""",
                event.provider_message_id,
                config._provider_name(),
                SQL.identifier(config._message_config_field()),
                config.id,
            )
        )
        if not rows:
            _logger.debug("Status %s for unknown message %s ignored", event.status, event.provider_message_id)
            return self.browse()
        message = self.browse(rows[0][0])
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
        return message

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
            client_ref=str(self.id),
        )
        if self.channel == "whatsapp" and self.template_id:
            template = self.template_id
            values = self.template_values or {}
            body_values = [values.get(name, "") for name in placeholders(template.body_text)]
            outbound.template = TemplateMessage(
                template.meta_template_name, template.language, meta_components(body_values)
            )
            outbound.text = None
        return outbound

    def _apply_send_results(self, results):
        """Record what the provider answered for each message (``results`` in the order of
        ``self``: a ``SendResult`` or a ``ProviderError`` each). The accepted ones, nearly all of
        them, in one statement: a campaign records thousands a second."""
        accepted = [(m, r) for m, r in zip(self, results, strict=True) if isinstance(r, SendResult)]
        for message, result in zip(self, results, strict=True):
            if not isinstance(result, SendResult):
                message._apply_send_failure(result)
        if accepted:
            self.browse([message.id for message, _result in accepted])._apply_accepted(accepted)

    def _apply_accepted(self, accepted):
        """The provider's ids of ``accepted`` [(message, SendResult)]: sent, unless a status webhook
        already moved the message further."""
        self.flush_recordset()
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
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
        )
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
    def _send_queued(self, limit=1000):
        """Hand queued outbound messages to their providers, a batch at a time.

        Each batch is claimed (rows locked with SKIP LOCKED, ``send_claimed_at`` set) and committed
        before any provider call, so two workers never take the same message and no transaction is
        held open while waiting on a provider. Results are written and committed afterwards.
        """
        auto_commit = not modules.module.current_test
        self._flag_abandoned_claims()
        while True:
            batch = self.search(self._queue_domain(), limit=limit, order="id").try_lock_for_update()
            if not batch:
                return
            batch.write({"send_claimed_at": fields.Datetime.now()})
            outbound = batch._outbound_or_refusal()
            if auto_commit:
                self.env.cr.commit()
            sendable = batch.browse([m.id for m, item in outbound.items() if isinstance(item, OutboundMessage)])
            for message in batch - sendable:
                message._apply_send_failure(outbound[message])
            for config, messages in sendable.grouped(lambda m: m._provider_config()).items():
                messages._apply_send_results(config._send_throttled([outbound[m] for m in messages]))
            batch._notify_inbox()
            if auto_commit:
                remaining = self.search_count(self._queue_domain())
                if self.env.context.get("cron_id"):
                    self.env["ir.cron"]._commit_progress(len(batch), remaining=remaining)
                else:
                    self.env.cr.commit()
            if len(batch) < limit or not auto_commit:
                return

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
    def _flag_abandoned_claims(self):
        """Messages claimed long ago and still queued were in flight when their process died: the
        provider may or may not have them. Never resend them automatically; flag them for review."""
        abandoned = self.search(
            [
                ("status", "=", "queued"),
                ("send_claimed_at", "<", fields.Datetime.now() - CLAIM_TIMEOUT),
                ("needs_review", "=", False),
            ]
        )
        abandoned.write({"needs_review": True})
        return abandoned

    @api.model
    def _trigger_send_queue(self):
        self.env.ref("contact_centre.ir_cron_contact_centre_send_queue")._trigger()

    def action_retry(self):
        """Queue failed or abandoned messages again (the person asked for it: a resend is intended)."""
        self.check_access("read")
        retriable = self.filtered(lambda m: m.direction == "outbound" and (m.status == "failed" or m.needs_review))
        if not retriable:
            raise UserError(self.env._("Only failed outbound messages can be retried."))
        retriable.sudo().write(
            {
                "status": "queued",
                "send_claimed_at": False,
                "needs_review": False,
                "error_code": False,
                "error_message": False,
            }
        )
        self._trigger_send_queue()
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
        return rows

    @api.model
    def inbox_message_rows(self, ids):
        """Rows of the messages the bus announced, as far as the agent may see them."""
        return self.search([("id", "in", ids)], order="message_timestamp, id")._inbox_rows()

    def _touch_conversations(self):
        """What every outbound message, whatever sent it (a person, a campaign, the WhatsApp
        Business app), does to its conversation (latest time and preview, never older than what it
        shows) and to its contact (latest outbound and activity): for a whole batch in two
        statements, so that a campaign pays two queries per batch."""
        messages = self
        if not messages:
            return
        Thread, Contact = self.env["contact.centre.thread"], self.env["contact.centre.contact"]
        thread_fields, contact_fields = (
            ["last_message_date", "last_message_preview"],
            ["last_outbound_date", "last_message_date"],
        )
        Thread.flush_model(thread_fields)
        Contact.flush_model(contact_fields)
        latest = {}
        for message in messages:  # one message per conversation in a batch; the latest one if ever not
            when = message.message_timestamp
            if message.thread_id.id not in latest or latest[message.thread_id.id][0] <= when:
                latest[message.thread_id.id] = (when, message.preview, message.contact_id.id)
        self.env.execute_query(
            SQL(
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
        )
        self.env.execute_query(
            SQL(
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
        )
        messages.thread_id.invalidate_recordset([*thread_fields, "write_date", "write_uid"])
        messages.contact_id.invalidate_recordset(contact_fields)

    def _notify_inbox(self):
        """Tell the inbox of the agents who may see these messages that they are new or changed."""
        for thread, messages in self.grouped("thread_id").items():
            if thread:
                thread._notify_inbox(messages)
