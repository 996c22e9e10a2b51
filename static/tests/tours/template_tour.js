import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";

// A 1x1 PNG: the header's sample image.
const PNG =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/** Meta's review, played by the provider simulator (the test number's API base URL). */
async function metaApproves(name) {
    const [config] = await rpc("/web/dataset/call_kw/contact.centre.whatsapp.config/search_read", {
        model: "contact.centre.whatsapp.config",
        method: "search_read",
        args: [[["phone_number_id", "=", "900000000000001"]]],
        kwargs: { fields: ["api_base_url"] },
    });
    const response = await fetch(`${config.api_base_url}/_sim/templates/${name}/status`, {
        method: "POST",
        body: JSON.stringify({ status: "APPROVED" }),
    });
    if (!response.ok) {
        throw new Error(`The simulator did not approve ${name}: ${response.status}`);
    }
}

/**
 * An administrator writes a WhatsApp template with an image header, a variable and a link button
 * whose end is a variable, submits it to Meta; Meta approves it; after a sync the list shows it
 * approved.
 */
registry.category("web_tour.tours").add("contact_centre_template_lifecycle", {
    steps: () => [
        {
            trigger: ".o_field_widget[name=name] input",
            run: "edit Tour Delivery",
        },
        {
            trigger: ".o_field_widget[name=whatsapp_config_id] input",
            run: "edit Test WhatsApp",
        },
        {
            trigger: ".o-autocomplete--dropdown-item .dropdown-item:contains('Test WhatsApp')",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=meta_template_name] input",
            run: "edit tour_delivery",
        },
        {
            content: "An image header",
            trigger: ".o_field_widget[name=header_type] .o_select_menu_toggler",
            run: "click",
        },
        {
            trigger: ".o_select_menu_item:contains('Image')",
            run: "click",
        },
        {
            content: "Its sample image",
            trigger: ".o_field_widget[name=header_sample] input[type=file]:not(:visible)",
            async run() {
                const bytes = Uint8Array.from(atob(PNG), (c) => c.charCodeAt(0));
                const transfer = new DataTransfer();
                transfer.items.add(new File([bytes], "parcel.png", { type: "image/png" }));
                const input = document.querySelector(".o_field_widget[name=header_sample] input[type=file]");
                input.files = transfer.files;
                input.dispatchEvent(new Event("change", { bubbles: true }));
            },
        },
        {
            content: "The sample is there (it can be cleared)",
            trigger: ".o_field_widget[name=header_sample] .o_clear_file_button",
        },
        {
            content: "A body with a variable",
            trigger: ".o_field_widget[name=body_text] textarea",
            run: "edit Hello {{1}}, your parcel is on its way.",
        },
        {
            content: "A footer (the body is committed as the focus leaves it)",
            trigger: ".o_field_widget[name=footer_text] input",
            run: "click && edit Reply STOP to opt out",
        },
        {
            content: "The preview shows the whole message",
            trigger: ".o_field_widget[name=full_preview]:contains('[Image]'):contains('your parcel is on its way')",
        },
        {
            content: "A link button",
            trigger: ".o_notebook a[role=tab]:contains('Buttons')",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=button_ids] .o_field_x2many_list_row_add a",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=button_ids] .o_data_row .o_field_widget[name=button_type] .o_select_menu_toggler",
            run: "click",
        },
        {
            trigger: ".o_select_menu_item:contains('Visit Website')",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=button_ids] .o_data_row .o_field_widget[name=text] input",
            run: "edit Track",
        },
        {
            trigger: ".o_field_widget[name=button_ids] .o_data_row .o_field_widget[name=url] input",
            run: "edit https://shop.example/track/{{1}}",
        },
        {
            content: "The link's end is a new variable, without its sample yet: Meta would refuse it",
            trigger: ".o_notebook a[role=tab]:contains('Variables')",
            run: "click",
        },
        {
            trigger: ".o_cc_submit_issues:contains('Give a sample value for URL 1 {{1}}')",
        },
        {
            trigger: ".o_field_widget[name=variable_ids] .o_data_row:contains('url_1') td[name=sample_value]",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=variable_ids] .o_data_row.o_selected_row .o_field_widget[name=sample_value] input",
            run: "edit T-1",
        },
        {
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            trigger: ".o_form_saved",
        },
        {
            content: "Nothing left that Meta would refuse",
            trigger: "body:not(:has(.o_cc_submit_issues:visible))",
        },
        {
            trigger: "button[name=action_submit_to_meta]:contains('Submit to Meta')",
            run: "click",
        },
        {
            content: "Submitted: pending Meta's review",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains('Pending')",
        },
        {
            content: "Meta reviews it",
            trigger: ".o_breadcrumb a:contains('Templates')",
            async run() {
                await metaApproves("tour_delivery");
            },
        },
        {
            content: "Back to the list",
            trigger: ".o_breadcrumb a:contains('Templates')",
            run: "click",
        },
        {
            trigger: ".o_data_row:contains('Tour Delivery') .o_field_widget[name=approval_status]:contains('Pending')",
        },
        {
            trigger: "button[name=action_sync_meta]",
            run: "click",
        },
        {
            content: "After the sync, the template is approved",
            trigger: ".o_data_row:contains('Tour Delivery') .o_field_widget[name=approval_status]:contains('Approved')",
        },
    ],
});
