import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";

/**
 * Ask the provider simulator (whose address the WhatsApp number's API base URL holds in the tests)
 * to post a signed inbound WhatsApp message to this server's webhook, as Meta would.
 */
async function postInboundWhatsapp(from, text) {
    const [config] = await rpc("/web/dataset/call_kw/contact.centre.whatsapp.config/search_read", {
        model: "contact.centre.whatsapp.config",
        method: "search_read",
        args: [[["phone_number_id", "=", "900000000000001"]]],
        kwargs: { fields: ["api_base_url", "phone_number_id"] },
    });
    const response = await fetch(`${config.api_base_url}/_sim/inbound`, {
        method: "POST",
        body: JSON.stringify({
            provider: "meta",
            url: `${window.location.origin}/contact_centre/webhook/whatsapp`,
            phone_number_id: config.phone_number_id,
            from,
            text,
            profile_name: "Tour Customer",
        }),
    });
    const answer = await response.json();
    if (answer.status !== 200) {
        throw new Error(`The webhook refused the inbound message: ${answer.status} ${answer.body}`);
    }
}

registry.category("web_tour.tours").add("contact_centre_inbox_live", {
    steps: () => [
        {
            content: "The agent's conversation is in the list",
            trigger: ".o_cc_conversation:contains('Tour Customer')",
            run: "click",
        },
        {
            content: "The conversation opens with its window",
            trigger: ".o_cc_thread_name:contains('Tour Customer')",
        },
        {
            trigger: ".o_cc_window.text-bg-success",
            run: () => postInboundWhatsapp("+32470555001", "Where is my order?"),
        },
        {
            content: "The inbound message shows up live",
            trigger: ".o_cc_message_inbound:contains('Where is my order?')",
        },
        {
            content: "The agent replies with Enter",
            trigger: "textarea.o_cc_text:enabled",
            run: "edit Your order left this morning. && press Enter",
        },
        {
            trigger: ".o_cc_message_outbound:contains('Your order left this morning.')",
        },
        {
            content: "The reply's ticks advance as the status webhooks arrive",
            trigger: ".o_cc_message_outbound:contains('Your order left this morning.') .o_cc_status_read",
            timeout: 20000,
        },
        {
            content: "The agent resolves the conversation",
            trigger: ".o_cc_resolve",
            run: "click",
        },
        {
            trigger: ".o_cc_reopen",
        },
        {
            content: "It leaves the agent's open conversations",
            trigger: ".o_cc_conversations:not(:has(.o_cc_conversation:contains('Tour Customer')))",
        },
    ],
});

registry.category("web_tour.tours").add("contact_centre_inbox_template", {
    steps: () => [
        {
            trigger: ".o_cc_conversation:contains('Window Closed Customer')",
            run: "click",
        },
        {
            content: "Outside the window, free text is disabled and explained",
            trigger: ".o_cc_window_closed",
        },
        {
            trigger: "textarea.o_cc_text:disabled",
        },
        {
            content: "The agent picks an approved template",
            trigger: "select.o_cc_template_select",
            run: "selectByLabel Order Update",
        },
        {
            content: "Its variables are pre-filled from the contact",
            trigger: "input.o_cc_template_value[name='1']",
            run: "edit Alice",
        },
        {
            trigger: ".o_cc_template_preview:contains('Hello Alice, your order is on its way.')",
        },
        {
            trigger: "button.o_cc_send:enabled",
            run: "click",
        },
        {
            content: "The template message is in the thread",
            trigger: ".o_cc_message_outbound:contains('Hello Alice, your order is on its way.')",
        },
    ],
});
