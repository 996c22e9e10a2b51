import json
import logging
import time
from datetime import UTC, datetime, timedelta

from psycopg2.errors import LockNotAvailable

from odoo import api, fields, models, modules
from odoo.tools import SQL

from ..tools.providers import event_from_json, event_to_json
from .contact_centre_message import INGESTERS, PROVIDERS

_logger = logging.getLogger(__name__)

BATCH = 200
KEEP_PROCESSED = timedelta(days=7)
RUN_SECONDS = 50  # a run under sustained load hands over to the next one before any time limit
# PostgreSQL advisory lock between the webhooks that count on a wake-up already due (shared) and the
# processor's last look at the queue (exclusive): see _enqueue and _process_pending.
WAKE_UP_LOCK = 0x63635F776B5F7570  # "cc_wk_up"
WAKE_UP_LOCK_TIMEOUT = "10s"  # a webhook transaction never stays open that long after its insert


def _precise_now():
    """UTC now with its microseconds (``fields.Datetime.now()`` drops them)."""
    return datetime.now(UTC).replace(tzinfo=None)


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
    ignored_kinds = fields.Char(
        "Left Alone",
        readonly=True,
        help="Kinds of events in this request that the product does not handle (kept here, answered 200).",
    )
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
        already due that is sure to see them: under a burst of webhooks one trigger (and its
        NOTIFY, which costs a new database connection in Odoo) serves them all.

        One statement rather than ``create()`` and a search: this runs for every webhook a
        provider sends, and the ORM's defaults and access machinery cost more than the insert.

        Which due trigger may be counted on (issue #11: about one event in a hundred waited for the
        cron's next regular tick, up to 80 s). Odoo 19 consumes a cron's triggers when a run
        *starts*: ``ir.cron._process_job`` deletes them (``_clear_schedule``) in the cron worker's
        transaction, which holds the cron's row lock and commits only once the run is over. Until
        then the deleted trigger stays visible to every other transaction (and after it, to one
        whose REPEATABLE READ snapshot, Odoo's isolation level, is older), although no run will
        fire for it again. A webhook that saw it did not trigger; if it committed after the run's
        last (empty) search, and the run had ingested nothing (so did not trigger a follow-up), its
        event waited for the regular tick. Likewise, a webhook that saw a trigger not taken yet
        could have it taken, before committing, by a run that searched the queue too early. So:

        - only a trigger that no run has taken counts: ``xmax = 0``. ``xmax`` is read from the row
          as it is now, whatever the snapshot: once ``_clear_schedule``'s DELETE has reached the
          row, it holds the deleting transaction's id, committed or not. (A deletion rolled back
          leaves its ``xmax`` too: then one trigger more than needed, never one too few.)
        - a trigger not taken yet may be taken right after this statement, before this transaction
          commits: the statement takes ``WAKE_UP_LOCK`` shared (before reading the triggers: the
          check depends on it), held until this transaction ends, and every run takes it exclusive
          before its last look at the queue (see ``_process_pending``), so that this look comes
          after this insert is committed or rolled back. Only *try*-locked: a webhook never waits;
          if a run holds the lock or waits for it, the webhook triggers the next run itself.

        A burst still makes one wake-up per run: the webhooks that arrive while a run goes on see
        its trigger taken, the first of them triggers the next run, the others count on that one.
        """
        if not events:
            return self.browse()
        cron = self._processor_cron()
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """WITH guard AS MATERIALIZED (
                       SELECT pg_try_advisory_xact_lock_shared(%s) AS held
                   ), event AS (
                       INSERT INTO contact_centre_webhook_event
                           (provider, %s, company_id, events, event_count, state,
                            create_uid, write_uid, create_date, write_date)
                       VALUES (%s, %s, (SELECT company_id FROM %s WHERE id = %s), %s, %s, 'pending', %s, %s, %s, %s)
                       RETURNING id
                   )
                   SELECT event.id,
                          EXISTS(SELECT 1 FROM ir_cron_trigger
                                  WHERE guard.held AND cron_id = %s AND call_at <= %s AND xmax = 0)
                     FROM event, guard""",
                WAKE_UP_LOCK,
                SQL.identifier(config._message_config_field()),
                config._provider_name(),
                config.id,
                SQL.identifier(config._table),  # in the statement: no query more to read the configuration
                config.id,
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

        The last look. Once the queue looks empty, the run takes ``WAKE_UP_LOCK`` exclusive, which
        waits for the webhooks in flight that counted on a due trigger (maybe this run's, already
        consumed: see ``_enqueue``), and looks at the queue once more, in a new transaction: Odoo's
        cursors are REPEATABLE READ, so a search in the transaction that waited would see the queue
        as it was before the wait. The lock is therefore taken at session level and released right
        after that last search. Webhooks that commit after it saw this run's trigger already taken,
        or could not take the lock, and so triggered a run of their own. A run that ingested
        something thus no longer needs to trigger one more run just in case; one that hands over at
        ``RUN_SECONDS`` triggers the next.

        ``processed_date`` is stamped per batch, with its microseconds, just before the commit that
        makes the batch visible: when the events were really ingested (``bench_webhooks.py
        --latency-only`` measures from it).
        """
        auto_commit = not modules.module.current_test
        deadline = time.monotonic() + RUN_SECONDS
        while True:
            batch = self._pending_batch(limit)
            if not batch:
                batch = self._last_look(limit, auto_commit)
                if not batch:
                    return
            for record in batch:
                record._process()
            batch.write({"processed_date": _precise_now()})
            if not auto_commit:
                return
            self.env.cr.commit()
            if time.monotonic() >= deadline:
                self._processor_cron()._trigger()
                self.env.cr.commit()
                return

    @api.model
    def _pending_batch(self, limit):
        return self.search([("state", "=", "pending")], order="id", limit=limit).try_lock_for_update()

    @api.model
    def _last_look(self, limit, auto_commit):
        """The pending requests once the webhooks in flight that counted on a due trigger have
        ended (see ``_process_pending``). Should one stay open past ``WAKE_UP_LOCK_TIMEOUT``,
        trigger the next run instead, which looks again."""
        cr = self.env.cr
        try:
            with cr.savepoint(flush=False):
                cr.execute(SQL("SELECT set_config('lock_timeout', %s, true)", WAKE_UP_LOCK_TIMEOUT))
                cr.execute(SQL("SELECT pg_advisory_lock(%s)", WAKE_UP_LOCK), log_exceptions=False)
                cr.execute(SQL("SET LOCAL lock_timeout TO DEFAULT"))
        except LockNotAvailable:
            _logger.warning("A webhook transaction held the wake-up lock past %s: handing over", WAKE_UP_LOCK_TIMEOUT)
            self._processor_cron()._trigger()
            return self.browse()
        try:
            if auto_commit:
                cr.commit()  # a new snapshot, taken once the webhooks in flight have ended
            return self._pending_batch(limit)
        except Exception:
            if auto_commit:
                cr.rollback()  # so that the unlock below can run; the lock itself survives it
            raise
        finally:
            cr.execute(SQL("SELECT pg_advisory_unlock(%s)", WAKE_UP_LOCK))

    def _process(self):
        self.ensure_one()
        config = self.whatsapp_config_id or self.sms_config_id
        try:
            events = [event_from_json(data) for data in self.events or []]
            failures = self.env["contact.centre.message"].sudo()._ingest_events(config, events)
        except Exception as error:  # noqa: BLE001 - kept with its error for a retry, never lost
            _logger.exception("Webhook event %s (%s) could not be ingested", self.id, self.provider)
            self.write({"state": "failed", "error": str(error)[:2000]})
            return
        ignored = sorted({getattr(e, "kind", type(e).__name__) for e in events if type(e).__name__ not in INGESTERS})
        self.ignored_kinds = ", ".join(ignored) or False
        if failures:
            # Each event was ingested alone: keep only those that failed, for the retry.
            self.write(
                {
                    "state": "failed",
                    "events": [event_to_json(event) for event, _error in failures],
                    "event_count": len(failures),
                    "error": "\n".join(f"{type(event).__name__}: {error}" for event, error in failures)[:2000],
                }
            )
        else:
            self.write({"state": "done", "error": False})

    def action_retry(self):
        self.filtered(lambda event: event.state == "failed").write({"state": "pending", "error": False})
        self._processor_cron()._trigger()
        return True

    @api.autovacuum
    def _gc_processed(self):
        """Processed requests are kept a week for inspection; failed ones until someone deals with them."""
        self.search([("state", "=", "done"), ("processed_date", "<", fields.Datetime.now() - KEEP_PROCESSED)]).unlink()
