"""Webhook events are ingested by batches of requests (issue #12 part 5): the status updates of a
batch in three statements, the look-ups of its inbound messages shared; with the outcome of the
event-by-event ingestion, every failure alone, and each conversation's order kept, also between two
ingestion runs working in parallel."""

import itertools
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields, sql_db
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..tools.providers import InboundMessage, StatusUpdate
from ..tools.sending import make_reference
from .common import ContactCentreData

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MESSAGE_LOGGER = "odoo.addons.contact_centre.models.contact_centre_message"


def at(minutes):
    return T0 + timedelta(minutes=minutes)


def naive(moment):
    return fields.Datetime.to_datetime(moment.replace(tzinfo=None))


@tagged("post_install", "-at_install")
class TestIngestionBatch(ContactCentreData, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["contact.centre.automation"].search([]).active = False
        cls.Message = cls.env["contact.centre.message"]
        cls.Event = cls.env["contact.centre.webhook.event"]
        cls.thread = cls.env["contact.centre.thread"]._get_or_create(cls.contact_free, "whatsapp")

    def outbound(self, wamid=None, **values):
        return self.Message.create(
            {
                "contact_id": self.contact_free.id,
                "thread_id": self.thread.id,
                "channel": "whatsapp",
                "direction": "outbound",
                "status": "sent" if wamid else "queued",
                "provider": "meta",
                "external_message_id": wamid,
                "body_text": "Hello",
                "whatsapp_config_id": self.whatsapp_config.id,
                **values,
            }
        )

    def inbound(self, wamid, text, sender="+32470555001", minutes=0, **values):
        return InboundMessage(
            provider_message_id=wamid,
            sender=sender,
            recipient="900000000000001",
            channel="whatsapp",
            text=text,
            timestamp=at(minutes),
            profile_name="Batch",
            **values,
        )

    def enqueue(self, *requests):
        """Each of ``requests`` (a list of events) stored as one webhook request, then the queue
        ingested by one run, as the cron does."""
        rows = self.Event.browse()
        for events in requests:
            rows |= self.Event._enqueue(self.whatsapp_config, events)
        self.Event._process_pending()
        rows.invalidate_recordset()
        return rows

    def status_fields(self, message):
        message.invalidate_recordset()
        return {
            name: message[name]
            for name in (
                "status",
                "sent_date",
                "delivered_date",
                "read_date",
                "error_code",
                "error_message",
                "external_message_id",
            )
        }

    # Status updates

    def test_statuses_of_one_message_in_any_order_end_at_the_furthest_with_the_event_by_event_dates(self):
        statuses = [("sent", 1), ("delivered", 2), ("read", 3), ("failed", 4)]
        for order in itertools.permutations(statuses):
            with self.subTest(order=[name for name, _ in order]):
                batched, one_by_one = self.outbound(f"wamid.B{order}"), self.outbound(f"wamid.O{order}")
                batched.status = one_by_one.status = "queued"

                def events(wamid, order=order):
                    return [
                        StatusUpdate(
                            wamid, name, timestamp=at(minute), error_code="131026", error_title="Undeliverable"
                        )
                        for name, minute in order
                    ]

                self.enqueue(events(batched.external_message_id)[:2], events(batched.external_message_id)[2:])
                for event in events(one_by_one.external_message_id):
                    self.Message._ingest_status(self.whatsapp_config, event)
                expected = self.status_fields(one_by_one)
                expected["external_message_id"] = batched.external_message_id
                self.assertEqual(self.status_fields(batched), expected)
                # read (or delivered) lifts a failure, never the other way round.
                self.assertEqual(batched.status, "read")
                self.assertEqual(batched.read_date, naive(at(3)))
                self.assertFalse(batched.error_code)

    def test_statuses_in_order_keep_every_date_and_a_failure_its_reason(self):
        message, failing = self.outbound("wamid.DATES"), self.outbound("wamid.FAILS")
        message.status = "queued"
        rows = self.enqueue(
            [StatusUpdate("wamid.DATES", "sent", timestamp=at(1)), StatusUpdate("wamid.FAILS", "delivered")],
            [
                StatusUpdate("wamid.DATES", "delivered", timestamp=at(2), pricing_category="utility", billable=True),
                StatusUpdate("wamid.FAILS", "failed", error_code="131047", error_title="Re-engagement message"),
                StatusUpdate("wamid.DATES", "sent", timestamp=at(9)),  # late: changes nothing
            ],
        )
        self.assertEqual(set(rows.mapped("state")), {"done"})
        self.assertEqual(
            (message.status, message.sent_date, message.delivered_date, message.read_date),
            ("delivered", naive(at(1)), naive(at(2)), False),
        )
        self.assertEqual((message.pricing_category, message.billable), ("utility", True))
        # A failure reported after delivery is stale.
        self.assertEqual((failing.status, failing.error_code), ("delivered", False))

    def test_a_status_for_an_unknown_message_is_ignored(self):
        message = self.outbound("wamid.KNOWN")
        rows = self.enqueue([StatusUpdate("wamid.NOBODY", "read"), StatusUpdate("wamid.KNOWN", "delivered")])
        self.assertEqual((rows.state, rows.error), ("done", False))
        self.assertEqual(message.status, "delivered")
        self.assertFalse(self.Message.search([("external_message_id", "=", "wamid.NOBODY")]))

    def test_a_message_whose_send_answer_was_lost_is_settled_by_reference_with_its_provider_id(self):
        message = self.outbound(
            send_claimed_at=fields.Datetime.now(), unconfirmed_since=fields.Datetime.now(), needs_review=True
        )
        reference = make_reference(self.Message._reference_namespace(), message.id)
        self.enqueue(
            [
                StatusUpdate("wamid.SETTLED", "sent", timestamp=at(1), client_ref=reference),
                StatusUpdate("wamid.SETTLED", "delivered", timestamp=at(2)),  # by the id it just got
                StatusUpdate("wamid.OTHER", "read", client_ref=reference),  # it has an id now: not this one
            ]
        )
        self.assertEqual(
            (message.external_message_id, message.status, message.delivered_date),
            ("wamid.SETTLED", "delivered", naive(at(2))),
        )
        self.assertEqual(
            (message.send_claimed_at, message.unconfirmed_since, message.needs_review), (False, False, False)
        )

    def test_a_broken_event_fails_alone(self):
        message, other = self.outbound("wamid.OK1"), self.outbound("wamid.OK2")
        Message = type(self.Message)
        original_inbound, original_status = Message._ingest_inbound_event, Message._ingest_status

        def fail_on_poison(self_, config, event):
            if event.text == "poison":
                raise ValueError("cannot ingest this one")
            return original_inbound(self_, config, event)

        def fail_on_bad_status(self_, config, event):
            if event.provider_message_id == "wamid.BAD":
                raise ValueError("broken status")
            return original_status(self_, config, event)

        def batch_breaks(self_, config, events):
            raise ValueError("the batch breaks: one by one")

        with (
            patch.object(Message, "_ingest_inbound_event", fail_on_poison),
            patch.object(Message, "_ingest_status", fail_on_bad_status),
            patch.object(Message, "_ingest_statuses", batch_breaks),
            mute_logger(MESSAGE_LOGGER),
        ):
            good, mixed = self.enqueue(
                [self.inbound("wamid.IN1", "fine"), StatusUpdate("wamid.OK1", "read")],
                [
                    self.inbound("wamid.IN2", "poison"),
                    StatusUpdate("wamid.BAD", "read"),
                    self.inbound("wamid.IN3", "after", minutes=1),
                    StatusUpdate("wamid.OK2", "delivered"),
                ],
            )
        self.assertEqual(good.state, "done")
        self.assertEqual(mixed.state, "failed")
        self.assertEqual([event["provider_message_id"] for event in mixed.events], ["wamid.IN2", "wamid.BAD"])
        self.assertEqual(mixed.event_count, 2)
        self.assertIn("cannot ingest this one", mixed.error)
        self.assertIn("broken status", mixed.error)
        stored = self.Message.search([("external_message_id", "in", ["wamid.IN1", "wamid.IN2", "wamid.IN3"])])
        self.assertEqual(sorted(stored.mapped("external_message_id")), ["wamid.IN1", "wamid.IN3"])
        self.assertEqual((message.status, other.status), ("read", "delivered"))
        # Retried, the failed events go through on their own.
        mixed.action_retry()
        self.Event._process_pending()
        self.assertEqual(mixed.state, "done")
        self.assertTrue(self.Message.search([("external_message_id", "=", "wamid.IN2")]))

    # Inbound messages

    def test_inbound_duplicates_in_one_batch_are_stored_once_with_one_contact_and_conversation(self):
        rows = self.enqueue(
            [self.inbound("wamid.DUP", "Hello"), self.inbound("wamid.DUP", "Hello")],
            [self.inbound("wamid.DUP", "Hello"), self.inbound("wamid.NEXT", "Again", minutes=1)],
        )
        self.assertEqual(set(rows.mapped("state")), {"done"})
        messages = self.Message.search([("external_message_id", "in", ["wamid.DUP", "wamid.NEXT"])], order="id")
        self.assertEqual(messages.mapped("external_message_id"), ["wamid.DUP", "wamid.NEXT"])
        self.assertEqual(len(messages.contact_id), 1)
        self.assertEqual(len(messages.thread_id), 1)
        self.assertEqual(messages.contact_id.whatsapp_number, "+32470555001")
        self.assertEqual(messages.thread_id.last_message_preview, "Again")
        # Stored before: a duplicate again in a later batch.
        self.enqueue([self.inbound("wamid.DUP", "Hello")])
        self.assertEqual(self.Message.search_count([("external_message_id", "=", "wamid.DUP")]), 1)

    def test_a_known_contact_and_a_reply_are_found_by_the_batch(self):
        original = self.outbound("wamid.ASKED")
        reply = self.inbound("wamid.REPLY", "Yes", sender="+32470000003", reply_to_provider_id="wamid.ASKED")
        self.enqueue([reply])
        message = self.Message.search([("external_message_id", "=", "wamid.REPLY")])
        self.assertEqual((message.contact_id, message.thread_id), (self.contact_free, self.thread))
        self.assertEqual(message.parent_message_id, original)

    def test_the_order_of_a_conversation_is_kept_within_a_batch(self):
        sender = "+32470555009"
        self.enqueue(
            [self.inbound("wamid.O1", "STOP", sender=sender)],
            [self.inbound("wamid.O2", "START", sender=sender, minutes=1)],
            [self.inbound("wamid.O3", "Hello", sender=sender, minutes=2)],
        )
        messages = self.Message.search(
            [("external_message_id", "in", ["wamid.O1", "wamid.O2", "wamid.O3"])], order="id"
        )
        self.assertEqual(messages.mapped("external_message_id"), ["wamid.O1", "wamid.O2", "wamid.O3"])
        self.assertTrue(messages.contact_id.opt_in_whatsapp, "STOP, then START: opted in")


@tagged("post_install", "-at_install")
class TestParallelIngestion(TransactionCase):
    """Two ingestion runs never take two requests about the same customer out of order. Played on
    committed data, each run on a connection of its own, as two cron workers are."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with sql_db.db_connect(cls.env.cr.dbname).cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cls.config_id = (
                env["contact.centre.whatsapp.config"]
                .create(
                    {
                        "name": "Parallel runs",
                        "account_id": "waba-parallel",
                        "phone_number_id": "900000000000888",
                        "app_secret": "parallel-secret",
                        "verify_token": "parallel-verify",
                    }
                )
                .id
            )
            cr.commit()
        cls.addClassCleanup(cls.committed, "DELETE FROM contact_centre_whatsapp_config WHERE id = %s", (cls.config_id,))

    @classmethod
    def committed(cls, sql, params=()):
        with sql_db.db_connect(cls.env.cr.dbname).cursor() as cr:
            cr.execute(sql, params)
            cr.commit()

    def connection(self):
        cr = sql_db.db_connect(self.env.cr.dbname).cursor()
        cr.execute("SET lock_timeout = '20s'")
        self.addCleanup(cr.close)
        self.addCleanup(cr.rollback)
        return cr

    def test_a_run_leaves_a_customers_newer_requests_while_the_other_run_holds_an_older_one(self):
        cron = self.env.ref("contact_centre.ir_cron_contact_centre_webhook_events")
        for clear, params in (
            (
                "DELETE FROM contact_centre_webhook_event WHERE state = 'pending' OR whatsapp_config_id = %s",
                (self.config_id,),
            ),
            ("DELETE FROM ir_cron_trigger WHERE cron_id = %s", (cron.id,)),
        ):
            self.committed(clear, params)
            self.addCleanup(self.committed, clear, params)
        cr = self.connection()
        env = api.Environment(cr, SUPERUSER_ID, {})
        config = env["contact.centre.whatsapp.config"].browse(self.config_id)
        Event = env["contact.centre.webhook.event"]

        def inbound(wamid, sender):
            return [InboundMessage(wamid, sender, "900000000000888", "whatsapp", text="hi")]

        ann_1 = Event._enqueue(config, inbound("wamid.A1", "+32470777001")).id
        bob_1 = Event._enqueue(config, inbound("wamid.B1", "+32470777002")).id
        ann_2 = Event._enqueue(config, inbound("wamid.A2", "+32470777001")).id
        bob_status = Event._enqueue(config, [StatusUpdate("wamid.X", "read", recipient="+32470777002")]).id
        carl = Event._enqueue(config, inbound("wamid.C1", "+32470777003")).id
        cr.commit()
        self.assertEqual(Event.browse(ann_1).order_keys, ["+32470777001"])

        # The first run holds Ann's first request (and only it, say: the end of its batch).
        first_cr = self.connection()
        first_cr.execute("SELECT id FROM contact_centre_webhook_event WHERE id = %s FOR UPDATE", (ann_1,))
        # The second run takes the others, but Ann's second request: it waits for her first.
        second = api.Environment(self.connection(), SUPERUSER_ID, {})["contact.centre.webhook.event"]
        taken, more = second._claim_pending(10)
        self.assertEqual(taken.ids, [bob_1, bob_status, carl])
        self.assertTrue(more)
        # Once the first run has ingested it, Ann's second request is free to go.
        first_cr.execute("UPDATE contact_centre_webhook_event SET state = 'done' WHERE id = %s", (ann_1,))
        first_cr.commit()
        second.env.cr.rollback()
        taken, more = second._claim_pending(10)
        self.assertEqual(taken.ids, [bob_1, ann_2, bob_status, carl])
        self.assertFalse(more)
        second.env.cr.rollback()
        # A run holding Bob's first request keeps his status update (same customer) from the other.
        first_cr.execute("SELECT id FROM contact_centre_webhook_event WHERE id = %s FOR UPDATE", (bob_1,))
        taken, _more = second._claim_pending(10)
        self.assertEqual(taken.ids, [ann_2, carl])
