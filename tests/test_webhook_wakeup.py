"""A webhook's wake-up of the processing cron is never lost (issue #11 item 7).

Crons do not run in tests, so the cron worker is played by hand, on connections of its own, as in
production: ``ir.cron._process_job`` consumes a run's triggers in the worker's transaction, which
commits only once the run is over, while the run itself works (and commits) in another; each
webhook is a transaction of its own. The two interleavings that lost a wake-up:

- the webhook commits after the run's last look at the queue, having seen the trigger that the
  run consumed at its start (still visible: its deletion is not committed yet);
- the webhook sees a trigger no run has consumed yet; a run consumes it and looks at the queue
  before the webhook commits.
"""

import sys
import threading
import time
import traceback
from datetime import timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields, modules, sql_db
from odoo.tests import TransactionCase, tagged

from ..tools.providers import StatusUpdate
from .common import ContactCentreData


@tagged("post_install", "-at_install")
class TestWebhookWakeUp(ContactCentreData, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Event = cls.env["contact.centre.webhook.event"]
        cls.cron = cls.env.ref("contact_centre.ir_cron_contact_centre_webhook_events")
        # A number committed like any real one, for the webhooks on connections of their own.
        with sql_db.db_connect(cls.env.cr.dbname).cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True, "mail_create_nolog": True})
            cls.committed_config_id = (
                env["contact.centre.whatsapp.config"]
                .create(
                    {
                        "name": "Wake-up test",
                        "account_id": "waba-wake",
                        "phone_number_id": "900000000000777",
                        "app_secret": "wake-secret",
                        "verify_token": "wake-verify",
                    }
                )
                .id
            )
            cr.commit()
        cls.addClassCleanup(
            cls.committed, "DELETE FROM contact_centre_whatsapp_config WHERE id = %s", (cls.committed_config_id,)
        )

    @classmethod
    def committed(cls, sql, params=()):
        with sql_db.db_connect(cls.env.cr.dbname).cursor() as cr:
            cr.execute(sql, params)
            result = cr.fetchall() if cr.description else None
            cr.commit()
        return result

    def start_clean(self):
        """No wake-up due and no request queued but the ones the test makes (none left behind)."""
        for clear, params in (
            ("DELETE FROM ir_cron_trigger WHERE cron_id = %s", (self.cron.id,)),
            (
                "DELETE FROM contact_centre_webhook_event WHERE state = 'pending' OR whatsapp_config_id = %s",
                (self.committed_config_id,),
            ),
        ):
            self.committed(clear, params)
            self.addCleanup(self.committed, clear, params)

    def connection(self):
        """A transaction of its own, as another HTTP worker or the cron worker has."""
        cr = sql_db.db_connect(self.env.cr.dbname).cursor()
        cr.execute("SET lock_timeout = '20s'")  # a wrong lock order fails the test instead of hanging it
        self.addCleanup(cr.close)
        self.addCleanup(cr.rollback)
        return cr

    def committed_due_trigger(self):
        """A wake-up due, committed (as a webhook's ``cron._trigger()`` leaves it)."""
        [(trigger_id,)] = self.committed(
            "INSERT INTO ir_cron_trigger (cron_id, call_at, create_date, write_date)"
            " VALUES (%s, %s, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC') RETURNING id",
            (self.cron.id, fields.Datetime.now() - timedelta(seconds=1)),
        )
        return trigger_id

    def run_starts(self, trigger_id):
        """The cron worker acquires the job: ``_clear_schedule`` deletes its due triggers in the
        worker's transaction, committed when the run is over (``worker_cr.commit()``)."""
        worker_cr = self.connection()
        worker_cr.execute("DELETE FROM ir_cron_trigger WHERE id = %s", (trigger_id,))
        return worker_cr

    def webhook(self, wamid):
        """A status callback stored by the webhook, in a transaction of its own, not committed yet."""
        webhook_cr = self.connection()
        env = api.Environment(webhook_cr, SUPERUSER_ID, {})
        config = env["contact.centre.whatsapp.config"].browse(self.committed_config_id)
        event = env["contact.centre.webhook.event"]._enqueue(config, self.status(wamid))
        return webhook_cr, event.id

    def processor(self, job_cr):
        """The processor in the run's transaction, committing as in production (its environment is
        made here: the test thread holds the registry's lock, which a new transaction takes)."""
        Event = api.Environment(job_cr, SUPERUSER_ID, {})["contact.centre.webhook.event"]

        def process_pending():
            with patch.object(modules.module, "current_test", None):
                Event._process_pending()

        return process_pending

    def due_triggers(self, cr=None):
        if cr is None:
            with sql_db.db_connect(self.env.cr.dbname).cursor() as fresh:
                return self.due_triggers(fresh)
        cr.execute(
            "SELECT id FROM ir_cron_trigger WHERE cron_id = %s AND call_at <= %s ORDER BY id",
            (self.cron.id, fields.Datetime.now()),
        )
        return [trigger_id for (trigger_id,) in cr.fetchall()]

    @staticmethod
    def status(wamid):
        return [StatusUpdate(provider_message_id=wamid, status="delivered")]

    # Tests

    def test_a_burst_still_makes_one_wake_up(self):
        Trigger = self.env["ir.cron.trigger"]
        before = Trigger.search_count([("cron_id", "=", self.cron.id)])
        for index in range(5):
            self.Event._enqueue(self.whatsapp_config, self.status(f"wamid.BURST{index}"))
        self.assertEqual(Trigger.search_count([("cron_id", "=", self.cron.id)]), before + 1)

    def test_a_trigger_consumed_by_a_run_in_progress_is_not_counted_on(self):
        self.start_clean()
        trigger_id = self.committed_due_trigger()
        worker_cr = self.run_starts(trigger_id)
        # The run finds the queue empty, and ends (its worker's transaction not committed yet).
        self.processor(self.connection())()
        # A status callback arrives: the consumed trigger is still visible to it.
        webhook_cr, _event_id = self.webhook("wamid.LATE")
        webhook_cr.commit()
        worker_cr.commit()  # the run is over: its trigger is gone
        due = self.due_triggers()
        self.assertTrue(due, "the late event must have a wake-up of its own")
        self.assertNotIn(trigger_id, due)

    def test_a_run_looks_again_once_the_webhooks_that_counted_on_it_commit(self):
        self.start_clean()
        trigger_id = self.committed_due_trigger()
        webhook_cr, event_id = self.webhook("wamid.INFLIGHT")
        # It counted on the trigger due, not consumed yet, and made none of its own.
        self.assertEqual(self.due_triggers(webhook_cr), [trigger_id])
        # Before it commits, a run starts (consuming that trigger) and looks at the queue.
        worker_cr = self.run_starts(trigger_id)
        process_pending = self.processor(self.connection())
        run = {}

        def process():
            began = time.monotonic()
            try:
                process_pending()
            finally:
                run["seconds"] = time.monotonic() - began

        processor = threading.Thread(target=process, name="webhook-processor")
        processor.start()
        processor.join(1.0)  # the old processor had long returned by now, having seen nothing
        webhook_cr.commit()
        processor.join(30)
        if processor.is_alive():
            stack = "".join(traceback.format_stack(sys._current_frames()[processor.ident]))
            self.fail(f"the processor is still running:\n{stack}")
        worker_cr.commit()
        [(state,)] = self.committed("SELECT state FROM contact_centre_webhook_event WHERE id = %s", (event_id,))
        self.assertEqual(state, "done", "the run must not end before the webhook that counted on it commits")
        self.assertGreaterEqual(run["seconds"], 0.9)
