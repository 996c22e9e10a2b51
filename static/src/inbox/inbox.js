import { Component, markRaw, onMounted, onPatched, onWillStart, onWillUnmount, useRef, useState } from "@odoo/owl";
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
const SUPERVISOR_GROUP = "contact_centre.group_contact_centre_supervisor";
/** How close to the end of the thread (px) still counts as "reading the newest message". */
const BOTTOM_SLACK = 40;
/** WhatsApp shows "typing..." for 25 s: tell it again at most every 20 s per conversation (the server checks too). */
const TYPING_INTERVAL_MS = 20000;
/** Other names browsers give the types the server knows. */
const TYPE_ALIASES = { "image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "audio/mp3": "audio/mpeg", "audio/x-m4a": "audio/mp4" };

/** The bytes of `file` in base64, as the server takes them. */
function readAsBase64(file) {
    return new Promise((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result.slice(reader.result.indexOf(",") + 1));
        reader.onerror = () => reject(reader.error);
        reader.readAsDataURL(file);
    });
}

function megabytes(bytes) {
    return Math.round((bytes / (1 << 20)) * 10) / 10;
}

/** The server's order of the conversation list: latest activity first (no activity last), then newest. */
function compareConversations(a, b) {
    const dates = (b.last_message_date || "").localeCompare(a.last_message_date || "");
    return dates || b.id - a.id;
}

