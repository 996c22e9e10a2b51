"""Webhook events are ingested by batches of requests (issue #12 part 5): the status updates of a
batch in three statements, the look-ups of its inbound messages shared; with the outcome of the
event-by-event ingestion, every failure alone, and each conversation's order kept, also between two
ingestion runs working in parallel."""

import itertools
import logging
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields, sql_db
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..models.contact_centre_message import InboundLookups
from ..tools.providers import IdentityChange, InboundMessage, StatusUpdate
from ..tools.sending import make_reference
from .common import ContactCentreData

_logger = logging.getLogger(__name__)
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
            **{"profile_name": "Batch", **values},
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

    def test_a_burst_is_stored_in_one_create_and_each_conversation_shows_its_latest_message(self):
        """The inbound messages of a batch are inserted together, new conversations with them, and
        their conversations and contacts brought up to date in a statement each: the latest time,
        preview and window of each, a resolved conversation open again, earlier values never
        taken back by an older message."""
        Message = type(self.Message)
        creates = []
        original = Message.create

        def counted(this, vals_list):
            creates.append(len(vals_list) if isinstance(vals_list, list) else 1)
            return original(this, vals_list)

        self.thread.write({"state": "resolved", "resolved_date": naive(at(-60))})
        self.contact_free.last_message_date = naive(at(30))  # an outbound message later than the burst
        with patch.object(Message, "create", counted):
            self.enqueue(
                [self.inbound("wamid.B1", "first", sender="+32470000003", minutes=1)],
                [self.inbound("wamid.B2", "new one", sender="+32470888001", minutes=2)],
                [self.inbound("wamid.B3", "second", sender="+32470000003", minutes=3)],
                [self.inbound("wamid.B4", "late", sender="+32470888001", minutes=0)],
            )
        self.assertEqual(creates, [4], "the four messages in one create")
        self.thread.invalidate_recordset()
        self.assertEqual(
            (self.thread.state, self.thread.last_message_preview, self.thread.last_inbound_date),
            ("open", "second", naive(at(3))),
        )
        self.assertEqual(self.thread.whatsapp_window_end, naive(at(3)) + timedelta(hours=24))
        self.assertEqual(
            (self.contact_free.last_whatsapp_inbound_date, self.contact_free.last_message_date),
            (naive(at(3)), naive(at(30))),
        )
        self.assertTrue(self.contact_free.whatsapp_window_end)
        new = self.Message.search([("external_message_id", "=", "wamid.B2")])
        self.assertEqual(new.thread_id.last_inbound_date, naive(at(2)), "the late message does not take it back")
        self.assertEqual(new.thread_id.last_message_preview, "late", "the preview is the last one to come")
        self.assertEqual(new.thread_id.whatsapp_config_id, self.whatsapp_config)
        self.assertEqual(new.contact_id.last_inbound_date, naive(at(2)))

    def test_new_senders_of_a_batch_are_created_together_from_their_first_message(self):
        """A burst of first messages: their senders' contacts are made in one ``create`` (one by
        one, each costs several times more), named after their first message's profile; a batch
        with an event that may make or change a contact first makes them in their turn."""
        Contact = type(self.env["contact.centre.contact"])
        created = []
        original = Contact._create_from_inbound

        def counted(this, events):
            created.append([event.sender for event in events])
            return original(this, events)

        with patch.object(Contact, "_create_from_inbound", counted):
            self.enqueue(
                [self.inbound("wamid.N1", "Hi", sender="+32470777001", profile_name="Ann")],
                [self.inbound("wamid.N2", "Hi", sender="+32470777002", profile_name="Bob")],
                [self.inbound("wamid.N3", "Again", sender="+32470777001", minutes=1, profile_name="Ann B.")],
            )
        self.assertEqual(created, [["+32470777001", "+32470777002"]])
        messages = self.Message.search([("external_message_id", "in", ["wamid.N1", "wamid.N2", "wamid.N3"])])
        by_id = {m.external_message_id: m.contact_id for m in messages}
        self.assertEqual(by_id["wamid.N1"], by_id["wamid.N3"])
        self.assertEqual((by_id["wamid.N1"].name, by_id["wamid.N2"].name), ("Ann", "Bob"))
        self.assertEqual(by_id["wamid.N2"].whatsapp_number, "+32470777002")
        self.assertEqual(by_id["wamid.N1"].company_id, self.whatsapp_config.company_id)
        # An identity change in the batch: each new sender is made in its turn, as one by one.
        created.clear()
        change = IdentityChange(sender="+32470000003", kind="identity_changed")
        with patch.object(Contact, "_create_from_inbound", counted):
            self.enqueue([change], [self.inbound("wamid.N4", "Hi", sender="+32470777004", profile_name="Cy")])
        self.assertEqual(created, [["+32470777004"]])
        self.assertEqual(self.Message.search([("external_message_id", "=", "wamid.N4")]).contact_id.name, "Cy")

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


