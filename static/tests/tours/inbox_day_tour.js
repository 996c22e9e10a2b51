import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";

/**
 * The working day in the inbox (issue #11), one tour per flow; data and the checks of the records
 * afterwards: tests/test_inbox_day_tour.py. Users: Alice Agent (cc_agent), Bruno Agent (cc_agent2),
 * Sam Supervisor (cc_supervisor).
 */

function check(condition, message) {
    if (!condition) {
        throw new Error(`Check failed: ${message}`);
    }
}

const row = (name) => `.o_cc_conversation[data-contact-name='${name}']`;

/** The row of ``name`` is not in the list (the list itself is drawn). */
const noRow = (name) => `.o_cc_conversations:not(:has(${row(name)}))`;

/** Whether the thread shows its newest message (scrolled to its end). */
function threadAtBottom() {
    const thread = document.querySelector(".o_cc_thread");
    return thread.scrollHeight - thread.scrollTop - thread.clientHeight <= 2;
}

function checkThreadAtBottom(what) {
    const thread = document.querySelector(".o_cc_thread");
    check(thread.scrollHeight > thread.clientHeight + 100, `${what}: the thread is long enough to scroll`);
    check(
        threadAtBottom(),
        `${what}: scrolled to the newest message (top ${thread.scrollTop}, height ${thread.scrollHeight}, view ${thread.clientHeight})`
    );
}

/** The list row may follow the bus notification before the panel is read again: wait for the
 * supervisor's picker to show ``label`` too (5 s at most). */
async function waitForPicker(label) {
    const picked = () => document.querySelector("select.o_cc_reassign").selectedOptions[0].textContent === label;
    for (let tries = 0; tries < 50 && !picked(); tries++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    check(picked(), `the picker shows ${label}`);
}

function checkNoError() {
    check(!document.querySelector(".o_error_dialog, .o_dialog .modal-title.text-danger"), "no error dialog");
}

/** The simulator posts a signed inbound WhatsApp message to this server's webhook, as Meta would. */
async function postInboundWhatsapp(from, text, profileName) {
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
            profile_name: profileName,
        }),
    });
    const answer = await response.json();
    if (answer.status !== 200) {
        throw new Error(`The webhook refused the inbound message: ${answer.status} ${answer.body}`);
    }
}

const openAllView = [
    {
        content: "The supervisor looks at every conversation",
        trigger: ".o_cc_view_all",
        run: "click",
    },
    {
        trigger: ".o_cc_view_all.btn-primary",
    },
];

// Flow 1: the supervisor reassigns Alice's conversation to Bruno...
registry.category("web_tour.tours").add("contact_centre_day_reassign", {
    steps: () => [
        ...openAllView,
        {
            trigger: `${row("Reassign Customer")} .o_cc_conversation_agent:contains('Alice Agent')`,
            run: "click",
        },
        {
            content: "The supervisor's picker shows Alice",
            trigger: ".o_cc_thread_name:contains('Reassign Customer')",
            run() {
                const select = document.querySelector("select.o_cc_reassign");
                check(select.selectedOptions[0].textContent === "Alice Agent", "Alice is the agent");
            },
        },
        {
            content: "The supervisor gives it to Bruno",
            trigger: "select.o_cc_reassign",
            run: "selectByLabel Bruno Agent",
        },
        {
            content: "The list shows Bruno",
            trigger: `${row("Reassign Customer")} .o_cc_conversation_agent:contains('Bruno Agent')`,
            async run() {
                await waitForPicker("Bruno Agent");
                checkNoError();
            },
        },
    ],
});

// ...who opens it from Mine, without an error, with its messages.
registry.category("web_tour.tours").add("contact_centre_day_reassigned_opens", {
    steps: () => [
        {
            content: "The conversation is in Bruno's Mine",
            trigger: `.o_cc_view_mine.btn-primary`,
        },
        {
            trigger: row("Reassign Customer"),
            run: "click",
        },
        {
            content: "It opens with its messages",
            trigger: ".o_cc_message_inbound:contains('My parcel is late')",
        },
        {
            trigger: ".o_cc_contact_panel .o_cc_agent_name:contains('Bruno Agent')",
            run() {
                checkNoError();
                check(!document.querySelector(".o_cc_take"), "nothing to take: it is Bruno's");
                const messages = document.querySelectorAll(".o_cc_message");
                check(messages.length === 2, `both messages are there: ${messages.length}`);
            },
        },
    ],
});

