import { registry } from "@web/core/registry";

/**
 * The thread shows text the way WhatsApp users write it: line breaks, links, *bold* _italic_
 * ~strike~ ```monospace```, hostile HTML as text; dates in the user's formats; long words that
 * squeeze nothing; a conversation list driven from the keyboard. Data: test_inbox_format_tour.py.
 */

function check(condition, message) {
    if (!condition) {
        throw new Error(`Check failed: ${message}`);
    }
}

function row(name) {
    return document.querySelector(`.o_cc_conversation[data-contact-name='${name}']`);
}

function bubble(text) {
    return [...document.querySelectorAll(".o_cc_message_inbound")].find((el) =>
        el.querySelector(".o_cc_body").textContent.includes(text)
    );
}

function focusedRow(name) {
    return {
        content: `The focus is on ${name}`,
        trigger: `.o_cc_conversation[data-contact-name='${name}'][tabindex='0']`,
        run() {
            check(document.activeElement === row(name), `${name} has the focus`);
            const others = document.querySelectorAll(".o_cc_conversation[tabindex='0']");
            check(others.length === 1, "one row only is in the tab order");
        },
    };
}

let listWidth;

registry.category("web_tour.tours").add("contact_centre_inbox_format", {
    steps: () => [
        {
            content: "The conversation list is a listbox of focusable options",
            trigger: ".o_cc_conversations[role='listbox'] .o_cc_conversation[role='option']",
            run() {
                check(document.querySelectorAll(".o_cc_conversation").length === 3, "three conversations");
                listWidth = document.querySelector(".o_cc_list").getBoundingClientRect().width;
                check(listWidth >= 280, `the list is ${listWidth}px wide`);
            },
        },
        {
            content: "A long unbroken preview ends in an ellipsis; the row's date and badge stay in view",
            trigger: ".o_cc_conversation[data-contact-name='Format Customer'] .o_cc_conversation_preview",
            run() {
                const formatRow = row("Format Customer");
                const preview = formatRow.querySelector(".o_cc_conversation_preview");
                check(getComputedStyle(preview).textOverflow === "ellipsis", "the preview has an ellipsis");
                check(preview.scrollWidth > preview.clientWidth, "the long preview is cut");
                const rowBox = formatRow.getBoundingClientRect();
                for (const el of formatRow.querySelectorAll(".o_cc_conversation_date, .o_cc_unread")) {
                    check(el.getBoundingClientRect().right <= rowBox.right, `${el.className} stays inside the row`);
                }
                check(formatRow.scrollWidth <= formatRow.clientWidth, "the row does not overflow");
            },
        },
        {
            content: "Dates follow the user's formats: today the time only (24 h, no seconds), older the date",
            trigger: ".o_cc_conversation[data-contact-name='Older Customer'] .o_cc_conversation_date",
            run() {
                const today = row("Format Customer").querySelector(".o_cc_conversation_date").textContent;
                check(/^\d{2}:\d{2}$/.test(today), `today's conversation shows a time: "${today}"`);
                const older = row("Older Customer");
                const date = older.querySelector(".o_cc_conversation_date").textContent;
                const expected = older.querySelector(".o_cc_conversation_preview").textContent.split(" ").at(-1);
                check(date === expected, `the older conversation shows its date: "${date}", not "${expected}"`);
            },
        },
        // The inbox opens with the focus on the first conversation: the arrows work at once.
        focusedRow("Format Customer"),
        {
            trigger: ".o_cc_conversation[data-contact-name='Format Customer'][tabindex='0']",
            run: "press ArrowDown",
        },
        focusedRow("SMS Only Customer"),
        {
            trigger: ".o_cc_conversation[data-contact-name='SMS Only Customer'][tabindex='0']",
            run: "press ArrowDown",
        },
        focusedRow("Older Customer"),
        {
            trigger: ".o_cc_conversation[data-contact-name='Older Customer'][tabindex='0']",
            run: "press ArrowUp",
        },
        focusedRow("SMS Only Customer"),
        {
            content: "Moving the focus opens nothing",
            trigger: ".o_cc_empty",
            run: "press Enter",
        },
        {
            content: "Enter opens the focused conversation",
            trigger: ".o_cc_thread_name:contains('SMS Only Customer')",
        },
        {
            trigger: ".o_cc_conversation[data-contact-name='SMS Only Customer'][aria-selected='true']",
        },
        {
            content: "Without a WhatsApp number, no WhatsApp opt-in state; the SMS number has its own",
            trigger: ".o_cc_contact_panel .o_cc_opt_sms:contains('opted in')",
            run() {
                check(!document.querySelector(".o_cc_opt_whatsapp"), "no WhatsApp opt-in badge");
                const whatsapp = document.querySelector(".o_cc_number_whatsapp").textContent;
                check(whatsapp.includes("No number"), `the WhatsApp number is missing: "${whatsapp}"`);
                check(!whatsapp.includes("opted"), "nothing about opting in to WhatsApp");
            },
        },
        {
            trigger: ".o_cc_conversation[data-contact-name='Older Customer']",
            run: "click",
        },
        {
            content: "An older message shows its date and time in the user's formats",
            trigger: ".o_cc_thread_name:contains('Older Customer')",
            run() {
                const message = bubble("Sent on");
                const expected = message.querySelector(".o_cc_body").textContent.split(" ").at(-1);
                const date = message.querySelector(".o_cc_message_date").textContent;
                check(
                    new RegExp(`^${expected.replaceAll(".", "\\.")} \\d{2}:\\d{2}$`).test(date),
                    `the older message shows "${expected} HH:mm": "${date}"`
                );
            },
        },
        {
            trigger: ".o_cc_conversation[data-contact-name='Format Customer']",
            run: "click",
        },
        {
            content: "Line breaks are kept",
            trigger: ".o_cc_thread_name:contains('Format Customer')",
            run() {
                const body = bubble("First line").querySelector(".o_cc_body");
                check(getComputedStyle(body).whiteSpace === "pre-wrap", "the body keeps its line breaks");
                check(body.textContent === "First line\nSecond line", `the break is there: "${body.textContent}"`);
                check(body.getBoundingClientRect().height > 1.5 * parseFloat(getComputedStyle(body).lineHeight),
                    "the body spans two lines");
                const today = bubble("First line").querySelector(".o_cc_message_date").textContent;
                check(/^\d{2}:\d{2}$/.test(today), `today's message shows a time: "${today}"`);
            },
        },
        {
            content: "Links open in a new tab, without handing over the inbox",
            trigger: ".o_cc_body a[href^='https://']",
            run() {
                const links = [...bubble("Track it").querySelectorAll("a")];
                check(links.length === 2, `two links: ${links.length}`);
                const [link, www] = links;
                check(link.getAttribute("href") === "https://example.com/track?id=42&lang=en", `href: ${link.href}`);
                check(link.textContent === "https://example.com/track?id=42&lang=en", "the link shows the address");
                check(www.getAttribute("href") === "https://www.example.org/help", `www href: ${www.href}`);
                check(www.textContent === "www.example.org/help", "the final full stop is not in the link");
                for (const a of links) {
                    check(a.target === "_blank", "target _blank");
                    check(a.rel === "noopener noreferrer", "rel noopener noreferrer");
                }
            },
        },
        {
            content: "WhatsApp's formatting is drawn",
            trigger: ".o_cc_body strong",
            run() {
                const body = bubble("bold").querySelector(".o_cc_body");
                const text = (selector) => [...body.querySelectorAll(selector)].map((el) => el.textContent);
                check(text("strong").join() === "bold", `strong: ${text("strong")}`);
                check(text("em").join() === "it", `em: ${text("em")}`);
                check(text("del").join() === "st", `del: ${text("del")}`);
                check(text("code.o_cc_monospace").join() === "mono *not bold*", `monospace: ${text("code")}`);
                check(text("code:not(.o_cc_monospace)").join() === "code", `code: ${text("code")}`);
                check(body.textContent.includes("snake_case_name 2*3*4"), "no formatting inside words");
                check(body.textContent.includes("* not bold *"), "markers must hug the text");
            },
        },
        {
            content: "Hostile HTML shows as text and runs nothing",
            trigger: ".o_cc_body:contains('__xss=2')",
            run() {
                for (const [text, tag] of [
                    ["<img src=x onerror=window.__xss=1>", "img"],
                    ["<script>window.__xss=2</script>", "script"],
                ]) {
                    const body = bubble(text).querySelector(".o_cc_body");
                    check(body.textContent === text, `the ${tag} shows as text: "${body.textContent}"`);
                    check(!body.querySelector("img, script"), `no ${tag} element made from the message`);
                }
                check(!document.querySelector(".o_cc_thread img"), "no image in the thread");
                check(window.__xss === undefined, "nothing ran");
            },
        },
        {
            content: "Long unbroken words stay in their bubble and squeeze no column",
            trigger: ".o_cc_body:contains('bbbbbbbbbb')",
            run() {
                const thread = document.querySelector(".o_cc_thread");
                check(thread.scrollWidth <= thread.clientWidth, "the thread does not scroll sideways");
                for (const text of ["aaaaaaaaaa", "bbbbbbbbbb"]) {
                    const message = bubble(text);
                    const box = message.getBoundingClientRect();
                    check(message.scrollWidth <= message.clientWidth, `the ${text} bubble does not overflow`);
                    check(box.right <= thread.getBoundingClientRect().right, `the ${text} bubble stays in the thread`);
                }
                const width = document.querySelector(".o_cc_list").getBoundingClientRect().width;
                check(Math.abs(width - listWidth) < 1, `the list keeps its width: ${width}px, was ${listWidth}px`);
            },
        },
        {
            content: "The template preview is formatted the same way",
            trigger: "select.o_cc_template_select",
            run: "selectByLabel Formatted Update",
        },
        {
            trigger: ".o_cc_template_preview strong:contains('Format Customer')",
            run() {
                const preview = document.querySelector(".o_cc_template_preview");
                check(preview.querySelector("em").textContent === "on its way", "italic in the preview");
                check(preview.textContent.includes("\n"), "the preview keeps its line break");
                check(getComputedStyle(preview).whiteSpace === "pre-wrap", "shown as lines");
            },
        },
    ],
});