@tagged("post_install", "-at_install")
class TestBatchedRules(ContactCentreData, TransactionCase):
    """The inbound rules run on a batch with what it looked up once (keyword campaigns,
    automations, scripts, agents, conversations without a running chatbot): each customer gets
    exactly what they get when their messages are ingested one at a time, with a bounded number of
    queries per message."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["contact.centre.automation"].search([]).active = False
        cls.env["contact.centre.script"].search([]).active = False
        cls.Message = cls.env["contact.centre.message"].sudo()
        cls.Event = cls.env["contact.centre.webhook.event"]
        cls.env["res.users"].search([]).write({"cc_available": False})
        cls.agent.write({"cc_available": True, "cc_capacity": 100})
        cls.campaign = cls.env["contact.centre.campaign"].create(
            {
                "name": "Join",
                "campaign_type": "inbound",
                "channel": "whatsapp",
                "keyword": "JOIN",
                "state": "running",
                "reply_text": "Welcome to the club",
                "whatsapp_config_id": cls.whatsapp_config.id,
            }
        )
        cls.script = cls.env["contact.centre.script"].create(
            {"name": "Refunds", "content_text": "Refunds take 5 days", "trigger_keywords": "refund"}
        )
        cls.price = cls.env["contact.centre.automation"].create(
            {
                "name": "Prices",
                "automation_type": "keyword",
                "trigger_type": "keyword",
                "trigger_keywords": "price",
                "response_message": "Prices are on our site.",
            }
        )
        cls.bot = cls.env["whatsapp.chatbot"].create({"name": "Bot"})
        Step = cls.env["whatsapp.chatbot.step"]
        cls.question = Step.create(
            {
                "chatbot_id": cls.bot.id,
                "sequence": 1,
                "step_type": "question",
                "message": "Need?",
                "option_ids": [
                    fields.Command.create({"name": "Track", "sequence": 1}),
                    fields.Command.create({"name": "Human", "sequence": 2}),
                ],
            }
        )
        Step.create(
            {
                "chatbot_id": cls.bot.id,
                "sequence": 2,
                "step_type": "capture",
                "capture_field": "email",
                "message": "Your e-mail?",
            }
        )
        handover = Step.create(
            {"chatbot_id": cls.bot.id, "sequence": 3, "step_type": "handover", "message": "Passing you on."}
        )
        cls.question.option_ids[1].next_step_id = handover
        cls.bot_automation = cls.env["contact.centre.automation"].create(
            {
                "name": "Bot",
                "automation_type": "chatbot",
                "trigger_type": "keyword",
                "trigger_keywords": "bot",
                "chatbot_id": cls.bot.id,
            }
        )

    def setUp(self):
        super().setUp()
        self.now = datetime.now(UTC) - timedelta(hours=1)  # within WhatsApp's window: the replies go

    def customers(self, prefix):
        """The same customers, numbered ``prefix`` + 1..7: all known but the sixth, the third
        inside the chatbot (asked "Need?")."""
        Contact, Thread = self.env["contact.centre.contact"], self.env["contact.centre.thread"]
        numbers = [f"{prefix}{index}" for index in range(1, 8)]
        for number in numbers[:5] + numbers[6:]:
            Thread._get_or_create(Contact.create({"name": number, "whatsapp_number": number}), "whatsapp")
        bot_thread = Thread.search([("contact_id.whatsapp_number", "=", numbers[2])])
        self.env["whatsapp.chatbot.session"]._start(self.bot, bot_thread)
        return numbers

    def events(self, numbers, tag):
        """A reply wave, interleaved: STOP then a question, the campaign keyword then a price
        question, the chatbot's "Human" then thanks, a price question, a refund, a new customer,
        a chatbot started by its keyword then answered."""
        a, b, c, d, e, f, g = numbers
        script = [
            (a, "STOP"),
            (b, "join"),
            (c, "Human"),
            (d, "What is the price?"),
            (g, "bot please"),
            (a, "hello?"),
            (b, "and the price?"),
            (c, "thanks"),
            (e, "I want a refund"),
            (f, "hi"),
            (g, "Track"),
        ]
        return [
            InboundMessage(
                f"wamid.{tag}{index}",
                sender,
                "900000000000001",
                "whatsapp",
                text=text,
                timestamp=self.now + timedelta(seconds=index),
            )
            for index, (sender, text) in enumerate(script)
        ]

    def outcome(self, number):
        contact = self.env["contact.centre.contact"].search([("whatsapp_number", "=", number)])
        contact.invalidate_recordset()
        thread = contact.thread_ids
        return {
            "messages": [
                (m.direction, m.body_text, m.is_automated, m.campaign_id.name or False)
                # In the inbox's order: a batch stores its messages before their rules reply.
                for m in thread.message_ids.sorted(lambda m: (m.message_timestamp, m.id))
            ],
            "opted in": (contact.opt_in_whatsapp, contact.opt_in_whatsapp_source),
            "consents": sorted((c.purpose, c.state, c.source) for c in contact.consent_ids),
            "campaigns": contact.campaign_ids.mapped("name"),
            "bot": [
                (s.state, s.step_id.message, s.answers)
                for s in self.env["whatsapp.chatbot.session"].search([("thread_id", "=", thread.id)])
            ],
            "scripts": thread.suggested_script_ids.mapped("name"),
            "agent": thread.assigned_agent_id.login,
            "email": contact.email,
        }

    def test_a_batch_gives_each_customer_what_one_at_a_time_gives(self):
        batched, alone = self.customers("+3247066100"), self.customers("+3247066200")
        self.enqueue_all(self.events(batched, "B"))
        counts = (self.price.trigger_count, self.bot_automation.trigger_count)
        for event in self.events(alone, "A"):  # no batch: every rule looks everything up itself
            self.Message._ingest_inbound_event(self.whatsapp_config, event)
        for one, other in zip(batched, alone, strict=True):
            with self.subTest(customer=one):
                self.assertEqual(self.outcome(one), self.outcome(other))
        self.assertEqual((self.price.trigger_count, self.bot_automation.trigger_count), tuple(2 * n for n in counts))
        self.assertEqual(counts, (2, 1))
        # And what they get is what the rules say.
        stop, join, bot, price, refund, new, started = (self.outcome(number) for number in batched)
        self.assertEqual(stop["opted in"], (False, "keyword"))
        confirmations = [body for direction, body, _auto, _campaign in stop["messages"] if direction == "outbound"]
        self.assertEqual(len(confirmations), 1, "the opt-out confirmation, and nothing after it")
        self.assertIn("START", confirmations[0])
        self.assertEqual(stop["agent"], self.agent.login, "its next message is assigned")
        self.assertEqual(join["campaigns"], ["Join"])
        self.assertIn(("outbound", "Welcome to the club", True, "Join"), join["messages"])
        self.assertIn(("outbound", "Prices are on our site.", True, False), join["messages"])
        self.assertEqual(bot["bot"][0][0], "handed_over")
        self.assertEqual(bot["agent"], self.agent.login)
        self.assertIn(("outbound", "Prices are on our site.", True, False), price["messages"])
        self.assertEqual(refund["scripts"], ["Refunds"])
        self.assertEqual(new["agent"], self.agent.login)
        self.assertEqual([state for state, _step, _answers in started["bot"]], ["running"])
        self.assertEqual(started["bot"][0][1], "Your e-mail?", "the bot started in the batch took the next answer")
        self.assertFalse(started["agent"], "no assignment while the bot runs")

    def enqueue_all(self, events):
        """Each event as a request of its own, all ingested by one batch."""
        rows = self.Event.browse()
        for event in events:
            rows |= self.Event._enqueue(self.whatsapp_config, [event])
        self.Event._process_pending()
        rows.invalidate_recordset()
        self.assertEqual(set(rows.mapped("state")), {"done"})
        return rows

    def test_queries_per_message_in_a_batch_of_fifty_are_bounded(self):
        """Known customers writing in, rules configured but none matching, threads assigned: the
        steady state of a reply wave. Before the rules were batched: 17 queries per message."""
        Contact, Thread = self.env["contact.centre.contact"], self.env["contact.centre.thread"]
        numbers = [f"+324706630{index:02d}" for index in range(50)]
        contacts = Contact.create([{"name": number, "whatsapp_number": number} for number in numbers])
        for contact in contacts:
            Thread._get_or_create(contact, "whatsapp")._assign(self.agent)
        for index, number in enumerate(numbers):
            self.Event._enqueue(
                self.whatsapp_config,
                [InboundMessage(f"wamid.Q{index}", number, "900000000000001", "whatsapp", text=f"hello {index}")],
            )
        self.env.flush_all()
        before = self.env.cr.sql_log_count
        self.Event._process_pending()
        self.env.flush_all()
        queries = self.env.cr.sql_log_count - before
        _logger.info("A batch of 50 inbound messages: %s queries", queries)
        self.assertEqual(self.Message.search_count([("external_message_id", "=like", "wamid.Q%")]), 50)
        # Measured: 2 per message (each one's savepoint and its release: the messages are stored
        # together, and their conversations and contacts updated in a statement each) and some 45
        # per batch, against 5 per message before; the bound is generous, never a timing.
        self.assertLessEqual(queries, 50 * 3 + 60, f"{queries} queries for 50 messages")

    def test_a_message_stored_meanwhile_by_another_run_is_a_duplicate_not_a_failure(self):
        """The batch looked it up before another transaction stored it: the insert hits the index."""
        first = InboundMessage("wamid.RACE", "+32470663101", "900000000000001", "whatsapp", text="hi")
        self.enqueue_all([first])
        with patch.object(InboundLookups, "is_stored", lambda *args: False), mute_logger(MESSAGE_LOGGER):
            rows = self.enqueue_all([first, self.inbound_after(first)])
        self.assertEqual(rows.mapped("error"), [False, False])
        self.assertEqual(self.Message.search_count([("external_message_id", "=", "wamid.RACE")]), 1)
        self.assertEqual(self.Message.search_count([("external_message_id", "=", "wamid.RACE2")]), 1)

    @staticmethod
    def inbound_after(event):
        return InboundMessage("wamid.RACE2", event.sender, event.recipient, "whatsapp", text="again")