// Flow 2: with nobody available, a new customer lands in the Unassigned queue, live, and stays there.
registry.category("web_tour.tours").add("contact_centre_day_queue_live", {
    steps: () => [
        {
            trigger: ".o_cc_view_unassigned",
            run: "click",
        },
        {
            content: "Alice watches the queue",
            trigger: ".o_cc_view_unassigned.btn-primary",
        },
        {
            trigger: row("Queue Waiting"),
            run: () => postInboundWhatsapp("+32470555201", "Hello, my bill is wrong", "Queue Newcomer"),
        },
        {
            content: "The new customer appears in the queue without a reload, one message unread",
            trigger: `${row("Queue Newcomer")} .o_cc_unread:contains('1')`,
            timeout: 20000,
            run() {
                check(
                    document.querySelector(row("Queue Newcomer")).textContent.includes("Hello, my bill is wrong"),
                    "the row shows the message"
                );
                const names = [...document.querySelectorAll(".o_cc_conversation")].map((el) => el.dataset.contactName);
                check(names[0] === "Queue Newcomer", `the newest activity comes first: ${names}`);
            },
        },
        {
            trigger: row("Queue Newcomer"),
            run: () => postInboundWhatsapp("+32470555201", "Is anybody there?", "Queue Newcomer"),
        },
        {
            content: "The customer writes again: still in the queue, two unread",
            trigger: `${row("Queue Newcomer")}:has(.o_cc_conversation_preview:contains('Is anybody there?')) .o_cc_unread:contains('2')`,
            timeout: 20000,
            run() {
                check(document.querySelector(".o_cc_view_unassigned.btn-primary"), "the queue is on screen");
                check(document.querySelectorAll(row("Queue Newcomer")).length === 1, "one row for the customer");
                check(document.querySelector(row("Queue Waiting")), "the waiting customer is still there");
            },
        },
    ],
});

// Unread after a burst: the page opens seconds after two messages arrived. The bus replays their
// announcements to the new page; the badge read from the server already counts them.
registry.category("web_tour.tours").add("contact_centre_day_unread_after_burst", {
    steps: () => [
        {
            content: "Alice sees the burst counted once",
            trigger: `${row("Burst Customer")} .o_cc_unread:contains('2')`,
            run: () => postInboundWhatsapp("+32470555901", "And a third thing", "Burst Customer"),
        },
        {
            content: "The customer writes again: one more, not the burst again",
            trigger: `${row("Burst Customer")}:has(.o_cc_conversation_preview:contains('And a third thing')) .o_cc_unread`,
            timeout: 20000,
            run() {
                const badge = document.querySelector(`${row("Burst Customer")} .o_cc_unread`).textContent;
                check(badge === "3", `three unread, each counted once: ${badge}`);
            },
        },
    ],
});

// Flow 6: the supervisor reads Alice's unread conversation; Alice's unread stays hers.
registry.category("web_tour.tours").add("contact_centre_day_supervisor_reads", {
    steps: () => [
        ...openAllView,
        {
            content: "The supervisor has not read it either",
            trigger: `${row("Unread Customer")} .o_cc_unread:contains('2')`,
            run: "click",
        },
        {
            trigger: ".o_cc_message_inbound:contains('Second question')",
        },
        {
            content: "Opening it marks it read for the supervisor",
            trigger: `${row("Unread Customer")}[aria-selected='true']:not(:has(.o_cc_unread))`,
            run() {
                check(!document.querySelector(".o_cc_take"), "the conversation is Alice's: nothing to take");
            },
        },
    ],
});

