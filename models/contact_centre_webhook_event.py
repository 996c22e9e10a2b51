import json
import logging
import time
from datetime import UTC, datetime, timedelta

import psycopg2
from psycopg2.errors import LockNotAvailable

from odoo import api, fields, models, modules
from odoo.tools import SQL

from ..tools.providers import event_from_json, event_to_json
from .contact_centre_message import INGESTERS, PROVIDERS

_logger = logging.getLogger(__name__)

BATCH = 200
CLAIM_WINDOW = 4  # a run looks at this many batches of the oldest pending requests to claim one
CLAIM_ATTEMPTS = 5
KEEP_PROCESSED = timedelta(days=7)
RUN_SECONDS = 50  # a run under sustained load hands over to the next one before any time limit
# PostgreSQL advisory lock between the webhooks that count on a wake-up already due (shared) and the
# processor's last look at the queue (exclusive): see _enqueue and _process_pending.
WAKE_UP_LOCK = 0x63635F776B5F7570  # "cc_wk_up"
WAKE_UP_LOCK_TIMEOUT = "10s"  # a webhook transaction never stays open that long after its insert


def _precise_now():
    """UTC now with its microseconds (``fields.Datetime.now()`` drops them)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _order_keys(config, events):
    """Whom a request's ``events`` are about, as keys of its conversations' order: the customer
    (number, short code, sender name or WhatsApp user id, whatever the configuration: one contact
    per company may write to several of its numbers), or, for what concerns no customer (template
    and account updates), the configuration itself."""
    keys = set()
    for event in events:
        if type(event).__name__ in ("StatusUpdate", "OutboundEcho") or getattr(event, "direction", "") == "outbound":
            person = getattr(event, "recipient", None) or getattr(event, "recipient_user_id", None)
        else:
            person = getattr(event, "sender", None) or getattr(event, "user_id", None) or getattr(event, "phone", None)
        keys.add(person or f"{config._name}:{config.id}")
    return sorted(keys)


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
    order_keys = fields.Json(
        readonly=True,
        help="Whom its events are about (the customer's number or sender, else the account): two "
        "ingestion runs never take requests about the same one out of order (see _claim_pending).",
    )

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
                           (provider, %s, company_id, events, event_count, order_keys, state,
                            create_uid, write_uid, create_date, write_date)
                       VALUES (%s, %s, (SELECT company_id FROM %s WHERE id = %s), %s, %s, %s, 'pending',
                               %s, %s, %s, %s)
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
                json.dumps(_order_keys(config, events)),
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
    def _process_pending(self, limit=BATCH, helper=False):
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

        Runs in parallel. Odoo runs a cron in one worker at a time: under a backlog (a whole batch
        claimed and more pending) the run wakes a second cron, the helper (``helper=True``), which
        ingests alongside it, in another cron worker, until it finds nothing to claim. The helper
        takes no last look: the wake-ups are the main cron's, which always takes it. Which requests
        each run may take, so that a conversation's events keep their order: see ``_claim_pending``.
        A conflict with the other run (a serialization failure or a deadlock, on a row both touch)
        rolls the batch back, and it is claimed again: never kept as failed.

        ``processed_date`` is stamped per batch, with its microseconds, just before the commit that
        makes the batch visible: when the events were really ingested (``bench_webhooks.py
        --latency-only`` measures from it).
        """
        auto_commit = not modules.module.current_test
        deadline = time.monotonic() + RUN_SECONDS
        conflicts = 0
        while True:
            batch, more = self._claim_pending(limit)
            if not batch:
                if helper:
                    return  # the main run takes the last look
                # What is left, if anything, is held by the other run, which claims again once it
                # has committed: it will take it (both runs end only on an empty claim).
                batch = self._last_look(limit, auto_commit)
                if not batch:
                    return
            elif more and not helper:
                self._wake_helper()
            try:
                batch._process_batch()
            except psycopg2.extensions.TransactionRollbackError:
                if not auto_commit:
                    raise
                self.env.cr.rollback()
                conflicts += 1
                _logger.info("Webhook batch in conflict with another run (%s): taken again", conflicts)
                time.sleep(min(0.05 * conflicts, 1.0))
            if not auto_commit:
                return
            self.env["contact.centre.campaign.tally"]._fold_now_and_then()
            self.env.cr.commit()
            if time.monotonic() >= deadline:
                self._processor_cron()._trigger()
                self.env.cr.commit()
                return

    @api.model
    def _pending_batch(self, limit):
        return self._claim_pending(limit)[0]

    @api.model
    def _claim_pending(self, limit):
        """(up to ``limit`` pending requests this run may ingest now, locked, oldest first; whether
        more are pending).

        Two runs ingest in parallel (see ``_process_pending``), and a conversation's events must
        be ingested in the order they came (a STOP then a START; a message then its reaction).
        Each request is stored with the keys of whom its events are about (``order_keys``). A run
        looks at the oldest pending requests (``CLAIM_WINDOW`` batches), locks the first ``limit``
        of them it can (``FOR UPDATE SKIP LOCKED``: those it skips are the other run's; locking no
        more leaves the next ones to the other run), and walks them oldest first:
        a request is taken unless an older one that shares a key is not taken (locked by the other
        run, or itself left behind); its keys are then blocked for the rest of the walk. So no
        request is ingested while an older one about the same customer is pending elsewhere.

        Why not an advisory lock per customer (``pg_advisory_xact_lock(hashtext(sender))``) while
        ingesting: it makes two runs take turns on a customer, not keep the order. The run holding
        the newer request may take the lock first and ingest it before the other run reaches the
        older one. Taking only requests with no older pending one about the same customer does.

        The lock query may meet a request that the other run ingested and committed after this
        transaction's snapshot (REPEATABLE READ): a serialization failure; the claim then commits
        (nothing done yet) for a fresh snapshot and looks again.
        """
        cr = self.env.cr
        self.flush_model(["state", "order_keys"])
        for _attempt in range(CLAIM_ATTEMPTS):
            try:
                with cr.savepoint(flush=False):
                    window = self.env.execute_query(
                        SQL(
                            """SELECT id, order_keys FROM contact_centre_webhook_event
                                WHERE state = 'pending' ORDER BY id LIMIT %s""",
                            limit * CLAIM_WINDOW,
                        )
                    )
                    if not window:
                        return self.browse(), False
                    cr.execute(
                        SQL(
                            """SELECT id FROM contact_centre_webhook_event
                                WHERE id = ANY(%s) AND state = 'pending'
                                ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED""",
                            [event_id for event_id, _keys in window],
                            limit,
                        ),
                        log_exceptions=False,
                    )
                    locked = {event_id for (event_id,) in cr.fetchall()}
                break
            except psycopg2.errors.SerializationFailure:
                if modules.module.current_test:
                    raise
                cr.commit()
        else:
            return self.browse(), True
        last = max(locked, default=0)
        blocked, taken = set(), []
        for event_id, keys in window:
            if event_id > last:
                break
            if keys is None:  # stored before requests had keys: it may be about anyone
                if event_id not in locked or blocked:
                    break
            elif event_id not in locked or blocked.intersection(keys):
                blocked.update(keys)
                continue
            taken.append(event_id)
        return self.browse(taken), len(window) > len(taken)

    @api.model
    def _wake_helper(self):
        """Wake the second ingestion run, unless it is due or running (its taken trigger is still
        visible until its run ends)."""
        helper = self.env.ref("contact_centre.ir_cron_contact_centre_webhook_events_helper", raise_if_not_found=False)
        if not helper or not helper.sudo().active:
            return
        if not self.env.execute_query(SQL("SELECT 1 FROM ir_cron_trigger WHERE cron_id = %s LIMIT 1", helper.id)):
            helper.sudo()._trigger()

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

    def _process_batch(self):
        """Ingest these claimed requests together (``contact.centre.message._ingest_batch``: the
        look-ups of their status updates and inbound messages shared), then record every one's
        outcome in one statement: done, or failed keeping only its events that failed, with their
        errors; all stamped ``processed_date``. Should the batch itself break (not one of its
        events: each fails alone), its requests are ingested one by one."""
        outcomes, decoded = {}, []
        self.flush_recordset(["events"])
        # Read as stored: the field would deep-copy each request's events on every access.
        stored = {
            row[0]: row[1:]
            for row in self.env.execute_query(
                SQL(
                    "SELECT id, events, whatsapp_config_id, sms_config_id FROM %s WHERE id = ANY(%s)",
                    SQL.identifier(self._table),
                    self.ids,
                )
            )
        }
        WhatsApp, Sms = self.whatsapp_config_id.browse(), self.sms_config_id.browse()
        configs = {}
        for record in self:
            events, whatsapp_id, sms_id = stored[record.id]
            configs[record] = WhatsApp.browse(whatsapp_id) if whatsapp_id else Sms.browse(sms_id)
            try:
                decoded.append((record, [event_from_json(data) for data in events or []]))
            except Exception as error:  # noqa: BLE001 - kept with its error for a retry, never lost
                _logger.exception("Webhook event %s could not be read", record.id)
                outcomes[record.id] = {"state": "failed", "error": str(error)[:2000]}
        Message = self.env["contact.centre.message"].sudo()
        try:
            with self.env.cr.savepoint():
                results = Message._ingest_batch([(configs[record], events) for record, events in decoded])
        except psycopg2.extensions.TransactionRollbackError:
            raise
        except Exception:  # noqa: BLE001 - then request by request, each kept with its error
            _logger.exception("Webhook events %s could not be ingested together: one by one", self.ids)
            for record, _events in decoded:
                record._process()
            results = None
        if results is not None:
            for (record, events), failures in zip(decoded, results, strict=True):
                outcomes[record.id] = self._outcome(events, failures)
        self._record_outcomes(outcomes)

    @staticmethod
    def _outcome(events, failures):
        ignored = sorted({getattr(e, "kind", type(e).__name__) for e in events if type(e).__name__ not in INGESTERS})
        outcome = {"state": "done", "error": None, "ignored_kinds": ", ".join(ignored) or None}
        if failures:
            # Each event was ingested alone: keep only those that failed, for the retry.
            outcome.update(
                state="failed",
                events=json.dumps([event_to_json(event) for event, _error in failures]),
                event_count=len(failures),
                error="\n".join(f"{type(event).__name__}: {error}" for event, error in failures)[:2000],
            )
        return outcome

    def _record_outcomes(self, outcomes):
        """One UPDATE: each request's outcome (``outcomes``: id -> values; none for those already
        written) and the batch's ``processed_date``."""
        self.flush_recordset()
        values = SQL(", ").join(
            SQL(
                "(%s::int, %s::varchar, %s::jsonb, %s::int, %s::text, %s::varchar)",
                record_id,
                outcome.get("state"),
                outcome.get("events"),
                outcome.get("event_count"),
                outcome.get("error"),
                outcome.get("ignored_kinds"),
            )
            for record_id, outcome in ((record.id, outcomes.get(record.id, {})) for record in self)
        )
        self.env.execute_query(
            SQL(
                """UPDATE contact_centre_webhook_event AS event
                      SET state = COALESCE(outcome.state, event.state),
                          events = COALESCE(outcome.events, event.events),
                          event_count = COALESCE(outcome.event_count, event.event_count),
                          error = CASE WHEN outcome.state IS NULL THEN event.error ELSE outcome.error END,
                          ignored_kinds = CASE WHEN outcome.state IS NULL THEN event.ignored_kinds
                                               ELSE outcome.ignored_kinds END,
                          processed_date = %s, write_uid = %s, write_date = now() AT TIME ZONE 'UTC'
                     FROM (VALUES %s) AS outcome(id, state, events, event_count, error, ignored_kinds)
                    WHERE event.id = outcome.id""",
                _precise_now(),
                self.env.uid,
                values,
            )
        )
        self.invalidate_recordset(
            ["state", "events", "event_count", "error", "ignored_kinds", "processed_date", "write_uid", "write_date"]
        )

    def _process(self):
        self.ensure_one()
        config = self.whatsapp_config_id or self.sms_config_id
        try:
            events = [event_from_json(data) for data in self.events or []]
            failures = self.env["contact.centre.message"].sudo()._ingest_events(config, events)
        except psycopg2.extensions.TransactionRollbackError:
            raise  # a conflict with another run: the batch is claimed again
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
