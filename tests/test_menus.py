import logging
import re
from contextlib import contextmanager

from lxml import etree

from odoo.exceptions import ValidationError
from odoo.tests import HttpCase, TransactionCase, tagged
from odoo.tools.safe_eval import safe_eval

ROOT_MENU = "contact_centre.contact_centre_menu_root"
# What the tour logs of each menu (static/tests/tours/menus_tour.js).
OUTCOME = re.compile(r"^Menu contact_centre\.(\w+): (rendered|no record|read-only row|first record opened)\b")


class _Console(logging.Handler):
    """The browser console's messages: the outcome of each menu, and the warnings and errors."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.outcomes = {}
        self.warnings = []

    def emit(self, record):
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            self.warnings.append(message)
        elif match := OUTCOME.match(message):
            self.outcomes[match[1]] = match[2]


@tagged("post_install", "-at_install")
class TestMenus(HttpCase):
    """Every Contact Centre menu, and the first record of its list or kanban, opens in the browser
    without a client error, for the demo administrator, supervisor and agent."""

    def menus_of(self, login):
        """The menus of the Contact Centre app the user sees, in navbar order, as the web client
        gets them: [(section, xmlid)], ``section`` being the xmlid of the navbar dropdown holding
        the menu (False for a menu of the navbar itself)."""
        user = self.env["res.users"].search([("login", "=", login)])
        self.assertTrue(user, f"demo user {login}")
        menus = self.env["ir.ui.menu"].with_user(user).load_menus(False)
        root = next((menu for menu in menus.values() if menu.get("xmlid") == ROOT_MENU), None)
        self.assertTrue(root, f"{login} sees the Contact Centre app")
        visits = []

        def walk(menu_id, section):
            menu = menus[menu_id]
            if menu["children"]:
                for child_id in menu["children"]:
                    walk(child_id, section or menu["xmlid"])
                return
            self.assertTrue(menu["action_id"], f"menu {menu['xmlid']} opens something")
            visits.append((section, menu["xmlid"]))

        for section_id in root["children"]:
            walk(section_id, False)
        return visits

    @contextmanager
    def browser_console(self):
        """The browser's console meanwhile. Odoo fails the test on a console error itself, not on
        a warning (such as a widget used on a field type it does not support): the caller checks."""
        handler = _Console()
        logger = self._logger.getChild("browser")
        logger.addHandler(handler)
        try:
            yield handler
        finally:
            logger.removeHandler(handler)

    def walk_menus(self, login):
        """Walk the user's menus in the browser: {menu xml id (without module): outcome}."""
        menus = self.menus_of(login)
        # xml ids need no quoting in a cookie; a cookie holds 4 kB, some 40 menus.
        cookie = "|".join(f"{section}>{xmlid}" if section else xmlid for section, xmlid in menus)
        self.assertLess(len(cookie), 4000)
        with self.browser_console() as console:
            self.start_tour(
                "/odoo", "contact_centre_menus", login=login, cookies={"cc_menus_tour": cookie}, timeout=300
            )
        self.assertFalse(console.warnings, f"the browser warned while {login} walked the menus")
        walked = {xmlid.split(".", 1)[1] for _section, xmlid in menus}
        self.assertEqual(set(console.outcomes), walked, f"every menu of {login} was checked")
        return console.outcomes

    def assertOpened(self, outcomes, menus):
        """Each of ``menus`` showed records and its first one opened (the demo data has some)."""
        self.assertEqual({menu: outcomes.get(menu) for menu in menus}, dict.fromkeys(menus, "first record opened"))

    def test_menus_admin(self):
        outcomes = self.walk_menus("admin")
        self.assertEqual(outcomes["contact_centre_thread_menu"], "rendered")  # the inbox
        self.assertEqual(outcomes["contact_centre_settings_menu"], "rendered")
        self.assertOpened(
            outcomes,
            [
                "contact_centre_contact_menu",
                "contact_centre_message_menu",
                "contact_centre_campaign_menu",
                "contact_centre_script_menu",
                "contact_centre_automation_menu",
                "whatsapp_chatbot_menu",
                "contact_centre_template_menu",
                "contact_centre_whatsapp_config_menu",
                "contact_centre_sms_config_menu",
                "contact_centre_script_category_menu",
                "contact_centre_agent_menu",
            ],
        )
        self.assertIn("contact_centre_webhook_event_menu", outcomes)

    def test_menus_supervisor(self):
        outcomes = self.walk_menus("supervisor")
        self.assertOpened(outcomes, ["contact_centre_contact_menu", "contact_centre_template_menu"])
        # A supervisor may not write users (res.users): the Agents list shows them read-only.
        self.assertEqual(outcomes["contact_centre_agent_menu"], "read-only row")
        self.assertIn("contact_centre_automation_menu", outcomes)
        self.assertNotIn("contact_centre_settings_menu", outcomes)
        self.assertNotIn("contact_centre_whatsapp_config_menu", outcomes)

    def test_menus_agent(self):
        outcomes = self.walk_menus("agent")
        self.assertEqual(outcomes["contact_centre_thread_menu"], "rendered")
        self.assertOpened(outcomes, ["contact_centre_contact_menu"])
        self.assertNotIn("contact_centre_agent_menu", outcomes)
        self.assertNotIn("contact_centre_automation_menu", outcomes)