// Flow 11: the supervisor puts a conversation back in the queue.
registry.category("web_tour.tours").add("contact_centre_day_back_to_queue", {
    steps: () => [
        ...openAllView,
        {
            trigger: row("Requeue Customer"),
            run: "click",
        },
        {
            trigger: ".o_cc_thread_name:contains('Requeue Customer')",
        },
        {
            content: "The supervisor picks Unassigned",
            trigger: "select.o_cc_reassign",
            run: "selectByLabel Unassigned",
        },
        {
            content: "No agent shows as Unassigned",
            trigger: `${row("Requeue Customer")} .o_cc_conversation_agent:contains('Unassigned')`,
            async run() {
                await waitForPicker("Unassigned");
                const select = document.querySelector("select.o_cc_reassign");
                check(select.value === "", "the picker says Unassigned");
                check(select.selectedOptions[0].textContent === "Unassigned", "labelled Unassigned");
                for (const el of document.querySelectorAll(".o_cc_conversation_agent")) {
                    check(!/false|undefined|null/.test(el.textContent), `no stray agent text: "${el.textContent}"`);
                }
            },
        },
        {
            trigger: ".o_cc_view_unassigned",
            run: "click",
        },
        {
            trigger: ".o_cc_view_unassigned.btn-primary",
        },
        {
            content: "It is in the queue",
            trigger: `${row("Requeue Customer")}[aria-selected='true']`,
            run() {
                check(document.querySelector(".o_cc_view_unassigned.btn-primary"), "in the Unassigned view");
                check(!document.querySelector(row("Reassign Customer")), "only unassigned conversations");
            },
        },
    ],
});

// Take: Alice takes a conversation from the queue; it moves to Mine.
registry.category("web_tour.tours").add("contact_centre_day_take", {
    steps: () => [
        {
            trigger: ".o_cc_view_unassigned",
            run: "click",
        },
        {
            trigger: ".o_cc_view_unassigned.btn-primary",
        },
        {
            trigger: row("Take Customer"),
            run: "click",
        },
        {
            content: "An unassigned conversation can be taken",
            trigger: ".o_cc_thread_header .o_cc_take",
            run() {
                const agent = document.querySelector(".o_cc_contact_panel .o_cc_agent_name").textContent;
                check(agent === "Unassigned", `the panel says Unassigned: "${agent}"`);
            },
        },
        {
            trigger: ".o_cc_thread_header .o_cc_take",
            run: "click",
        },
        {
            content: "It is Alice's",
            trigger: ".o_cc_contact_panel .o_cc_agent_name:contains('Alice Agent')",
        },
        {
            content: "It leaves the queue",
            trigger: noRow("Take Customer"),
            run() {
                check(!document.querySelector(".o_cc_take"), "nothing left to take");
                check(document.querySelector(".o_cc_view_unassigned.btn-primary"), "the queue is on screen");
            },
        },
        {
            trigger: ".o_cc_view_mine",
            run: "click",
        },
        {
            trigger: ".o_cc_view_mine.btn-primary",
        },
        {
            trigger: `${row("Take Customer")}[aria-selected='true'] .o_cc_conversation_agent:contains('Alice Agent')`,
        },
    ],
});

// A reply to an unassigned conversation takes it; a message arriving at the bottom of the thread shows.
registry.category("web_tour.tours").add("contact_centre_day_reply_takes", {
    steps: () => [
        {
            trigger: ".o_cc_view_unassigned",
            run: "click",
        },
        {
            trigger: row("Reply Customer"),
            run: "click",
        },
        {
            content: "The conversation opens on its newest message",
            trigger: ".o_cc_message_inbound:contains('Message 45')",
            run() {
                checkThreadAtBottom("on opening");
                check(document.querySelector(".o_cc_take"), "it can be taken");
            },
        },
        {
            trigger: ".o_cc_message_inbound:contains('Message 45')",
            run: () => postInboundWhatsapp("+32470555301", "One more thing: the colour", "Reply Customer"),
        },
        {
            content: "A message arriving while the agent reads the end of the thread comes into view",
            trigger: ".o_cc_message_inbound:contains('One more thing: the colour')",
            timeout: 20000,
            run() {
                checkThreadAtBottom("after a new message");
            },
        },
        {
            content: "The agent replies",
            trigger: "textarea.o_cc_text:enabled",
            run: "edit Blue, as ordered. && press Enter",
        },
        {
            trigger: ".o_cc_message_outbound:contains('Blue, as ordered.')",
        },
        {
            content: "Replying took the conversation",
            trigger: ".o_cc_contact_panel .o_cc_agent_name:contains('Alice Agent')",
            run() {
                check(!document.querySelector(".o_cc_take"), "nothing left to take");
                checkThreadAtBottom("after the reply");
            },
        },
        {
            content: "It left the queue",
            trigger: noRow("Reply Customer"),
        },
    ],
});

