from odoo import fields
from odoo.tests import HttpCase, tagged

from ..tools.simulator.control import sent_messages
from .common import ContactCentreData, SimulatorMixin


@tagged("post_install", "-at_install")
class TestCampaignTour(SimulatorMixin, ContactCentreData, HttpCase):
    """A supervisor schedules a campaign in Chromium: refused without contacts, "Send to 2 contacts?"
    with two; after the dispatch, a recipient's conversation shows the campaign text and time."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_simulator()
        cls.env["contact.centre.automation"].search([]).active = False
        cls.whatsapp_config.rate_limit = 1000
        cls.env["contact.centre.template"].create(
            {
                "name": "Tour Promo Template",
                "channel": "whatsapp",
                "whatsapp_config_id": cls.whatsapp_config.id,
                "meta_template_name": "tour_promo",
                "approval_status": "approved",
                "body_text": "Hi {{1}}, 20% off",
                "variable_ids": [fields.Command.create({"placeholder": "1", "field_name": "name"})],
            }
        )
        Contact = cls.env["contact.centre.contact"]
        cls.tour_ana = Contact.create({"name": "Tour Ana", "whatsapp_number": "+32470600001", "opt_in_whatsapp": True})
        cls.tour_ben = Contact.create({"name": "Tour Ben", "whatsapp_number": "+32470600002", "opt_in_whatsapp": True})

    def test_schedule_then_conversation_preview(self):
        self.start_tour(
            "/odoo/action-contact_centre.contact_centre_campaign_action/new",
            "contact_centre_campaign_schedule",
            login="cc_supervisor",
            timeout=90,
        )
        campaign = self.env["contact.centre.campaign"].search([("name", "=", "Tour Promo")])
        self.assertEqual(campaign.state, "scheduled")
        self.assertEqual(campaign.contact_ids, self.tour_ana | self.tour_ben)
        self.assertFalse(campaign._filter_domain())
        # Quiet hours depend on the hour the test runs at: not what this tour is about.
        campaign.use_quiet_hours = False
        # What the dispatch cron runs (crons do not run in tests).
        self.env["contact.centre.campaign"]._process_dispatch()
        self.assertEqual(campaign.state, "done")
        self.assertEqual(len(sent_messages(self.simulator_url)), 2)
        thread = self.tour_ana.thread_ids
        self.assertEqual(thread.last_message_preview, "Hi Tour Ana, 20% off")
        self.start_tour(
            "/odoo/action-contact_centre.contact_centre_thread_action",
            "contact_centre_campaign_conversation",
            login="cc_supervisor",
            timeout=60,
        )
