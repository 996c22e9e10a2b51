from datetime import datetime, timedelta
from unittest.mock import patch

from freezegun import freeze_time
from psycopg2.errors import SerializationFailure

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import Form, tagged
from odoo.tools import SQL

from ..tools.orm_cache import cached_values, restore_cached
from ..tools.providers import SendResult
from ..tools.sending import sender_process
from ..tools.simulator.control import configure, sent_messages
from .common import ContactCentreCase, SimulatorMixin


@tagged("post_install", "-at_install")
class TestCampaign(SimulatorMixin, ContactCentreCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.env["contact.centre.automation"].search([]).active = False
        cls.whatsapp_config.rate_limit = 1000
        cls.twilio_config.rate_limit = 1000
        Template = cls.env["contact.centre.template"]
        cls.wa_template = Template.create(
            {
                "name": "Promo",
                "channel": "whatsapp",
                "whatsapp_config_id": cls.whatsapp_config.id,
                "meta_template_name": "promo",
                "approval_status": "approved",
                "body_text": "Hi {{1}}, 20% off",
                "variable_ids": [fields.Command.create({"placeholder": "1", "field_name": "name"})],
            }
        )
        cls.sms_template = Template.create({"name": "Promo SMS", "channel": "sms", "body_text": "Hi {{name}}, 20% off"})
        Contact = cls.env["contact.centre.contact"]
        # Campaigns need marketing consent: recorded as an import gives it.
        consent = {"opt_in_whatsapp": True, "opt_in_sms": True}
        cls.ana = Contact.create(
            {"name": "Ana", "whatsapp_number": "+32470100001", "sms_number": "+32470100001", **consent}
        )
        cls.ben = Contact.create({"name": "Ben", "whatsapp_number": "+32470100002", **consent})
        cls.cid = Contact.create({"name": "Cid", "sms_number": "+32470100003", "preferred_channel": "sms", **consent})
        cls.dan = Contact.create(
            {
                "name": "Dan",
                "whatsapp_number": "+32470100004",
                "opt_in_whatsapp": False,
                "opt_in_sms": True,
                "sms_number": "+32470100004",
            }
        )
        cls.eve = Contact.create({"name": "Eve"})

    def campaign(self, **values):
        return self.env["contact.centre.campaign"].create(
            {
                "name": "Spring",
                "channel": "whatsapp",
                "template_id": self.wa_template.id,
                "sms_template_id": self.sms_template.id,
                "whatsapp_config_id": self.whatsapp_config.id,
                "sms_config_id": self.twilio_config.id,
                "use_quiet_hours": False,
                "contact_ids": [fields.Command.set((self.ana | self.ben | self.cid | self.dan | self.eve).ids)],
                **values,
            }
        )

    def run_cron(self):
        """What the dispatch cron runs (its own cursor would not see this test's uncommitted data)."""
        self.env["contact.centre.campaign"]._process_dispatch()

    def opt_out_later(self, contact, minutes=1):
        """``contact`` sends STOP on WhatsApp ``minutes`` after the campaign message (its consent
        event is dated then: the statistics count opt-outs that follow the message)."""
        with freeze_time(fields.Datetime.add(fields.Datetime.now(), minutes=minutes)):
            contact._set_opt_in("whatsapp", False, "keyword")
            contact.flush_recordset()

    def recipients(self, campaign):
        return {r.contact_id.name: (r.state, r.exclusion_reason or r.channel) for r in campaign.recipient_ids}

    def test_whatsapp_campaign_with_exclusions_and_statistics(self):
        campaign = self.campaign()
        campaign.action_schedule()
        self.assertEqual(campaign.state, "scheduled")
        self.run_cron()
        self.assertEqual(campaign.state, "done")
        self.assertEqual(
            self.recipients(campaign),
            {
                "Ana": ("sent", "whatsapp"),
                "Ben": ("sent", "whatsapp"),
                "Cid": ("excluded", "no_number"),
                "Dan": ("excluded", "opted_out"),
                "Eve": ("excluded", "no_number"),
            },
        )
        sent = sent_messages(self.simulator_url)
        self.assertEqual(sorted(m["to"] for m in sent), ["32470100001", "32470100002"])
        self.assertEqual(sent[0]["body"]["template"]["name"], "promo")
        self.assertEqual((campaign.recipient_count, campaign.excluded_count, campaign.sent_count), (2, 3, 2))
        message = campaign.cc_message_ids.filtered(lambda m: m.contact_id == self.ana)
        self.assertEqual(message.body_text, "Hi Ana, 20% off")
        self.assertEqual(message.thread_id.channel, "whatsapp")
        # Delivery, a reply and an opt-out come back afterwards.
        message.status = "read"
        inbound = self.env["contact.centre.message"].create(
            {
                "contact_id": self.ana.id,
                "thread_id": message.thread_id.id,
                "channel": "whatsapp",
                "direction": "inbound",
                "status": "received",
                "body_text": "nice",
                "message_timestamp": fields.Datetime.add(message.message_timestamp, minutes=1),
            }
        )
        self.opt_out_later(self.ben)
        campaign.invalidate_recordset()
        self.assertEqual(
            (campaign.read_count, campaign.delivered_count, campaign.replied_count, campaign.opted_out_count),
            (1, 1, 1, 1),
        )
        self.assertEqual(campaign.read_rate, 50.0)
        self.assertTrue(inbound)

    def test_each_contact_once_with_the_filter(self):
        campaign = self.campaign(filter_domain=f"[('id', 'in', {[self.ana.id, self.ben.id]})]")
        campaign.action_schedule()
        self.run_cron()
        self.assertEqual(len(sent_messages(self.simulator_url)), 2)
        self.assertEqual(len(campaign.recipient_ids), 5)

    def test_both_channels_with_sms_fallback(self):
        campaign = self.campaign(channel="both", sms_fallback=True)
        campaign.action_schedule()
        self.run_cron()
        self.assertEqual(
            self.recipients(campaign),
            {
                "Ana": ("sent", "whatsapp"),
                "Ben": ("sent", "whatsapp"),
                "Cid": ("sent", "sms"),
                "Dan": ("sent", "sms"),
                "Eve": ("excluded", "no_number"),
            },
        )
        by_provider = {m["provider"] for m in sent_messages(self.simulator_url)}
        self.assertEqual(by_provider, {"meta", "twilio"})

    def test_undeliverable_on_whatsapp_falls_back_to_sms(self):
        campaign = self.campaign(sms_fallback=True, contact_ids=[fields.Command.set(self.ana.ids)])
        configure(self.simulator_url, fail_next=[131026])
        campaign.action_schedule()
        self.run_cron()
        self.assertEqual(self.recipients(campaign), {"Ana": ("sent", "sms")})
        self.assertEqual(sorted(campaign.cc_message_ids.mapped("status")), ["failed", "sent"])

    def test_quiet_hours_wait_for_the_end_of_the_window(self):
        campaign = self.campaign(
            use_quiet_hours=True,
            quiet_hours_start=21,
            quiet_hours_end=8,
            contact_ids=[fields.Command.set(self.ana.ids)],
        )
        with freeze_time("2026-11-25 22:30:00"):  # 23:30 in Brussels
            campaign.action_schedule()
            self.run_cron()
            recipient = campaign.recipient_ids
            self.assertEqual(recipient.state, "pending")
            self.assertEqual(recipient.next_attempt, datetime(2026, 11, 26, 7, 0))  # 08:00 in Brussels
            self.assertEqual(sent_messages(self.simulator_url), [])
        with freeze_time("2026-11-26 07:01:00"):
            self.run_cron()
        self.assertEqual(campaign.recipient_ids.state, "sent")
        self.assertEqual(campaign.state, "done")

    def test_pause_and_resume(self):
        campaign = self.campaign()
        campaign.action_schedule()
        campaign.action_pause()
        self.run_cron()
        self.assertEqual(sent_messages(self.simulator_url), [])
        campaign.action_resume()
        self.assertEqual(campaign.state, "running")
        self.run_cron()
        self.assertEqual(campaign.state, "done")
        self.assertEqual(len(sent_messages(self.simulator_url)), 2)

    def test_broken_credentials_stop_the_campaign_with_the_reason(self):
        campaign = self.campaign()
        configure(self.simulator_url, meta_access_token="not-ours")
        campaign.action_schedule()
        self.run_cron()
        self.assertEqual(campaign.state, "paused")
        self.assertIn("configuration", campaign.stop_reason)
        self.assertEqual(
            set(campaign.recipient_ids.filtered(lambda r: r.state != "excluded").mapped("state")), {"pending"}
        )
        configure(self.simulator_url, meta_access_token=None)
        campaign.action_resume()
        self.run_cron()
        self.assertEqual(campaign.state, "done")

    def test_throttling_backs_off_and_retries_later(self):
        campaign = self.campaign(contact_ids=[fields.Command.set(self.ana.ids)])
        configure(self.simulator_url, fail_next=["http:503"] * 4)
        with patch.object(type(self.whatsapp_config._get_provider()), "backoff", 0.001):
            campaign.action_schedule()
            self.run_cron()
        recipient = campaign.recipient_ids
        self.assertEqual((recipient.state, recipient.attempts), ("pending", 1))
        self.assertTrue(recipient.next_attempt)
        recipient.next_attempt = fields.Datetime.now()
        self.run_cron()
        self.assertEqual(recipient.state, "sent")

    def test_in_flight_recipients_of_a_dead_run_await_the_provider_then_review(self):
        """Recipients handed over by a run whose process died are never sent again by themselves:
        unconfirmed until the provider's word, to review once the number's wait is over."""
        campaign = self.campaign(contact_ids=[fields.Command.set(self.ana.ids)])
        campaign.action_schedule()
        campaign.write({"state": "running"})
        campaign._prepare_recipients()
        dead_run = 12345  # no session holds its advisory lock
        campaign._hand_over(campaign.recipient_ids, dead_run)
        self.run_cron()
        recipient = campaign.recipient_ids
        self.assertEqual(recipient.state, "unconfirmed")
        self.assertEqual(sent_messages(self.simulator_url), [])
        self.assertEqual((campaign.unconfirmed_count, campaign.review_count), (1, 0))
        self.assertEqual(campaign.state, "done", "the dispatch is over: only the provider's word is awaited")
        with freeze_time(fields.Datetime.now() + timedelta(minutes=16)):
            self.env["contact.centre.message"]._settle_unconfirmed()
        self.assertEqual((recipient.state, recipient.message_id.needs_review), ("review", True))
        campaign.invalidate_recordset()
        self.assertEqual(campaign.review_count, 1)

    def test_a_red_number_or_a_full_messaging_limit_pauses_the_campaign(self):
        campaign = self.campaign(contact_ids=[fields.Command.set((self.ana | self.ben).ids)])
        self.whatsapp_config.quality_rating = "RED"
        campaign.action_schedule()
        self.run_cron()
        self.assertEqual(campaign.state, "paused")
        self.assertIn("red", campaign.stop_reason)
        self.assertEqual(sent_messages(self.simulator_url), [])
        self.whatsapp_config.write({"quality_rating": "GREEN", "messaging_limit_tier": "TIER_250"})
        with patch.object(type(self.whatsapp_config), "_unique_customers_today", lambda config: 249):
            campaign.action_resume()
            self.run_cron()
        self.assertEqual(campaign.state, "paused", "2 more customers would exceed the 250 of the tier")
        self.assertIn("messaging limit", campaign.stop_reason)
        campaign.action_resume()
        self.run_cron()
        self.assertEqual((campaign.state, len(sent_messages(self.simulator_url))), ("done", 2))

    def test_unapproved_template_cannot_be_scheduled_and_test_send(self):
        self.wa_template.approval_status = "pending"
        with self.assertRaisesRegex(UserError, "not approved"):
            self.campaign().action_schedule()
        self.wa_template.approval_status = "approved"
        campaign = self.campaign(test_contact_id=self.ana.id)
        message = campaign.action_test_send()
        self.assertEqual((message.template_id, message.campaign_id.id), (self.wa_template, False))

    def test_a_template_with_a_value_nothing_fills_cannot_be_scheduled(self):
        """A transactional template (an order number in {{2}}) in a campaign would fail on every
        recipient: scheduling says so, and which value, before anything is sent."""
        self.wa_template.body_text = "Hi {{1}}, your order {{2}} has shipped"
        campaign = self.campaign()
        with self.assertRaisesRegex(UserError, r"nothing fills for each contact: \{\{2\}\}"):
            campaign.action_schedule()
        self.assertEqual(campaign.state, "draft")
        # Typed by the agent (in the inbox) or a fixed value left empty: nobody types in a campaign.
        line = self.env["contact.centre.template.variable"].create(
            {"template_id": self.wa_template.id, "placeholder": "2", "source": "free"}
        )
        with self.assertRaisesRegex(UserError, r"\{\{2\}\}"):
            campaign.action_schedule()
        line.source = "fixed"
        with self.assertRaisesRegex(UserError, r"\{\{2\}\}"):
            campaign.action_schedule()
        line.fixed_value = "of this week"
        campaign.action_schedule()
        self.assertEqual(campaign.state, "scheduled")
        # A named placeholder that is a contact field ({{name}}) is filled by the contact: SMS template.
        self.assertEqual(self.sms_template._unfilled_keys(), [])

    def test_sms_campaign_cost_estimate(self):
        campaign = self.campaign(
            channel="sms",
            template_id=self.sms_template.id,
            sms_segment_cost=0.05,
            contact_ids=[fields.Command.set((self.ana | self.cid).ids)],
        )
        self.assertEqual(campaign.sms_segments, 1)
        self.assertAlmostEqual(campaign.sms_cost_estimate, 0.10)
        campaign.action_schedule()
        self.run_cron()
        bodies = sorted(m["body"]["Body"] for m in sent_messages(self.simulator_url))
        self.assertEqual(bodies, ["Hi Ana, 20% off", "Hi Cid, 20% off"])

    def test_the_message_preview_is_what_the_first_listed_contact_receives(self):
        campaign = self.campaign(contact_ids=[fields.Command.set((self.ben | self.ana).ids)])
        self.assertEqual(campaign.preview_contact_id, self.ana)  # the first by id
        self.assertEqual(campaign.template_preview, "Hi Ana, 20% off")
        campaign.action_schedule()
        self.run_cron()
        sent = campaign.recipient_ids.filtered(lambda r: r.contact_id == self.ana).message_id
        self.assertEqual(sent.body_text, campaign.template_preview)
        unlisted = self.campaign(contact_ids=[])
        self.assertFalse(unlisted.preview_contact_id)
        self.assertEqual(unlisted.template_preview, self.wa_template.full_preview)  # the sample values
        # Contacts picked before the template (the form computes the preview at each change).
        untemplated = self.campaign(contact_ids=[fields.Command.set(self.ana.ids)], template_id=False)
        self.assertEqual((untemplated.preview_contact_id, untemplated.template_preview), (self.ana, False))
        with Form(self.env["contact.centre.campaign"]) as form:  # the same, unsaved, as the form asks
            form.name = "Picked first"
            form.contact_ids.add(self.ana)
            self.assertEqual((form.preview_contact_id, form.template_preview), (self.ana, False))

    # Issue #11: an empty audience, conversations, one message per number, statistics.

    def share_number(self, contact, field, number):
        """Give ``contact`` a number another contact has, as contacts made before numbers were unique
        per company, or imported, may (the ORM refuses it now)."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL("UPDATE contact_centre_contact SET %s = %s WHERE id = %s", SQL.identifier(field), number, contact.id)
        )
        contact.invalidate_recordset([field])

    def test_an_empty_audience_is_refused_and_schedule_counts_the_real_audience(self):
        empty = self.campaign(contact_ids=[], filter_domain="[]")
        self.assertEqual(empty.audience_count, 0)
        self.assertFalse(empty.has_filter)
        with self.assertRaisesRegex(UserError, "0 contacts"):
            empty.action_confirm_schedule()
        with self.assertRaisesRegex(UserError, "0 contacts"):
            empty.action_schedule()
        self.assertEqual(empty.state, "draft")
        # Adding a filter starts with a rule that matches nobody until it is filled in.
        empty.action_add_filter()
        self.assertTrue(empty.has_filter)
        self.assertEqual(empty.audience_count, 0)

        # Listed Ana and Ben, the filter matches Ben (again), Cid and a contact of another company.
        other_company = self.env["res.company"].create({"name": "Other Company"})
        self.env["contact.centre.contact"].create(
            {"name": "Cid", "whatsapp_number": "+32470100099", "company_id": other_company.id}
        )
        ana_bis = self.env["contact.centre.contact"].create(
            {"name": "Ana Bis", "whatsapp_number": "+32470100098", "opt_in_whatsapp": True}
        )
        self.share_number(ana_bis, "whatsapp_number", self.ana.whatsapp_number)
        campaign = self.campaign(
            contact_ids=[fields.Command.set((self.ana | self.ben | ana_bis | self.dan).ids)],
            filter_domain="[('name', 'in', ['Ben', 'Cid'])]",
        )
        self.assertEqual(campaign.audience_count, 5)  # Ana, Ana Bis, Ben, Cid, Dan: each once, this company
        action = campaign.action_confirm_schedule()
        self.assertEqual(campaign.state, "draft")
        wizard = self.env[action["res_model"]].with_context(action["context"]).create({})
        self.assertEqual(wizard.summary, "Send to 5 contacts?")
        # Known already: Cid has no WhatsApp number, Dan opted out, Ana Bis shares Ana's number.
        self.assertEqual(
            (wizard.no_number_count, wizard.opted_out_count, wizard.duplicate_count, wizard.excluded_count),
            (1, 1, 1, 3),
        )
        wizard.action_confirm()
        self.assertEqual(campaign.state, "scheduled")
        self.run_cron()
        self.assertEqual(len(campaign.recipient_ids), 5)
        self.assertEqual(campaign.excluded_count, 3)
        self.assertEqual(len(sent_messages(self.simulator_url)), 2)

    def test_campaign_messages_update_their_conversations(self):
        # Ana already talked with us two days ago; Ben never did.
        old = fields.Datetime.subtract(fields.Datetime.now(), days=2)
        thread = self.env["contact.centre.thread"]._get_or_create(self.ana, "whatsapp")
        thread.write({"last_message_date": old, "last_message_preview": "An old question"})
        quiet = self.env["contact.centre.thread"]._get_or_create(self.cid, "sms")  # no message at all
        campaign = self.campaign(contact_ids=[fields.Command.set((self.ana | self.ben).ids)])
        campaign.action_schedule()
        Thread = type(self.env["contact.centre.thread"])
        with patch.object(Thread, "write", autospec=True, side_effect=Thread.write) as thread_write:
            self.run_cron()
        self.assertFalse(thread_write.called, "conversations are updated in bulk SQL, never one ORM write each")
        self.assertEqual(campaign.state, "done")
        for contact in self.ana | self.ben:
            message = campaign.cc_message_ids.filtered(lambda m, c=contact: m.contact_id == c)
            conversation = message.thread_id
            self.assertEqual(conversation.last_message_preview, f"Hi {contact.name}, 20% off")
            self.assertEqual(conversation.last_message_date, message.message_timestamp)
            self.assertEqual(contact.last_outbound_date, message.message_timestamp)
            self.assertEqual(contact.last_message_date, message.message_timestamp)
        self.assertEqual(thread, self.ana.thread_ids)
        # Conversations holding only campaign messages sort with the others, by their time.
        ordered = self.env["contact.centre.thread"].search(
            [("id", "in", (self.ana | self.ben | self.cid).thread_ids.ids)]
        )
        self.assertEqual(ordered[-1], quiet)
        # An older message of a conversation never takes the place of a newer one.
        later = fields.Datetime.add(fields.Datetime.now(), hours=1)
        thread.write({"last_message_date": later, "last_message_preview": "Newer"})
        campaign.cc_message_ids.filtered(lambda m: m.thread_id == thread)._touch_conversations()
        self.assertEqual((thread.last_message_date, thread.last_message_preview), (later, "Newer"))

    def test_one_message_per_number_and_channel(self):
        ana_bis = self.env["contact.centre.contact"].create(
            {"name": "Ana Bis", "whatsapp_number": "+32470100098", "opt_in_whatsapp": True}
        )
        self.share_number(ana_bis, "whatsapp_number", self.ana.whatsapp_number)
        cid_bis = self.env["contact.centre.contact"].create(
            {"name": "Cid Bis", "sms_number": "+32470100097", "preferred_channel": "sms", "opt_in_sms": True}
        )
        self.share_number(cid_bis, "sms_number", self.cid.sms_number)
        campaign = self.campaign(
            channel="both",
            contact_ids=[fields.Command.set((self.ana | ana_bis | self.ben | self.cid | cid_bis).ids)],
        )
        campaign.action_schedule()
        self.run_cron()
        self.assertEqual(
            self.recipients(campaign),
            {
                "Ana": ("sent", "whatsapp"),
                "Ana Bis": ("excluded", "duplicate_number"),
                "Ben": ("sent", "whatsapp"),
                "Cid": ("sent", "sms"),
                "Cid Bis": ("excluded", "duplicate_number"),
            },
        )
        self.assertEqual(
            sorted(m["to"] for m in sent_messages(self.simulator_url)),
            ["+32470100003", "32470100001", "32470100002"],
        )
        duplicate = campaign.recipient_ids.filtered(lambda r: r.contact_id == ana_bis)
        self.assertEqual(
            dict(duplicate._fields["exclusion_reason"].selection)[duplicate.exclusion_reason],
            "Another contact with this number is in the campaign",
        )

    def test_recipients_button_and_replies_without_opt_outs(self):
        campaign = self.campaign()
        campaign.action_schedule()
        self.run_cron()
        Recipient = self.env["contact.centre.campaign.recipient"]
        listed = Recipient.search(campaign.action_view_recipients()["domain"])
        self.assertEqual(len(listed), campaign.recipient_count)
        self.assertEqual((campaign.recipient_count, set(listed.mapped("state"))), (2, {"sent"}))
        excluded = Recipient.search(campaign.action_view_excluded()["domain"])
        self.assertEqual((len(excluded), campaign.excluded_count), (3, 3))

        def reply(contact, text, minutes):
            message = campaign.cc_message_ids.filtered(lambda m: m.contact_id == contact)
            return self.env["contact.centre.message"].create(
                {
                    "contact_id": contact.id,
                    "thread_id": message.thread_id.id,
                    "channel": "whatsapp",
                    "direction": "inbound",
                    "status": "received",
                    "body_text": text,
                    "message_timestamp": fields.Datetime.add(message.message_timestamp, minutes=minutes),
                }
            )

        reply(self.ana, "Nice, thanks!", 1)
        reply(self.ben, " Stop! ", 1)  # an opt-out, not a reply
        self.opt_out_later(self.ben)
        campaign.invalidate_recordset()
        self.assertEqual((campaign.replied_count, campaign.opted_out_count), (1, 1))
        # A configured opt-out word, accents and case aside, is no reply either.
        self.env["ir.config_parameter"].set_param("contact_centre.opt_out_words", "Arrêt")
        reply(self.ben, "ARRET", 2)
        campaign.invalidate_recordset()
        self.assertEqual(campaign.replied_count, 1)
        # What the contact writes afterwards is a reply.
        reply(self.ben, "Why did I get this?", 3)
        campaign.invalidate_recordset()
        self.assertEqual((campaign.replied_count, campaign.replied_rate), (2, 100.0))

    def test_the_form_lists_the_first_contacts_of_a_large_list_only(self):
        """A campaign's form is not sent every id of its list (a million for a large campaign):
        the first ones (by id) are listed, all are counted, and editing the list still works."""
        campaign = self.campaign()
        everyone = (self.ana | self.ben | self.cid | self.dan | self.eve).sorted("id")
        form = {"listed_count": {}, "listed_truncated": {}, "contact_ids": {"fields": {"name": {}}, "limit": 2}}
        with patch("odoo.addons.contact_centre.models.contact_centre_campaign.LISTED_IN_FORM", 3):
            campaign.invalidate_recordset(["listed_count", "listed_truncated"])
            [values] = campaign.web_read(form)
        self.assertEqual(values["listed_count"], 5)
        self.assertTrue(values["listed_truncated"])
        self.assertEqual(
            values["contact_ids"],
            [
                {"id": everyone[0].id, "name": everyone[0].name},
                {"id": everyone[1].id, "name": everyone[1].name},
                {"id": everyone[2].id},
            ],
        )
        # The form's edits are link and unlink commands: one not shown can still be taken off the list.
        campaign.write({"contact_ids": [fields.Command.unlink(everyone[4].id)]})
        self.assertEqual(campaign.contact_ids, everyone[:4])
        self.assertEqual(campaign.audience_count, 4)
        [values] = campaign.web_read({"contact_ids": {}, "listed_truncated": {}})
        self.assertEqual(values["contact_ids"], everyone[:4].ids)
        self.assertFalse(values["listed_truncated"])

    def test_tallies_follow_every_change_and_fold_without_losing_a_count(self):
        """The statistics read PostgreSQL's running tallies: they must agree with a plain count of
        the rows after inserts, updates, deletes and a fold, and forget a deleted campaign."""
        Tally = self.env["contact.centre.campaign.tally"]

        def counted(campaign):
            """What the tallies say, against a plain GROUP BY of the rows."""
            tally = Tally._counts(campaign.ids).get(campaign.id, {})
            states = dict(
                self.env.execute_query(
                    SQL(
                        """SELECT state, COUNT(*) FROM contact_centre_campaign_recipient
                            WHERE campaign_id = %s GROUP BY state""",
                        campaign.id,
                    )
                )
            )
            statuses = dict(
                self.env.execute_query(
                    SQL(
                        """SELECT status, COUNT(*) FROM contact_centre_message
                            WHERE campaign_id = %s AND direction = 'outbound' GROUP BY status""",
                        campaign.id,
                    )
                )
            )
            self.assertEqual(tally.get("state", {}), states)
            self.assertEqual(tally.get("status", {}), statuses)
            return states, statuses

        def tally_rows(campaign):
            return self.env.execute_query(
                SQL("SELECT COUNT(*) FROM contact_centre_campaign_tally WHERE campaign_id = %s", campaign.id)
            )[0][0]

        campaign = self.campaign()
        campaign.action_schedule()
        self.run_cron()
        self.assertEqual(counted(campaign), ({"sent": 2, "excluded": 3}, {"sent": 2}))
        self.assertEqual(campaign.audience_count, 5)  # once prepared, read from the tallies
        messages = campaign.cc_message_ids
        for status in ("delivered", "read"):
            for message in messages:
                message.status = status
                message.flush_recordset()
        messages[0].status = "failed"
        self.assertEqual(counted(campaign)[1], {"read": 1, "failed": 1})
        self.assertEqual(campaign.read_count, 1)
        campaign.recipient_ids.filtered(lambda r: r.state == "excluded")[:1].unlink()
        self.assertEqual(counted(campaign)[0], {"sent": 2, "excluded": 2})
        # Folding leaves one row per key, and the same figures.
        with patch("odoo.addons.contact_centre.models.contact_centre_campaign_tally.FOLD_ABOVE", 0):
            Tally._fold()
        self.assertEqual(counted(campaign), ({"sent": 2, "excluded": 2}, {"read": 1, "failed": 1}))
        self.assertEqual(tally_rows(campaign), 4)
        # A deleted campaign's tally goes with the next fold; a message moved out of it leaves its count.
        other = self.campaign(name="Autumn")
        other.action_schedule()
        self.run_cron()
        other.cc_message_ids[:1].campaign_id = campaign
        self.assertEqual(counted(campaign)[1], {"read": 1, "failed": 1, "sent": 1})
        self.assertEqual(counted(other)[1], {"sent": 1})
        other.unlink()
        Tally._fold()
        self.assertEqual(tally_rows(other), 0)

    def test_claims_go_forward_then_back_for_what_came_due(self):
        """Each claim looks past the last one the run found (never again over what was sent),
        and once nothing is left there, from the start: a recipient back in the queue (a retry now
        due) is still claimed."""
        campaign = self.campaign(state="running")
        campaign._prepare_recipients()
        ana, ben = (campaign.recipient_ids.filtered(lambda r: r.state == "pending")).sorted("id")
        progress = {}
        self.assertEqual(campaign._next_batch(1, progress), ana)
        ana.state = "sending"
        self.assertEqual(campaign._next_batch(1, progress), ben)
        self.assertEqual(progress["after"], ben.id)
        ana.state, ben.state = "pending", "sending"  # ana's message is to be sent again
        self.assertEqual(campaign._next_batch(5, progress), ana)
        ana.state = "sending"
        self.assertFalse(campaign._next_batch(5, progress))

    def test_a_claim_rolled_back_is_looked_for_again_where_it_began(self):
        """A claim undone by a conflict (its own statements met another process's changes, or its
        turn's answers did) leaves its recipients pending: the next claim finds them, not the end
        of the campaign."""
        campaign = self.campaign(state="running")
        campaign._prepare_recipients()
        ana, ben = (campaign.recipient_ids.filtered(lambda r: r.state == "pending")).sorted("id")
        progress = {}
        conflict = SerializationFailure("could not serialize access due to concurrent update")
        with patch.object(type(campaign), "_hand_over", side_effect=conflict), self.assertRaises(SerializationFailure):
            campaign._claim_recipients(1, 1, progress)
        self.assertEqual(campaign._next_batch(1, progress), ana)
        campaign._claim_undone(progress)
        self.assertEqual(campaign._claim_recipients(1, 1, progress)[0], 1)
        self.assertEqual(ana.state, "sending")
        ana.state = "pending"  # as the rollback of that claim leaves it
        campaign._claim_undone(progress)
        self.assertEqual(campaign._next_batch(1, progress), ana)
        self.assertEqual(campaign._next_batch(1, progress), ben)

    def test_a_cron_job_whose_time_is_up_sends_nothing_and_the_next_job_is_woken(self):
        """Odoo's cron calls the dispatch again and again in one job: once the job's time is up a
        call sends nothing (it started a sender process only to find the time up), and the call
        whose time ran out while sending wakes the cron for the next job (Odoo reschedules the
        job, but wakes no cron worker)."""
        campaign = self.campaign(state="running")
        cron = campaign._dispatch_cron()
        Message, Campaign = self.env["contact.centre.message"], self.env["contact.centre.campaign"]
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        with patch.object(type(Message), "_commit_sending", return_value=False):
            self.run_cron()
        self.assertFalse(campaign.audience_ready)
        self.assertFalse(sent_messages(self.simulator_url))

        def time_up_once_handed_over(_self, handed_over, remaining=None, keep=None):
            return not handed_over  # up at the first commit of a claim: what it claimed still leaves

        with patch.object(type(Message), "_commit_sending", autospec=True, side_effect=time_up_once_handed_over):
            Campaign.with_context(cron_id=cron.id)._process_dispatch()
        self.assertEqual(len(sent_messages(self.simulator_url)), 2)  # Ana and Ben on WhatsApp
        woken = self.env["ir.cron.trigger"].search([("cron_id", "=", campaign._dispatch_cron().id)]) - triggers
        self.assertEqual(len(woken), 1)
        self.assertLessEqual(woken.call_at, fields.Datetime.now())

    def test_a_turn_costs_the_same_statements_for_ten_recipients_as_for_forty(self):
        """A campaign's hot path (issue #14): a claim (recipients found and locked with their
        contact and channel, conversations made, messages inserted and checked again, the rate
        limit booked) and the recording of the provider's answers take a fixed number of
        statements, none per recipient; each turn starts with an empty cache, as after a commit,
        except what the run keeps (``_dispatch_settings``)."""
        Contact = self.env["contact.centre.contact"]

        def statements(work, keep=()):
            self.env.flush_all()
            kept = cached_values(keep)
            self.env.invalidate_all()
            restore_cached(kept)
            before = self.env.cr.sql_log_count
            result = work()
            self.env.flush_all()
            return self.env.cr.sql_log_count - before, result

        def turn(size, keep=False):
            contacts = Contact.create(
                [
                    {"name": f"Bulk {size}-{i}", "whatsapp_number": f"+32471{size:02d}{i:04d}", "opt_in_whatsapp": True}
                    for i in range(size + keep)
                ]
            )
            campaign = self.campaign(contact_ids=[fields.Command.set(contacts.ids)], state="running")
            campaign._prepare_recipients()
            settings = ()
            if keep:  # the run's first turn reads the settings, its next ones keep them (``_send_pipelined``)
                _claimed, [(key, *_send)] = campaign._claim_recipients(1, 7)
                campaign._record_answers([(key, SendResult(f"wamid.turn-{size}-first"))])
                settings = campaign._dispatch_settings()
            claim, (claimed, hand_overs) = statements(lambda: campaign._claim_recipients(size, 7), settings)
            self.assertEqual((claimed, len(hand_overs)), (size, size))
            answers = [(key, SendResult(f"wamid.turn-{size}-{i}")) for i, (key, *_send) in enumerate(hand_overs)]
            record, _ = statements(lambda: campaign._record_answers(answers))
            self.assertEqual(set(campaign.recipient_ids.mapped("state")), {"sent"})
            self.assertEqual(set(campaign.cc_message_ids.mapped("status")), {"sent"})
            return claim, record

        turn(3)  # the first reads what Odoo keeps beyond a transaction (settings, translations)
        small, large = turn(10), turn(40)
        self.assertEqual(small, large, "(claim, record) statements for 10 and for 40 recipients")
        claim, record = small
        # Measured: 10 and 1; 12 before the contacts and the partner fields the template renders
        # came with their recipients' locking statement, 14 before the conversations and messages
        # written were put in the cache from what their statements returned, 15 and 2 before the
        # send times were booked at the hand-over and the recipients marked sent with their
        # messages, 17 and 2 before that (recording also read the time after each commit of a run,
        # which a test's one transaction hides).
        self.assertLessEqual(claim, 10)
        self.assertEqual(record, 1)
        # A run keeps its campaign, templates and configurations in cache across its commits: 3
        # measured (recipients with their contacts, conversations, the hand-over's insert; 5
        # before the contacts came with their recipients, 6 before the campaign itself was kept,
        # its state read by the claim's statement).
        kept, _record = turn(11, keep=True)
        self.assertLessEqual(kept, 3)

    def test_a_run_keeps_its_settings_across_a_commit_but_not_the_campaigns_recipients(self):
        """What a dispatch keeps in cache across its commits (``_dispatch_settings``): the stored
        values of its campaign, templates and configurations, a template's variables (their records
        are kept too), never a list whose records are not kept (the campaign's recipients)."""
        campaign = self.campaign(state="running")
        campaign._prepare_recipients()
        settings = campaign._dispatch_settings()
        # What a turn reads, in the cache now.
        self.assertTrue(campaign.name and campaign.whatsapp_config_id.rate_limit)
        campaign.recipient_ids.mapped("state")
        campaign.template_id.variable_ids.mapped("placeholder")
        kept = cached_values(settings)
        self.env.invalidate_all()
        restore_cached(kept)

        def statements(read):
            before = self.env.cr.sql_log_count
            read()
            return self.env.cr.sql_log_count - before

        self.assertEqual(statements(lambda: (campaign.name, campaign.whatsapp_config_id.rate_limit)), 0)
        self.assertEqual(statements(lambda: campaign.template_id.variable_ids.mapped("placeholder")), 0)
        self.assertGreater(statements(lambda: campaign.recipient_ids.mapped("state")), 0)

    def test_a_campaign_paused_meanwhile_is_not_claimed_whatever_the_cache_says(self):
        """A dispatch keeps its campaign in cache across its commits: the claim reads the campaign's
        state in its own statement, and claims nothing once someone else paused it."""
        contacts = self.env["contact.centre.contact"].create(
            [{"name": f"Paused {i}", "whatsapp_number": f"+32471990{i:03d}", "opt_in_whatsapp": True} for i in range(3)]
        )
        campaign = self.campaign(contact_ids=[fields.Command.set(contacts.ids)], state="running")
        campaign._prepare_recipients()
        claimed, _hand_overs = campaign._claim_recipients(1, 7)
        self.assertEqual(claimed, 1)
        self.env.flush_all()
        self.env.cr.execute(SQL("UPDATE contact_centre_campaign SET state = 'paused' WHERE id = %s", campaign.id))
        self.assertEqual(campaign.state, "running", "the cache still says running")
        self.assertEqual(campaign._claim_recipients(5, 7), (0, []))
        self.assertEqual(sorted(campaign.recipient_ids.mapped("state")), ["pending", "pending", "sending"])

    def test_a_large_campaign_sends_from_a_sender_process(self):
        """Past ``contact_centre.sender_process_from`` recipients still to send, the requests are
        made by a sender process (tools/send_worker.py): the same messages, answers and statistics."""
        self.env["ir.config_parameter"].sudo().set_param("contact_centre.sender_process_from", "2")
        campaign = self.campaign()
        campaign.action_schedule()
        with patch(
            "odoo.addons.contact_centre.models.contact_centre_message.sender_process", wraps=sender_process
        ) as pipeline:
            self.run_cron()
        # Its providers' first-use imports made before it is ready (the campaign's number and SMS provider).
        pipeline.assert_called_once_with(100, prepare=("meta", "twilio"))
        self.assertEqual(campaign.state, "done")
        self.assertEqual((campaign.recipient_count, campaign.sent_count), (2, 2))
        sent = sent_messages(self.simulator_url)
        self.assertEqual(sorted(m["to"] for m in sent), ["32470100001", "32470100002"])
        self.assertEqual(sorted(campaign.cc_message_ids.mapped("external_message_id")), sorted(m["id"] for m in sent))
        # Below the threshold (or with 0), the threads of the dispatching process send.
        other = self.campaign()
        other._prepare_recipients()  # two to send
        self.assertEqual(other._sends_from_own_process(), ("meta", "twilio"))
        for threshold in ("3", "0"):
            self.env["ir.config_parameter"].sudo().set_param("contact_centre.sender_process_from", threshold)
            self.assertFalse(other._sends_from_own_process())
