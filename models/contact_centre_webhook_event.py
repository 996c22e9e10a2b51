import json
import logging
import time
from datetime import timedelta

from odoo import api, fields, models, modules
from odoo.tools import SQL

from ..tools.providers import event_from_json, event_to_json
from .contact_centre_message import PROVIDERS

_logger = logging.getLogger(__name__)

BATCH = 200
KEEP_PROCESSED = timedelta(days=7)
RUN_SECONDS = 50  # a run under sustained load hands over to the next one before any time limit


class ContactCentreWebhookEvent(models.Model):
    """A verified webhook request, stored as its parsed events until they are ingested.

    The webhook answers as soon as the request is verified, parsed and stored (one small insert,
    committed): providers get their 200 fast and retry less, and a burst of callbacks queues
    instead of holding HTTP workers. A processor (cron, woken at once) ingests the queue in order,
    each request's events in one savepoint, so a request is stored whole or not at all; one that
    fails is kept with its error for an administrator to retry, never dropped.
    """

    _name = "contact.centre.webhook.event"
    _description = "Contact Centre Webhook Event"
    _order = "id DESC"

    provider = fields.Selection(PROVIDERS, required=True, readonly=True)
    whatsapp_config_id = fields.Many2one("contact.centre.whatsapp.config", "WhatsApp Number", readonly=True)
    sms_config_id = fields.Many2one("contact.centre.sms.config", "SMS Provider", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True, help="The company of the configuration it came to.")
    events = fields.Json(
        "Parsed Events", readonly=True, help="The request's events, as the provider layer parsed them."
    )
    events_text = fields.Text("Events (JSON)", compute="_compute_events_text")
    event_count = fields.Integer("Events", readonly=True)
    state = fields.Selection(
        [("pending", "Pending"), ("done", "Processed"), ("failed", "Failed")],
        default="pending",
        required=True,
        readonly=True,
    )
    error = fields.Text(readonly=True)
    processed_date = fields.Datetime("Processed On", readonly=True)

    _pending_idx = models.Index("(id) WHERE state = 'pending'")

    @api.depends("events")
    def _compute_events_text(self):
        for record in self:
            record.events_text = json.dumps(record.events, indent=2, ensure_ascii=False) if record.events else False

    @api.model
    def _enqueue(self, config, events):
        """Store a verified request's ``events`` and wake the processor, unless a wake-up is
        already due: under a burst of webhooks one trigger (and its NOTIFY, which costs a new
        database connection in Odoo) serves them all.

        One statement rather than ``create()`` and a search: this runs for every webhook a
        provider sends, and the ORM's defaults and access machinery cost more than the insert.
        """
        if not events:
            return self.browse()
        cron = self._processor_cron()
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """WITH event AS (
                       INSERT INTO contact_centre_webhook_event
                           (provider, %s, company_id, events, event_count, state,
                            create_uid, write_uid, create_date, write_date)
                       VALUES (%s, %s, %s, %s, %s, 'pending', %s, %s, %s, %s)
                       RETURNING id
                   )
                   SELECT event.id,
                          EXISTS(SELECT 1 FROM ir_cron_trigger WHERE cron_id = %s AND call_at <= %s)
                     FROM event""",
                SQL.identifier(config._message_config_field()),
                config._provider_name(),
                config.id,
                config.company_id.id,
                json.dumps([event_to_json(event) for event in events]),
                len(events),
                self.env.uid,
                self.env.uid,
                now,
                now,
                cron.id,
                now,
            )
        )
        event_id, wake_up_due = self.env.cr.fetchone()
        if not wake_up_due:
            cron._trigger()
        return self.browse(event_id)

    @api.model
    def _processor_cron(self):
        cron_id = self.env["ir.model.data"]._xmlid_to_res_id("contact_centre.ir_cron_contact_centre_webhook_events")
        return self.env["ir.cron"].sudo().browse(cron_id)

    @api.model
    def _process_pending(self, limit=BATCH):
        """Ingest pending requests, oldest first, a batch per transaction, until none is left
        (including those that arrive meanwhile).

        A request stored while a run ends may have seen that run's trigger still in place (the
        cron deletes it in a transaction that commits after the run) and not triggered again: a
        run that ingested something therefore triggers one more run, which finds those or nothing.
        """
        auto_commit = not modules.module.current_test
        processed = 0
        deadline = time.monotonic() + RUN_SECONDS
        while time.monotonic() < deadline:
            batch = self.search([("state", "=", "pending")], order="id", limit=limit).try_lock_for_update()
            if not batch:
                break
            for record in batch:
                record._process()
            processed += len(batch)
            if not auto_commit:
                return
            self.env.cr.commit()
        if processed and auto_commit:
            self._processor_cron()._trigger()
            self.env.cr.commit()

    def _process(self):
        self.ensure_one()
        config = self.whatsapp_config_id or self.sms_config_id
        try:
            with self.env.cr.savepoint():
                events = [event_from_json(data) for data in self.events or []]
                self.env["contact.centre.message"].sudo()._ingest_events(config, events)
        except Exception as error:  # noqa: BLE001 - kept with its error for a retry, never lost
            _logger.exception("Webhook event %s (%s) could not be ingested", self.id, self.provider)
            self.write({"state": "failed", "error": str(error)[:2000], "processed_date": fields.Datetime.now()})
        else:
            self.write({"state": "done", "error": False, "processed_date": fields.Datetime.now()})

    def action_retry(self):
        self.filtered(lambda event: event.state == "failed").write({"state": "pending", "error": False})
        self._processor_cron()._trigger()
        return True

    @api.autovacuum
    def _gc_processed(self):
        """Processed requests are kept a week for inspection; failed ones until someone deals with them."""
        self.search([("state", "=", "done"), ("processed_date", "<", fields.Datetime.now() - KEEP_PROCESSED)]).unlink()
