import { registry } from "@web/core/registry";

/**
 * The approved template of the template lifecycle tour, sent by an agent from the inbox to a
 * customer whose WhatsApp window closed long ago: the thread shows it as the customer sees it,
 * header image, body and link button.
 */
registry.category("web_tour.tours").add("contact_centre_template_send", {
    steps: () => [
        {
            trigger: ".o_cc_conversation:contains('Noor')",
            run: "click",
        },
        {
            content: "Outside the window: templates only",
            trigger: ".o_cc_window_closed",
        },
        {
            trigger: "select.o_cc_template_select",
            run: "selectByLabel Tour Delivery",
        },
        {
            content: "The body's variable is the contact's name",
            trigger: "input.o_cc_template_value[name='1']",
            run() {
                const value = document.querySelector("input.o_cc_template_value[name='1']").value;
                if (value !== "Noor") {
                    throw new Error(`The body's variable is "${value}", not the contact's name`);
                }
            },
        },
        {
            content: "The link's end is typed by the agent",
            trigger: "input.o_cc_template_value[name='url_1']",
            run: "edit T-42",
        },
        {
            trigger: ".o_cc_template_preview:contains('[Image]'):contains('Hello Noor, your parcel is on its way.')",
        },
        {
            trigger: "button.o_cc_send:enabled",
            run: "click",
        },
        {
            content: "The thread shows the header image...",
            trigger: ".o_cc_message_outbound img.o_cc_template_image",
            async run() {
                const image = document.querySelector(".o_cc_message_outbound img.o_cc_template_image");
                if (!image.complete) {
                    await new Promise((resolve) => image.addEventListener("load", resolve, { once: true }));
                }
                if (!image.naturalWidth) {
                    throw new Error(`The header image ${image.src} did not load`);
                }
            },
        },
        {
            content: "...the body...",
            trigger: ".o_cc_message_outbound .o_cc_body:contains('Hello Noor, your parcel is on its way.')",
        },
        {
            content: "...the footer and the link button",
            trigger: ".o_cc_message_outbound .o_cc_template_footer:contains('Reply STOP to opt out')",
        },
        {
            trigger: ".o_cc_message_outbound .o_cc_template_buttons:contains('Track')",
        },
    ],
});
