from odoo.tests import TransactionCase, new_test_user


class ContactCentreCase(TransactionCase):
    """Users of each role, a WhatsApp number and an SMS provider, and a few contacts."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.agent = new_test_user(cls.env, "cc_agent", groups="contact_centre.group_contact_centre_agent")
        cls.agent2 = new_test_user(cls.env, "cc_agent2", groups="contact_centre.group_contact_centre_agent")
        cls.supervisor = new_test_user(
            cls.env, "cc_supervisor", groups="contact_centre.group_contact_centre_supervisor"
        )
        cls.admin = new_test_user(cls.env, "cc_admin", groups="contact_centre.group_contact_centre_admin")
        cls.whatsapp_config = cls.env["contact.centre.whatsapp.config"].create(
            {
                "name": "Test WhatsApp",
                "account_id": "waba-test",
                "phone_number_id": "900000000000001",
                "access_token": "test-access-token",
                "app_secret": "test-app-secret",
                "verify_token": "test-verify-token",
            }
        )
        cls.twilio_config = cls.env["contact.centre.sms.config"].create(
            {
                "name": "Test Twilio",
                "provider": "twilio",
                "sender": "+15005550006",
                "twilio_account_sid": "ACtest00000000000000000000000000000",
                "twilio_auth_token": "test-auth-token",
            }
        )
        Contact = cls.env["contact.centre.contact"]
        cls.contact_agent = Contact.create(
            {"name": "Assigned To Agent", "whatsapp_number": "+32470000001", "assigned_agent_id": cls.agent.id}
        )
        cls.contact_agent2 = Contact.create(
            {"name": "Assigned To Agent 2", "whatsapp_number": "+32470000002", "assigned_agent_id": cls.agent2.id}
        )
        cls.contact_free = Contact.create({"name": "Unassigned", "whatsapp_number": "+32470000003"})
