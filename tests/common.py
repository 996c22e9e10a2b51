import hashlib
import hmac
import json
import time

from odoo.tests import TransactionCase, new_test_user

from ..tools.simulator.control import configure, reset
from ..tools.simulator.server import start_in_thread


class ContactCentreData:
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

    def process_webhooks(self):
        """Ingest the queued webhook events, as the processing cron does right after a webhook."""
        self.env["contact.centre.webhook.event"]._process_pending()


class ContactCentreCase(ContactCentreData, TransactionCase):
    pass


class SimulatorMixin:
    """Starts the provider simulator in-process and points the test configurations at it."""

    @classmethod
    def start_simulator(cls):
        cls.simulator, cls.simulator_url = start_in_thread()
        cls.addClassCleanup(cls.simulator.shutdown)
        cls.whatsapp_config.api_base_url = cls.simulator_url
        cls.twilio_config.api_base_url = cls.simulator_url
        configure(cls.simulator_url, status_delay_ms=5, callbacks=False)

    def setUp(self):
        super().setUp()
        reset(self.simulator_url)
        configure(self.simulator_url, status_delay_ms=5, callbacks=False)

    def post_statuses_back(self, delay_ms):
        """Have the simulator post each sent WhatsApp message's statuses to this test server's
        webhook, signed with the test number's app secret, ``delay_ms`` apart (HttpCase only)."""
        configure(
            self.simulator_url,
            callbacks=True,
            status_delay_ms=delay_ms,
            meta_webhook_url=self.base_url() + "/contact_centre/webhook/whatsapp",
            meta_app_secret="test-app-secret",
        )


def meta_payload(messages=(), statuses=(), number_id="900000000000001", contacts=None, field="messages", value=None):
    value = value or {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100001", "phone_number_id": number_id},
        "contacts": contacts
        if contacts is not None
        else [{"profile": {"name": "Emma Webhook"}, "wa_id": "32470999001"}],
        "messages": list(messages),
        "statuses": list(statuses),
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "waba-test", "changes": [{"field": field, "value": value}]}],
    }


def meta_text(wamid, text, sender="32470999001", **extra):
    return {
        "from": sender,
        "id": wamid,
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": text},
        **extra,
    }


def meta_status(wamid, status, **extra):
    return {"id": wamid, "status": status, "timestamp": str(int(time.time())), "recipient_id": "32470999001", **extra}


def meta_signed(payload, secret="test-app-secret"):
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
