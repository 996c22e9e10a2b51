{
    "name": "Contact Centre (WhatsApp + SMS)",
    "version": "19.0.1.2.0",
    "summary": "Omnichannel WhatsApp and SMS inbox, campaigns, automations and chatbots",
    "description": "WhatsApp (Meta Cloud API) and SMS (Twilio, Infobip, custom HTTP gateway) contact centre: "
    "a live inbox for agents, scheduled and keyword campaigns, templates, scripts, automations and chatbots, "
    "with signed, idempotent provider webhooks.",
    "category": "Marketing/Contact Centre",
    "author": "contact_centre",
    "license": "LGPL-3",
    "depends": ["mail", "phone_validation", "resource"],
    "external_dependencies": {
        "python": ["requests", "phonenumbers", "twilio", "infobip-api-python-client"],
    },
    "data": [
        "security/contact_centre_security.xml",
        "security/ir.model.access.csv",
        "data/ir_config_parameter_data.xml",
        "data/ir_cron_data.xml",
        "data/ir_cron_campaign_data.xml",
        "data/ir_cron_template_data.xml",
        "views/contact_centre_contact_views.xml",
        "views/contact_centre_thread_views.xml",
        "views/contact_centre_message_views.xml",
        "views/contact_centre_campaign_views.xml",
        "views/contact_centre_script_views.xml",
        "views/contact_centre_automation_views.xml",
        "views/whatsapp_chatbot_views.xml",
        "views/contact_centre_template_views.xml",
        "views/contact_centre_whatsapp_config_views.xml",
        "views/contact_centre_sms_config_views.xml",
        "views/contact_centre_webhook_event_views.xml",
        "views/res_users_views.xml",
        "wizards/contact_centre_composer_views.xml",
        "wizards/contact_centre_consent_wizard_views.xml",
        "wizards/contact_centre_campaign_schedule_views.xml",
        "views/res_config_settings_views.xml",
        "views/contact_centre_inbox_action.xml",
        "views/contact_centre_menus.xml",
    ],
    "demo": [
        "demo/contact_centre_demo.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "contact_centre/static/src/**/*",
        ],
        "web.assets_tests": [
            "contact_centre/static/tests/tours/**/*",
        ],
    },
    "application": True,
    "installable": True,
}