@tagged("post_install", "-at_install")
class TestConfigurationScreens(TransactionCase):
    """What the configuration screens of issue #11 rely on, server side."""

    def test_agents_action_lists_the_contact_centre_users(self):
        action = self.env["ir.actions.act_window"]._for_xml_id("contact_centre.contact_centre_agent_action")
        domain = safe_eval(action["domain"])  # no ref(): the web client could not evaluate it
        context = safe_eval(action["context"])
        users = self.env["res.users"].search(domain)
        demo = {
            login: self.env["res.users"].search([("login", "=", login)]) for login in ("agent", "supervisor", "admin")
        }
        self.assertTrue(all(demo.values()))
        self.assertLessEqual(demo["agent"] | demo["supervisor"] | demo["admin"], users)
        no_role = self.env.ref("base.user_demo", raise_if_not_found=False)  # an internal user without a role
        if no_role:
            self.assertNotIn(no_role, users)
        self.assertEqual(
            context["cc_group_supervisor"], self.env.ref("contact_centre.group_contact_centre_supervisor").id
        )
        self.assertEqual(context["cc_group_admin"], self.env.ref("contact_centre.group_contact_centre_admin").id)
        # The role filters of the search view, evaluated as the web client does, then searched.
        search_view = self.env.ref("contact_centre.res_users_view_search_contact_centre_agent")
        arch = etree.fromstring(search_view.arch)
        by_role = {
            name: self.env["res.users"].search(
                domain + safe_eval(arch.xpath(f"//filter[@name='{name}']")[0].get("domain"), {"context": context})
            )
            for name in ("role_agent", "role_supervisor", "role_admin")
        }

        def role(user):
            if user.has_group("contact_centre.group_contact_centre_admin"):
                return "role_admin"
            if user.has_group("contact_centre.group_contact_centre_supervisor"):
                return "role_supervisor"
            return "role_agent"

        for name, found in by_role.items():
            self.assertEqual(found, users.filtered(lambda user, name=name: role(user) == name), name)
        self.assertIn(demo["agent"], by_role["role_agent"])
        self.assertIn(demo["supervisor"], by_role["role_supervisor"])
        self.assertIn(demo["admin"], by_role["role_admin"])

    def test_whatsapp_number_is_a_phone_number(self):
        config = self.env["contact.centre.whatsapp.config"].create(
            {
                "name": "Number",
                "account_id": "waba-menus",
                "phone_number_id": "900000000000099",
                "display_phone_number": "+32 470 12 34 56",
            }
        )
        self.assertEqual(config.display_phone_number, "+32470123456")
        config.display_phone_number = "0032 470 12 34 57"
        self.assertEqual(config.display_phone_number, "+32470123457")
        # Meta's test numbers (+1 555 ...) are not assigned numbers, but real ones to Meta.
        config.display_phone_number = "+1 555 010 0001"
        self.assertEqual(config.display_phone_number, "+15550100001")
        for wrong in ("not a phone", "12", "+32 12"):
            with self.assertRaises(ValidationError):
                config.display_phone_number = wrong
        config.display_phone_number = False
        self.assertFalse(config.display_phone_number)