// The composer counts SMS segments against the limit; a failure explains itself, details one click away.
registry.category("web_tour.tours").add("contact_centre_day_sms_and_failure", {
    steps: () => [
        {
            trigger: row("Sms Customer"),
            run: "click",
        },
        {
            content: "The failure says what happened and what to do, not the provider's raw text",
            trigger: ".o_cc_message_outbound.o_cc_state_failed .o_cc_error_explanation:contains('The carrier filtered the message as spam.')",
            run() {
                const failure = document.querySelector(".o_cc_state_failed .o_cc_failure");
                check(failure.textContent.includes("Rephrase it"), "what to do");
                check(!failure.textContent.includes("30007"), "the code waits behind Details");
                check(!failure.textContent.includes("Message filtered by carrier"), "so does the raw text");
                check(failure.querySelector(".o_cc_retry"), "Retry is there");
                checkThreadAtBottom("on opening");
            },
        },
        {
            trigger: ".o_cc_state_failed .o_cc_error_toggle",
            run: "click",
        },
        {
            content: "Details: the code and the provider's text",
            trigger: ".o_cc_state_failed .o_cc_error_details .o_cc_error_code:contains('30007')",
            run() {
                const details = document.querySelector(".o_cc_state_failed .o_cc_error_details");
                check(details.textContent.includes("Message filtered by carrier"), "the raw text");
            },
        },
        {
            content: "A short SMS: one segment of two",
            trigger: "textarea.o_cc_text:enabled",
            run: "edit Hello",
        },
        {
            trigger: ".o_cc_sms_segments:contains('1 / 2')",
            run() {
                check(!document.querySelector("button.o_cc_send").disabled, "Send is enabled");
                check(!document.querySelector(".o_cc_sms_too_long"), "no complaint");
            },
        },
        {
            trigger: "textarea.o_cc_text:enabled",
            run: `edit ${"a".repeat(200)}`,
        },
        {
            content: "Two segments: the limit, still sendable",
            trigger: ".o_cc_sms_segments:contains('2 / 2')",
            run() {
                check(!document.querySelector("button.o_cc_send").disabled, "Send is enabled at the limit");
            },
        },
        {
            trigger: "textarea.o_cc_text:enabled",
            run: `edit ${"a".repeat(400)}`,
        },
        {
            content: "Above the limit: Send is disabled, and the composer says why",
            trigger: ".o_cc_sms_segments:contains('3 / 2')",
        },
        {
            trigger: ".o_cc_sms_too_long:contains('the limit is 2')",
            run() {
                check(document.querySelector("button.o_cc_send").disabled, "Send is disabled");
            },
        },
        {
            content: "Enter sends nothing either",
            trigger: "textarea.o_cc_text:enabled",
            run: "press Enter",
        },
        {
            trigger: "textarea.o_cc_text:enabled",
            run: "edit Your refund is on its way.",
        },
        {
            trigger: ".o_cc_sms_segments:contains('1 / 2')",
        },
        {
            trigger: "button.o_cc_send:enabled",
            run: "click",
        },
        {
            content: "The short reply is sent and in view",
            trigger: ".o_cc_message_outbound:contains('Your refund is on its way.')",
            run() {
                checkThreadAtBottom("after sending");
            },
        },
    ],
});
