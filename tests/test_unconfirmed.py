"""Messages whose send answer was lost (their process died after handing them over) are settled
by the provider's own word: its callbacks carry our reference, Infobip can be asked by it, and
what stays without a word is decided by the configuration's policy or by a supervisor."""

import time
from datetime import timedelta
from unittest.mock import patch

from odoo import fields, sql_db
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, new_test_user, tagged

from ..models.contact_centre_message import CLAIM_LOCK_SPACE
from ..tools.providers import StatusUpdate
from ..tools.sending import LATE_TOLERANCE, REBOOKINGS
from ..tools.simulator.control import configure, sent_messages
from .common import ContactCentreData, SimulatorMixin

DEAD_RUN = 777001  # a run token no database session holds: its process is gone


@tagged("post_install", "-at_install")
class TestUnconfirmed(SimulatorMixin, ContactCentreData, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.env["contact.centre.automation"].search([]).active = False
        cls.Message = cls.env["contact.centre.message"]
        cls.contact = cls.env["contact.centre.contact"].create(
            {"name": "Nora", "whatsapp_number": "+32470666001", "sms_number": "+32470666001"}
        )
        cls.infobip_config = cls.env["contact.centre.sms.config"].create(
            {"name": "Test Infobip", "provider": "infobip", "sender": "ACME", "infobip_api_key": "test-key"}
        )
        cls.infobip_config.api_base_url = cls.simulator_url

    def setUp(self):
        super().setUp()
        self.env["ir.config_parameter"].set_param("web.base.url", self.base_url())

    def thread(self, channel="whatsapp", sms_config=None):
        thread = self.env["contact.centre.thread"]._get_or_create(self.contact, channel)
        if channel == "whatsapp":
            thread.write({"last_inbound_date": fields.Datetime.now(), "whatsapp_config_id": self.whatsapp_config.id})
        else:
            thread.sms_config_id = sms_config
        return thread

    def hand_over_and_die(self, message, callbacks=False):
        """What a sending process does before it is killed: claim (committed), send, and never
        record the answer. Returns the provider's answer, which only the provider now knows.
        With ``callbacks``, the simulator's status callbacks reach this server's webhooks and
        are ingested."""
        outbound = message._claim(DEAD_RUN)[message]
        self.Message._settle_abandoned_claims()
        self.assertTrue(message.unconfirmed_since, "a claim whose run is gone is unconfirmed")
        self.env.flush_all()  # what the commit would do: the webhook requests read the database
        if not callbacks:
            return message._provider_config()._get_provider().send(outbound)
        with self.allow_requests(all_requests=True):  # the simulator's callbacks carry no test cookie
            answer = message._provider_config()._get_provider().send(outbound)
            time.sleep(1)
        self.assertEqual((message.status, message.external_message_id), ("queued", False))
        self.process_webhooks()
        return answer

    def test_meta_callback_with_our_reference_settles_the_message(self):
        self.post_statuses_back(5)
        configure(self.simulator_url, statuses=["sent", "delivered"])
        message = self.thread()._send_message(text="Your order left")
        answer = self.hand_over_and_die(message, callbacks=True)
        [sent] = sent_messages(self.simulator_url)
        self.assertEqual(
            sent["body"]["biz_opaque_callback_data"], f"cc-{self.Message._reference_namespace()}-{message.id}"
        )
        self.assertEqual(message.external_message_id, answer.provider_message_id)
        self.assertEqual(message.status, "delivered")
        self.assertFalse(message.unconfirmed_since or message.needs_review or message.send_claimed_at)

    def test_twilio_callback_url_reference_settles_the_message(self):
        configure(
            self.simulator_url,
            callbacks=True,
            statuses=["sent", "delivered"],
            callback_headers={},
            twilio_credentials={self.twilio_config.twilio_account_sid: "test-auth-token"},
        )
        message = self.thread("sms", self.twilio_config)._send_message(text="Your order left")
        answer = self.hand_over_and_die(message, callbacks=True)
        [sent] = sent_messages(self.simulator_url)
        self.assertIn(f"ref=cc-{self.Message._reference_namespace()}-{message.id}", sent["callback"])
        self.assertEqual((message.status, message.external_message_id), ("delivered", answer.provider_message_id))

    def test_a_callback_with_another_accounts_or_a_forged_reference_settles_nothing(self):
        message = self.thread()._send_message(text="Hello")
        message._claim(DEAD_RUN)
        self.Message._settle_abandoned_claims()
        reference = f"cc-{self.Message._reference_namespace()}-{message.id}"
        other = self.env["contact.centre.whatsapp.config"].create(
            {"name": "Other", "phone_number_id": "900000000000099", "account_id": "waba-other", "app_secret": "x"}
        )
        self.Message._ingest_status(other, StatusUpdate("wamid.X", "delivered", client_ref=reference))
        self.Message._ingest_status(self.whatsapp_config, StatusUpdate("wamid.Y", "delivered", client_ref="cc-0-1"))
        self.assertEqual((message.status, message.external_message_id), ("queued", False))
        self.Message._ingest_status(self.whatsapp_config, StatusUpdate("wamid.Z", "read", client_ref=reference))
        self.assertEqual((message.status, message.external_message_id), ("read", "wamid.Z"))

    def test_infobip_is_asked_by_our_message_id_when_its_report_was_lost(self):
        configure(self.simulator_url, callbacks=True, callback_loss=1.0, statuses=["delivered"])
        message = self.thread("sms", self.infobip_config)._send_message(text="Code 1234")
        self.hand_over_and_die(message)
        self.Message._settle_unconfirmed()
        self.assertEqual(message.status, "queued", "nothing is decided before the wait is over")
        message.unconfirmed_since = fields.Datetime.now() - timedelta(minutes=16)
        self.Message._settle_unconfirmed()
        self.assertEqual(message.status, "delivered")
        self.assertEqual(message.external_message_id, f"cc-{self.Message._reference_namespace()}-{message.id}")
        self.assertFalse(message.needs_review)

    def test_policy_send_again_resends_after_the_wait(self):
        configure(self.simulator_url, callbacks=False)
        self.whatsapp_config.write({"unconfirmed_policy": "resend", "unconfirmed_wait": 5})
        message = self.thread()._send_message(text="Lost answer")
        self.hand_over_and_die(message)
        message.unconfirmed_since = fields.Datetime.now() - timedelta(minutes=6)
        self.Message._settle_unconfirmed()
        self.assertEqual((message.status, message.send_claimed_at, message.needs_review), ("queued", False, False))
        self.Message._send_queued()
        self.assertEqual(message.status, "sent")
        self.assertEqual(len(sent_messages(self.simulator_url)), 2, "the policy accepts the risk of a second copy")

    def test_a_live_runs_claims_are_left_to_it(self):
        message = self.thread()._send_message(text="In flight elsewhere")
        message._claim(4242)
        other = sql_db.db_connect(self.env.cr.dbname).cursor()  # another process's own session
        try:
            other.execute("SELECT pg_advisory_lock(%s, %s)", (CLAIM_LOCK_SPACE, 4242))
            self.Message._settle_abandoned_claims()
            self.assertFalse(message.unconfirmed_since, "its process is alive and will record the answer")
            other.execute("SELECT pg_advisory_unlock(%s, %s)", (CLAIM_LOCK_SPACE, 4242))
            self.Message._settle_abandoned_claims()
            self.assertTrue(message.unconfirmed_since)
        finally:
            other.close()

    def test_another_companys_supervisor_cannot_decide(self):
        """A supervisor of company B, over RPC, on company A's unconfirmed message: refused, untouched."""
        company_b = self.env["res.company"].create({"name": "Company B"})
        supervisor_b = new_test_user(
            self.env,
            "cc_unconfirmed_supervisor_b",
            groups="contact_centre.group_contact_centre_supervisor",
            company_id=company_b.id,
            company_ids=[company_b.id],
        )
        message = self.thread()._send_message(text="Company A's doubt")
        message._claim(DEAD_RUN)
        self.Message._settle_abandoned_claims()
        for action in ("action_mark_not_sent", "action_resend_unconfirmed"):
            with self.assertRaises(AccessError):
                getattr(message.with_user(supervisor_b), action)()
        self.assertEqual((message.status, message.send_claimed_at != False), ("queued", True))  # noqa: E712
        self.assertTrue(message.unconfirmed_since)

    def test_supervisor_decides_agents_cannot(self):
        first, second = (self.thread()._send_message(text=f"Doubt {i}") for i in (1, 2))
        for message in first | second:
            message._claim(DEAD_RUN)
        self.Message._settle_abandoned_claims()
        with self.assertRaises(AccessError):
            first.with_user(self.agent).action_mark_not_sent()
        with self.assertRaises(AccessError):
            first.with_user(self.agent).action_resend_unconfirmed()
        first.with_user(self.supervisor).action_mark_not_sent()
        self.assertEqual((first.status, first.error_code), ("failed", "not_sent"))
        self.assertIn(self.supervisor.name, first.error_message)
        second.with_user(self.supervisor).action_resend_unconfirmed()
        self.assertEqual((second.status, second.send_claimed_at, second.unconfirmed_since), ("queued", False, False))
        self.Message._send_queued()
        self.assertEqual(second.status, "sent")

    def test_the_rate_limit_is_shared_by_every_run(self):
        """Two runs (two workers, two hosts) book the same number's seconds one after the other."""
        self.whatsapp_config.rate_limit = 50
        first = self.whatsapp_config._reserve_send_times(50)
        second = self.whatsapp_config._reserve_send_times(50)
        self.assertAlmostEqual(second[0] - first[0], 1.0, delta=0.2)
        # 50 a second, booked as many a 1.02 s: a message may leave 20 ms after its time
        self.assertAlmostEqual(first[1] - first[0], (1 + LATE_TOLERANCE) / 50, delta=1e-6)
        self.assertAlmostEqual(second[0] - first[-1], (1 + LATE_TOLERANCE) / 50, delta=0.01)

    def test_a_message_too_late_for_its_time_is_booked_again_and_sent_once(self):
        """Its thread woke after its booked time and more (a busy host): sent then, it would share
        a second with the messages booked after it. It is booked again through its configuration,
        REBOOKINGS times at most (here every wake is too late), then sent, once."""
        Config, reserve, booked = type(self.whatsapp_config), type(self.whatsapp_config)._reserve_send_times, []

        def ahead(config, count):  # the rate limit paces it: its time is ahead when handed over
            booked.append(count)
            return [at + 0.1 for at in reserve(config, count)]

        message = self.thread()._send_message(text="Booked again")
        with (
            patch.object(Config, "_reserve_send_times", ahead),
            patch("odoo.addons.contact_centre.tools.sending.LATE_TOLERANCE", -0.5),  # always too late
        ):
            self.Message._send_queued()
        self.assertEqual(booked, [1] * (1 + REBOOKINGS), "booked, then booked again each time it was late")
        self.assertEqual(message.status, "sent")
        to = self.contact.whatsapp_number.lstrip("+")
        self.assertEqual(len([m for m in sent_messages(self.simulator_url) if m["to"].lstrip("+") == to]), 1)

    def test_no_more_in_doubt_than_the_concurrency(self):
        """At every commit of a run (what a crash right after it leaves in doubt), what is handed
        over or about to be and unanswered never exceeds the configured number of requests in
        flight, however large the campaign: the next claim, made while requests are in flight, is
        committed only once their answers made room for it."""
        self.env["ir.config_parameter"].set_param("contact_centre.max_in_flight", 4)
        self.whatsapp_config.rate_limit = 1000
        template = self.env["contact.centre.template"].create(
            {
                "name": "Promo",
                "channel": "whatsapp",
                "whatsapp_config_id": self.whatsapp_config.id,
                "meta_template_name": "promo",
                "approval_status": "approved",
                "body_text": "20% off",
            }
        )
        contacts = self.env["contact.centre.contact"].create(
            [{"name": f"C{i}", "whatsapp_number": f"+3247077{i:04d}", "opt_in_whatsapp": True} for i in range(30)]
        )
        campaign = self.env["contact.centre.campaign"].create(
            {
                "name": "Bounded",
                "channel": "whatsapp",
                "use_quiet_hours": False,  # whatever the hour the test runs at
                "whatsapp_config_id": self.whatsapp_config.id,
                "template_id": template.id,
                "contact_ids": [fields.Command.set(contacts.ids)],
            }
        )
        campaign.action_schedule()
        Message = type(self.env["contact.centre.message"])
        in_doubt = []
        commit = Message._commit_sending

        def count_and_commit(this, handed_over, remaining=None, keep=None):
            in_doubt.append(this.env["contact.centre.campaign.recipient"].search_count([("state", "=", "sending")]))
            return commit(this, handed_over, remaining=remaining, keep=keep)

        with patch.object(Message, "_commit_sending", count_and_commit):
            self.env["contact.centre.campaign"]._process_dispatch()
        self.assertEqual(set(campaign.recipient_ids.mapped("state")), {"sent"})
        self.assertGreater(len(in_doubt), 7, "claimed a few at a time, not in one batch")
        self.assertLessEqual(max(in_doubt), 4)
        self.assertEqual(len(sent_messages(self.simulator_url)), 30)
