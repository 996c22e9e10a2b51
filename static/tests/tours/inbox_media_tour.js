import { registry } from "@web/core/registry";

// A 1x1 PNG.
const PNG =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/** Choose `file` in the composer's (hidden) file input, as the paperclip's file dialog does. */
function choose(file) {
    const input = document.querySelector("input.o_cc_file_input");
    const transfer = new DataTransfer();
    transfer.items.add(file);
    input.files = transfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
}

function png(name) {
    return new File([Uint8Array.from(atob(PNG), (c) => c.charCodeAt(0))], name, { type: "image/png" });
}

/**
 * An agent attaches files in the inbox's own composer: a file WhatsApp refuses is explained before
 * anything is uploaded, the chosen file shows with its remove button, the image goes out with its
 * caption and the thread shows it; on an SMS provider without MMS the paperclip says why not.
 */
registry.category("web_tour.tours").add("contact_centre_inbox_media", {
    steps: () => [
        {
            trigger: ".o_cc_conversation:has(.fa-whatsapp):contains('Mia')",
            run: "click",
        },
        {
            trigger: "button.o_cc_attach:enabled[title='Attach a file (or drop it here)']",
        },
        {
            content: "A 6 MB image is refused before the upload",
            trigger: "input.o_cc_file_input:not(:visible)",
            run() {
                choose(new File([new Uint8Array(6 << 20)], "huge.png", { type: "image/png" }));
            },
        },
        {
            trigger: ".o_cc_attachment_error:contains('huge.png is too large (6 MB): at most 5 MB here.')",
        },
        {
            content: "So is a type WhatsApp does not take",
            trigger: "input.o_cc_file_input:not(:visible)",
            run() {
                choose(new File(["PK"], "archive.zip", { type: "application/zip" }));
            },
        },
        {
            trigger: ".o_cc_attachment_error:contains('WhatsApp does not take archive.zip (application/zip)')",
        },
        {
            content: "A PNG is taken and shown with its remove button",
            trigger: "input.o_cc_file_input:not(:visible)",
            run() {
                choose(png("wrong.png"));
            },
        },
        {
            trigger: ".o_cc_attachment_chosen:contains('wrong.png')",
        },
        {
            trigger: "body:not(:has(.o_cc_attachment_error))",
        },
        {
            trigger: ".o_cc_attachment_chosen .o_cc_attachment_remove",
            run: "click",
        },
        {
            trigger: "body:not(:has(.o_cc_attachment_chosen))",
        },
        {
            trigger: "input.o_cc_file_input:not(:visible)",
            run() {
                choose(png("parcel.png"));
            },
        },
        {
            trigger: ".o_cc_attachment_chosen:contains('parcel.png')",
        },
        {
            content: "A caption (typing tells WhatsApp the agent is typing)",
            trigger: "textarea.o_cc_text",
            run: "edit Your parcel",
        },
        {
            trigger: "button.o_cc_send:enabled",
            run: "click",
        },
        {
            content: "The image is in the thread, with its caption",
            trigger: ".o_cc_message_outbound:contains('Your parcel') img.o_cc_media[alt='parcel.png']",
        },
        {
            trigger: "body:not(:has(.o_cc_attachment_chosen))",
        },
        {
            content: "Reply buttons, lists and flows: the full composer opens from the reply box",
            trigger: "button.o_cc_more",
            run: "click",
        },
        {
            trigger: ".modal .o_field_widget[name=mode]",
        },
        {
            trigger: ".modal button[special=cancel]",
            run: "click",
        },
        {
            trigger: "body:not(:has(.modal))",
        },
        {
            content: "By SMS, this provider sends no MMS: the paperclip says so",
            trigger: ".o_cc_conversation:has(.fa-commenting-o):contains('Mia')",
            run: "click",
        },
        {
            trigger: "button.o_cc_attach[title*='does not send MMS']",
        },
    ],
});
