import { registry } from "@web/core/registry";

/**
 * A supervisor prepares a campaign: without contacts (and an emptied filter) Schedule is refused;
 * with two contacts, the preview shows the first one's message, Schedule asks "Send to 2 contacts?"
 * and the campaign is scheduled once confirmed.
 */
registry.category("web_tour.tours").add("contact_centre_campaign_schedule", {
    steps: () => [
        {
            content: "Name the campaign",
            trigger: ".o_field_widget[name=name] input",
            run: "edit Tour Promo",
        },
        {
            trigger: ".o_field_widget[name=template_id] input",
            run: "edit Tour Promo Template",
        },
        {
            trigger: ".o-autocomplete--dropdown-item .dropdown-item:contains('Tour Promo Template')",
            run: "click",
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
            content: "Without a filter, the audience is the listed contacts only",
            trigger: ".o_cc_no_filter:contains('No filter: only the listed contacts')",
        },
        {
            trigger: "label:contains('Also send to contacts matching')",
        },
        {
            content: "The supervisor adds a filter rule",
            trigger: "button[name=action_add_filter]",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=filter_domain] .o_tree_editor_condition",
        },
        {
            content: "...then removes it",
            trigger: ".o_field_widget[name=filter_domain] button[aria-label='Delete rule']",
            run: "click",
        },
        {
            content: "An emptied filter is no filter, not every contact",
            trigger: ".o_cc_no_filter:contains('No filter: only the listed contacts')",
        },
        {
            trigger: ".o_field_widget[name=audience_count]:contains('0')",
        },
        {
            content: "Schedule a campaign without contacts",
            trigger: "button[name=action_confirm_schedule]",
            run: "click",
        },
        {
            content: "It is refused: nobody to send to",
            trigger: ".modal:contains('would be sent to 0 contacts')",
        },
        {
            trigger: ".modal:contains('would be sent to 0 contacts') .modal-footer .btn-primary",
            run: "click",
        },
        {
            trigger: "body:not(:has(.modal))",
        },
        {
            content: "Add two contacts",
            trigger: ".o_field_widget[name=contact_ids] .o_field_x2many_list_row_add a",
            run: "click",
        },
        {
            trigger: ".modal .o_searchview_input",
            run: "edit Tour && press Enter",
        },
        {
            trigger: ".modal tr:contains('Tour Ana') input.form-check-input",
            run: "click",
        },
        {
            trigger: ".modal tr:contains('Tour Ben') input.form-check-input",
            run: "click",
        },
        {
            trigger: ".modal tr:contains('Tour Ben') input.form-check-input:checked",
        },
        {
            trigger: ".modal button.o_select_button",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=contact_ids] .o_data_row:contains('Tour Ben')",
        },
        {
            trigger: ".o_field_widget[name=audience_count]:contains('2')",
        },
        {
            content: "The preview is the message the first listed contact will receive",
            trigger: ".o_field_widget[name=template_preview]:contains('Hi Tour Ana, 20% off')",
        },
        {
            trigger: ".o_field_widget[name=preview_contact_id]:contains('Tour Ana')",
        },
        {
            content: "Schedule asks for the real audience",
            trigger: "button[name=action_confirm_schedule]",
            run: "click",
        },
        {
            trigger: ".modal .o_cc_schedule_summary:contains('Send to 2 contacts?')",
        },
        {
            content: "The supervisor confirms",
            trigger: ".modal button[name=action_confirm]",
            run: "click",
        },
        {
            trigger: "body:not(:has(.modal))",
        },
        {
            content: "The campaign is scheduled",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains('Scheduled')",
        },
    ],
});

/**
 * After the dispatch, a conversation holding only the campaign's message shows its text and time.
 */
registry.category("web_tour.tours").add("contact_centre_campaign_conversation", {
    steps: () => [
        {
            content: "The recipient's conversation shows the campaign text as preview",
            trigger: ".o_data_row:contains('Tour Ana') td[name=last_message_preview]:contains('Hi Tour Ana, 20% off')",
        },
        {
            content: "...and the time of the campaign message",
            trigger: ".o_data_row:contains('Tour Ana') td[name=last_message_date]",
            run: function () {
                if (!this.anchor.textContent.trim()) {
                    throw new Error("The conversation of a campaign recipient shows no time.");
                }
            },
        },
    ],
});