/** The agent of a row or a payload: [id, name], or false for "no agent" whatever form it comes in. */
function agentOf(value) {
    return Array.isArray(value) && value[0] ? value : false;
}

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
        this.fileRef = useRef("file");
        /** When this user last told WhatsApp they are typing, per conversation (ms). */
        this.typingSentAt = {};
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
            errorDetails: {},
            now: luxon.DateTime.now(),
        });
        this.isSupervisor = false;
        /** Conversations announced by the bus that the list lacks: the next insertNewConversations fetches them. */
        this.missingThreads = new Set();
        /** Bumped by each full load of the list: answers of older loads are dropped. */
        this.listGeneration = 0;
        this.openRequest = 0;
        /** What the thread's scroll does once OWL has drawn the messages: "bottom", or keep {height}. */
        this.pendingScroll = null;
        this.stickToBottom = true;
        this.views = [
            { key: "mine", label: _t("Mine") },
            { key: "unassigned", label: _t("Unassigned") },
            { key: "all", label: _t("All") },
            { key: "resolved", label: _t("Resolved") },
        ];
        this.reloadConversations = debounce(() => this.loadConversations(), 250);
        this.loadNewConversations = debounce(() => this.insertNewConversations(), 150);
        this.refreshComposeInfo = debounce(() => this.loadComposeInfo(), 200);
        this.onThreadNotification = (payload) => this.applyThreadNotification(payload);
        this.onAssigned = (payload) => this.applyAssignment(payload);
        this.onThreadLeft = (payload) => this.applyThreadLeft(payload);

        onWillStart(async () => {
            const [isSupervisor] = await Promise.all([user.hasGroup(SUPERVISOR_GROUP), this.loadConversations()]);
            this.isSupervisor = isSupervisor;
        });
        onMounted(() => {
            this.focusConversation(this.focusTargetId);
            this.busService.subscribe("contact_centre/thread", this.onThreadNotification);
            this.busService.subscribe("contact_centre/thread_left", this.onThreadLeft);
            this.busService.subscribe("contact_centre/assigned", this.onAssigned);
            this.clock = setInterval(() => (this.state.now = luxon.DateTime.now()), 30000);
        });
        onPatched(() => this.applyPendingScroll());
        onWillUnmount(() => {
            this.busService.unsubscribe("contact_centre/thread", this.onThreadNotification);
            this.busService.unsubscribe("contact_centre/thread_left", this.onThreadLeft);
            this.busService.unsubscribe("contact_centre/assigned", this.onAssigned);
            clearInterval(this.clock);
        });
    }

    emptyComposer() {
        return {
            text: "",
            templateId: "",
            values: {},
            preview: "",
            sms: null,
            sending: false,
            file: null,
            fileError: "",
            dragging: false,
        };
    }

    // Conversation list

    get listFilters() {
        return {
            view: this.state.view,
            channel: this.state.channel || null,
            search: this.state.search || null,
        };
    }

    async loadConversations({ more = false } = {}) {
        const generation = more ? this.listGeneration : ++this.listGeneration;
        const rows = await this.orm.call(THREAD_MODEL, "inbox_conversations", [], {
            ...this.listFilters,
            offset: more ? this.state.conversations.length : 0,
            limit: PAGE,
        });
        if (generation !== this.listGeneration) {
            return; // the filters changed, or the list was loaded again, meanwhile
        }
        if (more) {
            const known = new Set(this.state.conversations.map((c) => c.id));
            this.state.conversations = [...this.state.conversations, ...rows.filter((row) => !known.has(row.id))];
        } else {
            this.state.conversations = rows;
        }
        this.state.hasMore = rows.length === PAGE;
    }

    /**
     * Conversations the bus announced that belong in the list and are not in it yet: the first page
     * of the current view (the server applies the view, the channel, the search and the record
     * rules) gives them with the user's unread count, and each goes to its place in the list.
     */
    async insertNewConversations() {
        const generation = this.listGeneration;
        const asked = new Set(this.missingThreads);
        this.missingThreads.clear();
        const rows = await this.orm.call(THREAD_MODEL, "inbox_conversations", [], {
            ...this.listFilters,
            offset: 0,
            limit: PAGE,
        });
        if (generation !== this.listGeneration) {
            return;
        }
        const list = this.state.conversations;
        for (const row of rows) {
            if (this.state.active?.id === row.id) {
                row.unread_count = 0;
            }
            const existing = list.find((c) => c.id === row.id);
            if (existing) {
                // Inserted meanwhile by an earlier answer, read before this announcement: this count is newer.
                if (asked.has(row.id)) {
                    const { unread_count, unread_through_id } = row;
                    Object.assign(existing, { unread_count, unread_through_id });
                }
                continue;
            }
            const index = list.findIndex((c) => compareConversations(row, c) < 0);
            if (index >= 0) {
                list.splice(index, 0, row);
            } else if (!this.state.hasMore) {
                list.push(row);
            }
        }
    }

    removeConversation(threadId) {
        this.state.conversations = this.state.conversations.filter((c) => c.id !== threadId);
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
        const agent = agentOf(conversation.assigned_agent_id);
        if (view === "mine") {
            return Boolean(agent) && agent[0] === user.userId;
        }
        if (view === "unassigned") {
            return !agent;
        }
        return true;
    }

    /** Whether this user may see a conversation with ``agent``: supervisors all, agents theirs and the queue. */
    maySee(agent) {
        agent = agentOf(agent);
        return this.isSupervisor || !agent || agent[0] === user.userId;
    }

    // Open conversation

    async openConversation(threadId) {
        const request = ++this.openRequest;
        const [details, messages] = await Promise.all([
            this.orm.call(THREAD_MODEL, "inbox_open", [[threadId]]),
            this.orm.call(THREAD_MODEL, "inbox_messages", [[threadId]], { limit: PAGE }),
        ]);
        if (request !== this.openRequest) {
            return; // another conversation was opened meanwhile
        }
        this.pendingScroll = "bottom";
        this.stickToBottom = true;
        this.state.active = details;
        this.state.messages = messages;
        this.state.hasOlder = messages.length === PAGE;
        this.state.composer = this.emptyComposer();
        this.state.errorDetails = {};
        const row = this.state.conversations.find((c) => c.id === threadId);
        if (row) {
            row.unread_count = 0;
        }
    }

    /** The open conversation's panel again (opening it also marks it read on the server). */
    async refreshActive() {
        const threadId = this.state.active?.id;
        if (!threadId) {
            return;
        }
        const details = await this.orm.call(THREAD_MODEL, "inbox_open", [[threadId]]);
        if (this.state.active?.id === threadId) {
            this.state.active = details;
        }
    }

    /** Close the open conversation (the user may no longer see it), saying why. */
    closeConversation(message) {
        this.state.active = null;
        this.state.messages = [];
        this.state.hasOlder = false;
        this.state.composer = this.emptyComposer();
        this.notification.add(message, { type: "warning" });
    }

    async loadOlder() {
        const threadId = this.state.active.id;
        const older = await this.orm.call(THREAD_MODEL, "inbox_messages", [[threadId]], {
            before_id: this.state.messages[0].id,
            limit: PAGE,
        });
        if (this.state.active?.id !== threadId) {
            return;
        }
        const el = this.threadRef.el;
        this.pendingScroll = { height: el?.scrollHeight || 0, top: el?.scrollTop || 0 };
        this.state.messages = [...older, ...this.state.messages];
        this.state.hasOlder = older.length === PAGE;
    }

    onThreadScroll(ev) {
        this.stickToBottom = this.isAtBottom();
        if (this.state.hasOlder && ev.target.scrollTop < 40) {
            this.state.hasOlder = false;
            this.loadOlder();
        }
    }

    /** An image drawn after the messages grows the thread: keep the newest message in view if it was. */
    onThreadMediaLoad() {
        if (this.stickToBottom) {
            this.scrollThreadTo("bottom");
        }
    }

    isAtBottom() {
        const el = this.threadRef.el;
        return !el || el.scrollHeight - el.scrollTop - el.clientHeight <= BOTTOM_SLACK;
    }

    /** Called once OWL has patched the DOM: the messages are there, their height is known. */
    applyPendingScroll() {
        if (this.pendingScroll && this.threadRef.el) {
            this.scrollThreadTo(this.pendingScroll);
            this.pendingScroll = null;
        }
    }

    scrollThreadTo(where) {
        const el = this.threadRef.el;
        if (!el) {
            return;
        }
        // Older messages added above: the ones on screen stay where they were.
        el.scrollTop = where === "bottom" ? el.scrollHeight : el.scrollHeight - where.height + where.top;
        this.stickToBottom = this.isAtBottom();
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

    /**
     * A conversation's new messages, statuses or assignment: its row follows (and leaves a view it no
     * longer belongs in), a conversation new to the view is inserted at its place, its unread badge
     * counts the new inbound messages unless it is the open one, whose thread shows them.
     */
    async applyThreadNotification(payload) {
        const threadId = payload.thread_id;
        const messages = payload.messages || [];
        const changes = {
            state: payload.state,
            channel: payload.channel,
            assigned_agent_id: agentOf(payload.assigned_agent_id),
            last_message_date: payload.last_message_date,
            last_message_preview: payload.last_message_preview,
        };
        const inbound = messages.filter((m) => m.direction === "inbound").map((m) => m.id);
        const isActive = this.state.active?.id === threadId;
        const row = this.state.conversations.find((c) => c.id === threadId);
        if (row) {
            Object.assign(row, changes);
            // The row's count includes the inbound messages up to its unread_through_id (read from
            // the server, then moved on here): a message announced again (the bus replays the last
            // seconds' announcements to a page just opened; a changed status) counts once.
            const through = row.unread_through_id || 0;
            const uncounted = inbound.filter((id) => id > through).length;
            row.unread_through_id = Math.max(through, ...inbound);
            if (isActive) {
                row.unread_count = 0;
            } else if (uncounted) {
                row.unread_count = (row.unread_count || 0) + uncounted;
            }
            if (this.matchesFilter(row)) {
                this.state.conversations.sort(compareConversations);
            } else {
                this.removeConversation(threadId);
            }
        } else if (this.matchesFilter(changes)) {
            this.missingThreads.add(threadId);
            this.loadNewConversations();
        }
        if (!isActive) {
            return;
        }
        Object.assign(this.state.active, {
            state: payload.state,
            assigned_agent: changes.assigned_agent_id,
            can_take: !changes.assigned_agent_id,
        });
        if (!messages.length) {
            return;
        }
        const atBottom = this.isAtBottom();
        const rows = await this.orm.call(MESSAGE_MODEL, "inbox_message_rows", [messages.map((m) => m.id)]);
        if (this.state.active?.id !== threadId) {
            return;
        }
        if (atBottom) {
            this.pendingScroll = "bottom";
        }
        this.mergeMessages(rows);
        if (messages.some((m) => m.direction === "inbound")) {
            await this.refreshActive(); // the WhatsApp window, suggested scripts; and read for this user
        }
    }

    /**
     * A conversation got an agent (the queue is told) or was reassigned away from this user: it
     * leaves the lists it no longer belongs in, and closes if this user may no longer see it.
     */
    applyThreadLeft(payload) {
        const threadId = payload.thread_id;
        const agent = agentOf(payload.assigned_agent_id);
        const visible = this.maySee(agent);
        const row = this.state.conversations.find((c) => c.id === threadId);
        if (row) {
            row.assigned_agent_id = agent;
            if (!visible || !this.matchesFilter(row)) {
                this.removeConversation(threadId);
            }
        } else if (visible && this.matchesFilter({ ...payload, assigned_agent_id: agent, state: "open" })) {
            this.missingThreads.add(threadId);
            this.loadNewConversations();
        }
        const active = this.state.active;
        if (active?.id !== threadId) {
            return;
        }
        if (!visible) {
            const name = agent[1];
            this.closeConversation(
                active.assigned_agent
                    ? _t("The conversation with %(contact)s was reassigned to %(agent)s.", {
                          contact: active.contact.name,
                          agent: name,
                      })
                    : _t("%(agent)s has taken the conversation with %(contact)s.", {
                          contact: active.contact.name,
                          agent: name,
                      })
            );
            return;
        }
        Object.assign(active, { assigned_agent: agent, can_take: !agent });
    }

    applyAssignment(payload) {
        if (this.state.active?.id !== payload.thread_id) {
            this.notification.add(_t("Conversation with %s assigned to you.", payload.contact), { type: "info" });
        }
        this.missingThreads.add(payload.thread_id);
        this.loadNewConversations();
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
        this.notifyTyping();
    }

    /** WhatsApp, inside the window: the customer sees "typing..." (at most every 20 s; never waited for). */
    notifyTyping() {
        const active = this.state.active;
        if (!active?.typing_indicator || !this.windowOpen || this.optedOut) {
            return;
        }
        const now = Date.now();
        if (now - (this.typingSentAt[active.id] || 0) < TYPING_INTERVAL_MS) {
            return;
        }
        this.typingSentAt[active.id] = now;
        this.orm.silent.call(THREAD_MODEL, "inbox_typing", [[active.id]]).catch(() => {});
    }

    // Attachments

    get attachmentRules() {
        return this.state.active?.attachment || { allowed: false, reason: "", limits: {} };
    }

    /** A file may go with free text: WhatsApp inside the window, SMS where the provider sends MMS. */
    get canAttach() {
        return this.attachmentRules.allowed && this.windowOpen && !this.optedOut && !this.selectedTemplate;
    }

    get attachTitle() {
        if (!this.attachmentRules.allowed) {
            return this.attachmentRules.reason;
        }
        return this.canAttach ? _t("Attach a file (or drop it here)") : _t("No file can go with this message");
    }

    get acceptedTypes() {
        return Object.keys(this.attachmentRules.limits).join(",");
    }

    openFilePicker() {
        if (this.canAttach) {
            this.fileRef.el?.click();
        } else if (!this.attachmentRules.allowed) {
            this.notification.add(this.attachmentRules.reason, { type: "warning" });
        }
    }

    onFileChange(ev) {
        const [file] = ev.target.files;
        ev.target.value = ""; // the same file can be chosen again after its removal
        if (file) {
            this.chooseFile(file);
        }
    }

    /** Checked here against the channel's types and sizes before anything is uploaded (and again on the server). */
    chooseFile(file) {
        const composer = this.state.composer;
        const problem = this.fileProblem(file);
        if (problem) {
            composer.file = null;
            composer.fileError = problem;
            return;
        }
        composer.fileError = "";
        composer.file = markRaw(file); // a File must reach FileReader as itself, not as a reactive proxy
    }

    fileProblem(file) {
        const rules = this.attachmentRules;
        if (!rules.allowed) {
            return rules.reason;
        }
        if (!file.size) {
            return _t("%s is empty.", file.name);
        }
        const limits = rules.limits;
        const type = TYPE_ALIASES[file.type] || file.type;
        if (type && !(type in limits)) {
            return this.state.active.channel === "whatsapp"
                ? _t(
                      "WhatsApp does not take %(name)s (%(type)s). Send an image (JPEG, PNG), a video (MP4, 3GP), audio (AAC, AMR, MP3, M4A, OGG) or a document (PDF, TXT, Word, Excel, PowerPoint).",
                      { name: file.name, type }
                  )
                : _t(
                      "An MMS does not carry %(name)s (%(type)s). Send an image (JPEG, PNG, GIF), a video (MP4, 3GP), audio, a PDF or a contact card.",
                      { name: file.name, type }
                  );
        }
        // A type the browser does not name: the largest file any type may be; the server reads the type.
        const limit = limits[type] || Math.max(...Object.values(limits));
        if (file.size > limit) {
            return _t("%(name)s is too large (%(size)s MB): at most %(limit)s MB here.", {
                name: file.name,
                size: megabytes(file.size),
                limit: megabytes(limit),
            });
        }
        return "";
    }

    removeFile() {
        Object.assign(this.state.composer, { file: null, fileError: "" });
    }

    fileSize(file) {
        return file.size < 1 << 20 ? _t("%s KB", Math.max(1, Math.round(file.size / 1024))) : _t("%s MB", megabytes(file.size));
    }

    onComposerDragOver(ev) {
        if (this.canAttach && ev.dataTransfer?.types?.includes("Files")) {
            ev.preventDefault();
            this.state.composer.dragging = true;
        }
    }

    onComposerDragLeave(ev) {
        if (!ev.currentTarget.contains(ev.relatedTarget)) {
            this.state.composer.dragging = false;
        }
    }

    onComposerDrop(ev) {
        this.state.composer.dragging = false;
        const [file] = ev.dataTransfer?.files || [];
        if (!file || !this.canAttach) {
            return;
        }
        ev.preventDefault();
        this.chooseFile(file);
    }

    /** SMS only: the message (or the template as filled) takes more segments than one SMS may. */
    get smsTooLong() {
        const sms = this.state.composer.sms;
        return Boolean(sms?.sms_max_segments) && sms.sms_segments > sms.sms_max_segments;
    }

    get sendDisabled() {
        const composer = this.state.composer;
        const freeTextBlocked = !this.selectedTemplate && !this.windowOpen;
        return this.optedOut || freeTextBlocked || composer.sending || this.smsTooLong;
    }

    get sendTitle() {
        return this.smsTooLong ? _t("Too long for one SMS: shorten the message") : _t("Send");
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
        if (!this.state.active) {
            return;
        }
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
        const file = !templateId && composer.file;
        if (this.sendDisabled || (!templateId && !file && !composer.text.trim())) {
            return;
        }
        const active = this.state.active;
        const threadId = active.id;
        // A reply to an unassigned conversation takes it (server setting, on by default).
        const wasUnassigned = active.can_take;
        composer.sending = true;
        try {
            const attachment = file ? { name: file.name, data: await readAsBase64(file) } : null;
            const row = await this.orm.call(THREAD_MODEL, "inbox_send", [[threadId]], {
                text: templateId ? null : composer.text,
                template_id: templateId,
                values: templateId ? composer.values : null,
                attachment,
            });
            if (this.state.active?.id !== threadId) {
                return;
            }
            this.pendingScroll = "bottom";
            this.mergeMessages([row]);
            this.state.composer = this.emptyComposer();
        } finally {
            composer.sending = false;
        }
        if (wasUnassigned) {
            await this.refreshActive();
        }
    }

    toggleErrorDetails(message) {
        if (this.isAtBottom()) {
            this.pendingScroll = "bottom"; // the details of the newest message open in view
        }
        this.state.errorDetails[message.id] = !this.state.errorDetails[message.id];
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

    /** The current agent takes the open, unassigned conversation: it leaves the queue for Mine. */
    async take() {
        const threadId = this.state.active.id;
        // Someone quicker gets "X has already taken this conversation"; their taking it closes the
        // conversation here (applyThreadLeft).
        await this.orm.call(THREAD_MODEL, "action_take", [[threadId]]);
        this.notification.add(_t("You took this conversation: it is in Mine."), { type: "success" });
        await this.afterThreadChange();
    }

    /** Supervisors: to an agent, or back to the queue (the "Unassigned" choice, sent as false). */
    async reassign(ev) {
        const select = ev.target;
        const agentId = parseInt(select.value) || false;
        if (agentId === this.selectedAgentId) {
            return;
        }
        try {
            await this.orm.call(THREAD_MODEL, "action_assign_to", [[this.state.active.id], agentId]);
        } catch (error) {
            select.value = String(this.selectedAgentId || ""); // the picker shows the agent it still has
            throw error;
        }
        await this.afterThreadChange();
    }

    async afterThreadChange() {
        await Promise.all([this.refreshActive(), this.loadConversations()]);
    }

    /** The composer wizard for what the reply box does not offer (reply buttons, lists, flows). */
    async openComposer() {
        const action = await this.orm.call(THREAD_MODEL, "action_open_composer", [[this.state.active.id]]);
        await this.action.doAction(action, { onClose: () => this.refreshActive() });
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

    /** "Unassigned" for no agent, whatever form the server or the bus gives it in. */
    agentName(agent) {
        agent = agentOf(agent);
        return agent ? agent[1] : _t("Unassigned");
    }

    get selectedAgentId() {
        const agent = agentOf(this.state.active?.assigned_agent);
        return agent ? agent[0] : false;
    }

    statusTitle(message) {
        return message.status === "failed"
            ? message.error_explanation || message.error_message || message.error_code || ""
            : message.status;
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
