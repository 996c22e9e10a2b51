import { Component, onMounted, onWillStart, onWillUnmount, useRef, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { deserializeDateTime, formatDate, formatDateTime } from "@web/core/l10n/dates";
import { localization } from "@web/core/l10n/localization";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { debounce } from "@web/core/utils/timing";
import { user } from "@web/core/user";
import { standardActionServiceProps } from "@web/webclient/actions/action_service";
import { formatWhatsappText } from "./format";

const THREAD_MODEL = "contact.centre.thread";
const MESSAGE_MODEL = "contact.centre.message";
const PAGE = 40;

/** The agents' inbox: conversations on the left, the open conversation in the middle, the contact on the right. */
export class ContactCentreInbox extends Component {
    static template = "contact_centre.Inbox";
    static props = { ...standardActionServiceProps };

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.notification = useService("notification");
        this.busService = useService("bus_service");
        this.listRef = useRef("list");
        this.threadRef = useRef("thread");
        this.textRef = useRef("text");
        this.state = useState({
            view: "mine",
            channel: "",
            search: "",
            conversations: [],
            hasMore: false,
            active: null,
            focusedId: null,
            messages: [],
            hasOlder: false,
            composer: this.emptyComposer(),
            now: luxon.DateTime.now(),
        });
        this.views = [
            { key: "mine", label: _t("Mine") },
            { key: "unassigned", label: _t("Unassigned") },
            { key: "all", label: _t("All") },
            { key: "resolved", label: _t("Resolved") },
        ];
        this.reloadConversations = debounce(() => this.loadConversations(), 250);
        this.refreshComposeInfo = debounce(() => this.loadComposeInfo(), 200);
        this.onThreadNotification = (payload) => this.applyThreadNotification(payload);
        this.onAssigned = (payload) => this.applyAssignment(payload);

        onWillStart(() => this.loadConversations());
        onMounted(() => {
            this.focusConversation(this.focusTargetId);
            this.busService.subscribe("contact_centre/thread", this.onThreadNotification);
            this.busService.subscribe("contact_centre/assigned", this.onAssigned);
            this.clock = setInterval(() => (this.state.now = luxon.DateTime.now()), 30000);
        });
        onWillUnmount(() => {
            this.busService.unsubscribe("contact_centre/thread", this.onThreadNotification);
            this.busService.unsubscribe("contact_centre/assigned", this.onAssigned);
            clearInterval(this.clock);
        });
    }

    emptyComposer() {
        return { text: "", templateId: "", values: {}, preview: "", sms: null, sending: false };
    }

    // Conversation list

    async loadConversations({ more = false } = {}) {
        const rows = await this.orm.call(THREAD_MODEL, "inbox_conversations", [], {
            view: this.state.view,
            channel: this.state.channel || null,
            search: this.state.search || null,
            offset: more ? this.state.conversations.length : 0,
            limit: PAGE,
        });
        this.state.conversations = more ? [...this.state.conversations, ...rows] : rows;
        this.state.hasMore = rows.length === PAGE;
    }

    setView(view) {
        this.state.view = view;
        this.loadConversations();
    }

    onChannelChange(ev) {
        this.state.channel = ev.target.value;
        this.loadConversations();
    }

    onSearchInput(ev) {
        this.state.search = ev.target.value;
        this.reloadConversations();
    }

    onListScroll(ev) {
        const el = ev.target;
        if (this.state.hasMore && el.scrollTop + el.clientHeight >= el.scrollHeight - 40) {
            this.state.hasMore = false;
            this.loadConversations({ more: true });
        }
    }

    /** The row Tab reaches in the list (the others are reached with the arrows). */
    get focusTargetId() {
        const ids = this.state.conversations.map((c) => c.id);
        for (const id of [this.state.focusedId, this.state.active?.id]) {
            if (ids.includes(id)) {
                return id;
            }
        }
        return ids[0];
    }

    focusConversation(threadId) {
        const row = this.listRef.el?.querySelector(`.o_cc_conversation[data-thread-id="${threadId}"]`);
        if (row) {
            this.state.focusedId = threadId;
            row.focus();
        }
    }

    /** Listbox keys: ↑/↓ (Home/End) move the focus through the conversations, Enter opens the focused one. */
    onListKeydown(ev) {
        const ids = this.state.conversations.map((c) => c.id);
        const row = ev.target.closest(".o_cc_conversation");
        if (!ids.length) {
            return;
        }
        if (["Enter", " "].includes(ev.key)) {
            if (row) {
                ev.preventDefault();
                this.openConversation(parseInt(row.dataset.threadId));
            }
            return;
        }
        const index = row ? ids.indexOf(parseInt(row.dataset.threadId)) : ids.indexOf(this.focusTargetId);
        const next = {
            ArrowDown: row ? Math.min(index + 1, ids.length - 1) : index,
            ArrowUp: row ? Math.max(index - 1, 0) : index,
            Home: 0,
            End: ids.length - 1,
        }[ev.key];
        if (next !== undefined) {
            ev.preventDefault();
            this.focusConversation(ids[next]);
        }
    }

    matchesFilter(conversation) {
        const { view, channel } = this.state;
        if (channel && conversation.channel !== channel) {
            return false;
        }
        if (view === "resolved") {
            return conversation.state === "resolved";
        }
        if (conversation.state !== "open") {
            return false;
        }
        if (view === "mine") {
            return conversation.assigned_agent_id && conversation.assigned_agent_id[0] === user.userId;
        }
        if (view === "unassigned") {
            return !conversation.assigned_agent_id;
        }
        return true;
    }

    // Open conversation

    async openConversation(threadId) {
        const [details, messages] = await Promise.all([
            this.orm.call(THREAD_MODEL, "inbox_open", [[threadId]]),
            this.orm.call(THREAD_MODEL, "inbox_messages", [[threadId]], { limit: PAGE }),
        ]);
        this.state.active = details;
        this.state.messages = messages;
        this.state.hasOlder = messages.length === PAGE;
        this.state.composer = this.emptyComposer();
        const row = this.state.conversations.find((c) => c.id === threadId);
        if (row) {
            row.unread_count = 0;
        }
        this.scrollToBottom();
    }

    async refreshActive() {
        this.state.active = await this.orm.call(THREAD_MODEL, "inbox_open", [[this.state.active.id]]);
    }

    async loadOlder() {
        const el = this.threadRef.el;
        const height = el.scrollHeight;
        const older = await this.orm.call(THREAD_MODEL, "inbox_messages", [[this.state.active.id]], {
            before_id: this.state.messages[0].id,
            limit: PAGE,
        });
        this.state.messages = [...older, ...this.state.messages];
        this.state.hasOlder = older.length === PAGE;
        requestAnimationFrame(() => (el.scrollTop = el.scrollHeight - height));
    }

    onThreadScroll(ev) {
        if (this.state.hasOlder && ev.target.scrollTop < 40) {
            this.state.hasOlder = false;
            this.loadOlder();
        }
    }

    scrollToBottom() {
        requestAnimationFrame(() => {
            const el = this.threadRef.el;
            if (el) {
                el.scrollTop = el.scrollHeight;
            }
        });
    }

    mergeMessages(rows) {
        const byId = new Map(this.state.messages.map((m) => [m.id, m]));
        for (const row of rows) {
            byId.set(row.id, row);
        }
        this.state.messages = [...byId.values()].sort(
            (a, b) => a.message_timestamp.localeCompare(b.message_timestamp) || a.id - b.id
        );
    }

    // Live updates

    async applyThreadNotification(payload) {
        const changes = {
            state: payload.state,
            channel: payload.channel,
            unread_count: payload.unread_count,
            assigned_agent_id: payload.assigned_agent_id,
            last_message_date: payload.last_message_date,
            last_message_preview: payload.last_message_preview,
        };
        const isActive = this.state.active?.id === payload.thread_id;
        if (isActive) {
            changes.unread_count = 0;
        }
        const row = this.state.conversations.find((c) => c.id === payload.thread_id);
        if (row) {
            Object.assign(row, changes);
            if (!this.matchesFilter(row)) {
                this.state.conversations = this.state.conversations.filter((c) => c.id !== row.id);
            } else {
                this.state.conversations.sort((a, b) =>
                    (b.last_message_date || "").localeCompare(a.last_message_date || "")
                );
            }
        } else if (this.matchesFilter(changes)) {
            this.reloadConversations();
        }
        if (isActive) {
            const rows = await this.orm.call(MESSAGE_MODEL, "inbox_message_rows", [
                payload.messages.map((m) => m.id),
            ]);
            this.mergeMessages(rows);
            this.scrollToBottom();
            if (payload.messages.some((m) => m.direction === "inbound")) {
                await this.refreshActive();
            }
        }
    }

    applyAssignment(payload) {
        this.notification.add(_t("Conversation with %s assigned to you.", payload.contact), { type: "info" });
        this.reloadConversations();
    }

    // Composer

    get windowOpen() {
        const active = this.state.active;
        if (!active || active.channel !== "whatsapp") {
            return true;
        }
        return Boolean(active.whatsapp_window_end) && this.windowEnd > this.state.now;
    }

    get windowEnd() {
        return deserializeDateTime(this.state.active.whatsapp_window_end);
    }

    get windowLabel() {
        if (!this.windowOpen) {
            return _t("Window closed");
        }
        const left = this.windowEnd.diff(this.state.now, ["hours", "minutes"]);
        return _t("%(hours)s h %(minutes)s min left", {
            hours: Math.floor(left.hours),
            minutes: Math.floor(left.minutes),
        });
    }

    get optedOut() {
        const { active } = this.state;
        return active && !active.contact[`opt_in_${active.channel}`];
    }

    get selectedTemplate() {
        const id = parseInt(this.state.composer.templateId);
        return this.state.active?.templates.find((t) => t.id === id);
    }

    onTextInput(ev) {
        this.state.composer.text = ev.target.value;
        if (this.state.active.channel === "sms") {
            this.refreshComposeInfo();
        }
    }

    onTextKeydown(ev) {
        if (ev.key === "Enter" && !ev.shiftKey) {
            ev.preventDefault();
            this.send();
        }
    }

    onTemplateChange(ev) {
        const composer = this.state.composer;
        composer.templateId = ev.target.value;
        const template = this.selectedTemplate;
        composer.values = Object.fromEntries((template?.variables || []).map((v) => [v.name, v.value]));
        this.loadComposeInfo();
    }

    onValueInput(name, ev) {
        this.state.composer.values[name] = ev.target.value;
        this.refreshComposeInfo();
    }

    insertScript(script) {
        this.state.composer.templateId = "";
        this.state.composer.text = script.text;
        this.refreshComposeInfo();
        this.textRef.el?.focus();
    }

    async loadComposeInfo() {
        const composer = this.state.composer;
        const info = await this.orm.call(THREAD_MODEL, "inbox_compose_info", [[this.state.active.id]], {
            text: composer.text,
            template_id: parseInt(composer.templateId) || null,
            values: composer.values,
        });
        composer.preview = info.preview;
        composer.sms = info.sms_encoding ? info : null;
    }

    async send() {
        const composer = this.state.composer;
        const templateId = parseInt(composer.templateId) || null;
        if (composer.sending || (!templateId && !composer.text.trim())) {
            return;
        }
        composer.sending = true;
        try {
            const row = await this.orm.call(THREAD_MODEL, "inbox_send", [[this.state.active.id]], {
                text: templateId ? null : composer.text,
                template_id: templateId,
                values: templateId ? composer.values : null,
            });
            this.mergeMessages([row]);
            this.state.composer = this.emptyComposer();
            this.scrollToBottom();
        } finally {
            composer.sending = false;
        }
    }

    async retry(message) {
        await this.orm.call(MESSAGE_MODEL, "action_retry", [[message.id]]);
        this.mergeMessages(await this.orm.call(MESSAGE_MODEL, "inbox_message_rows", [[message.id]]));
    }

    // Contact panel

    async resolve() {
        await this.orm.call(THREAD_MODEL, "action_resolve", [[this.state.active.id]]);
        this.notification.add(_t("Conversation resolved."), { type: "success" });
        this.afterThreadChange();
    }

    async reopen() {
        await this.orm.call(THREAD_MODEL, "action_reopen", [[this.state.active.id]]);
        this.afterThreadChange();
    }

    async reassign(ev) {
        const agentId = parseInt(ev.target.value);
        if (agentId) {
            await this.orm.call(THREAD_MODEL, "action_assign_to", [[this.state.active.id], agentId]);
            this.afterThreadChange();
        }
    }

    async afterThreadChange() {
        await Promise.all([this.refreshActive(), this.loadConversations()]);
    }

    openContact() {
        this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "contact.centre.contact",
            res_id: this.state.active.contact.id,
            views: [[false, "form"]],
        });
    }

    // Display helpers

    formatText(text) {
        return formatWhatsappText(text);
    }

    /**
     * In the user's language and formats: today the time only (the user's time format without
     * seconds), before today the date (and the time too when `withTime`).
     */
    formatTime(value, { withTime = false } = {}) {
        if (!value) {
            return "";
        }
        const date = deserializeDateTime(value);
        const time = formatDateTime(date, { format: localization.timeFormat.replace(/[:.]ss/, "") });
        if (date.hasSame(this.state.now, "day")) {
            return time;
        }
        return withTime ? `${formatDate(date)} ${time}` : formatDate(date);
    }

    fullTime(value) {
        return value ? formatDateTime(deserializeDateTime(value)) : "";
    }

    statusTitle(message) {
        return message.status === "failed" ? message.error_message || message.error_code || "" : message.status;
    }

    /** Titles of the reply buttons or list rows an interactive message offered. */
    interactiveOptions(message) {
        const action = message.interactive_payload?.action || {};
        const buttons = (action.buttons || []).map((button) => button.reply?.title);
        const rows = (action.sections || []).flatMap((section) => (section.rows || []).map((row) => row.title));
        return [...buttons, ...rows].filter(Boolean);
    }

    /** The contact panel's channels; the opt-in state only shows where the contact has a number. */
    get contactChannels() {
        const contact = this.state.active.contact;
        return [
            {
                key: "whatsapp",
                label: _t("WhatsApp"),
                number: contact.whatsapp_number,
                optedIn: contact.opt_in_whatsapp,
            },
            {
                key: "sms",
                label: _t("SMS"),
                number: contact.sms_number || contact.whatsapp_number,
                optedIn: contact.opt_in_sms,
            },
        ];
    }

    optInLabel(channel) {
        return channel.optedIn ? _t("opted in") : _t("opted out");
    }

    isImage(attachment) {
        return (attachment.mimetype || "").startsWith("image/");
    }
}

registry.category("actions").add("contact_centre.inbox", ContactCentreInbox);
