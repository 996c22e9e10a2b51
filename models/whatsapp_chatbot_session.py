from odoo import api, fields, models

from ..tools.batch_cache import in_batch
from ..tools.interactive import (
    MAX_ROW_TITLE,
    InteractiveError,
    build_buttons,
    build_list,
    flow_answers,
    flow_parameters,
)
from ..tools.keywords import normalize


class WhatsappChatbotSession(models.Model):
    """One run of a chatbot with one contact on one conversation: where it is and what it captured."""

    _name = "whatsapp.chatbot.session"
    _description = "Chatbot Session"
    _order = "id DESC"

    chatbot_id = fields.Many2one("whatsapp.chatbot", required=True, ondelete="cascade")
    thread_id = fields.Many2one("contact.centre.thread", "Conversation", required=True, ondelete="cascade", index=True)
    contact_id = fields.Many2one(related="thread_id.contact_id", store=True)
    step_id = fields.Many2one("whatsapp.chatbot.step", "Current Step", ondelete="set null")
    state = fields.Selection(
        [("running", "Running"), ("handed_over", "Handed Over"), ("done", "Done")], default="running", required=True
    )
    answers = fields.Json(default=dict)

    _running_idx = models.Index("(thread_id) WHERE state = 'running'")

    @api.model_create_multi
    def create(self, vals_list):
        sessions = super().create(vals_list)
        without = (in_batch(self.env) or {}).get("threads_without_bot")
        if without:  # an ingestion batch: these conversations have a running bot now
            without.difference_update(sessions.thread_id.ids)
        return sessions

    @api.model
    def _running_for(self, thread):
        if thread.id in self._threads_without_bot():
            return self.browse()
        return self.search([("thread_id", "=", thread.id), ("state", "=", "running")], limit=1)

    @api.model
    def _threads_without_bot(self):
        """During an ingestion batch, the ids of its conversations that have no running session,
        looked up once (a session is only ever created running: ``create`` takes its conversation
        out); outside a batch, none."""
        cache = in_batch(self.env)
        if cache is None:
            return set()
        if "threads_without_bot" not in cache:
            thread_ids = set(cache.get("inbound_thread_ids") or ())
            if thread_ids:
                domain = [("thread_id", "in", sorted(thread_ids)), ("state", "=", "running")]
                thread_ids -= set(self.sudo().search_fetch(domain, ["thread_id"]).thread_id.ids)
            cache["threads_without_bot"] = thread_ids
        return cache["threads_without_bot"]

    @api.model
    def _start(self, chatbot, thread):
        """Start ``chatbot`` on ``thread`` at its first step (a running session there is replaced)."""
        self._running_for(thread).write({"state": "done"})
        session = self.create({"chatbot_id": chatbot.id, "thread_id": thread.id})
        session._run_from(chatbot.step_ids[:1])
        return session

    @api.model
    def _handle_inbound(self, message):
        """Give ``message`` to the bot running on its conversation; True when a bot took it."""
        session = self._running_for(message.thread_id)
        if not session:
            return False
        session._answer(message)
        return True

    def _answer(self, message):
        step = self.step_id
        if step.step_type == "capture":
            self.contact_id.sudo().write({step.capture_field: (message.body_text or "").strip()})
            self.answers = {**(self.answers or {}), step.capture_field: message.body_text}
            return self._run_from(self._next_step(step))
        if step.step_type == "question":
            option = self._match_option(step, message)
            if not option:
                self.thread_id._send_automated(text=self.chatbot_id.fallback_message)
                return self._send_step(step)
            self.answers = {**(self.answers or {}), step.name or str(step.id): option.name}
            return self._run_from(option.next_step_id or self._next_step(step))
        if step.step_type == "flow":
            if not self._is_flow_reply(step, message):
                return self._send_step(step)  # anything but the flow's answers: the flow again
            self._capture_flow_answers(step, message)
        return self._run_from(self._next_step(step))

    @staticmethod
    def _is_flow_reply(step, message):
        """Whether ``message`` is the customer's answers to ``step``'s flow: linked by its token to a
        flow message of this conversation (``contact.centre.message._flow_reply_values``) of that flow."""
        asked = message.parent_message_id
        return bool(
            message.flow_token
            and asked.flow_token == message.flow_token
            and asked.thread_id == message.thread_id
            and flow_parameters(asked.interactive_payload).get("flow_id") == step.flow_id.flow_id
        )

    def _capture_flow_answers(self, step, message):
        """The flow's answers into the contact fields the step maps them to, and into the session's answers."""
        answers = flow_answers((message.interactive_payload or {}).get("flow_response"))
        values = {}
        for mapping in step.flow_field_ids:
            value = answers.get(mapping.answer_key)
            if value not in (None, "", [], False):
                values[mapping.contact_field] = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        if values:
            self.contact_id.sudo().write(values)
        self.answers = {**(self.answers or {}), **answers}

    @staticmethod
    def _match_option(step, message):
        """The option an answer picks: a WhatsApp reply id, the option's number, or its title."""
        payload = message.interactive_payload or {}
        options = step.option_ids
        if payload.get("id"):
            picked = options.filtered(lambda o: f"option-{o.id}" == payload["id"])
            if picked:
                return picked
        text = normalize(message.body_text)
        for index, option in enumerate(options, start=1):
            if text in (str(index), normalize(option.name)):
                return option
        return options.browse()

    def _next_step(self, step):
        steps = self.chatbot_id.step_ids
        index = list(steps).index(step) if step in steps else -1
        return steps[index + 1 : index + 2]

    def _run_from(self, step):
        """Say each step from ``step`` on until one waits for an answer or the run ends."""
        while step:
            self.step_id = step
            sent = self._send_step(step)
            if step.step_type in ("question", "capture") or (step.step_type == "flow" and sent.flow_token):
                return
            if step.step_type == "handover":
                self.state = "handed_over"
                self.thread_id._auto_assign()
                return
            if step.step_type == "end":
                break
            step = self._next_step(step)
        self.state = "done"

    def _send_step(self, step):
        thread = self.thread_id
        if step.step_type == "flow":
            return self._send_flow_step(step)
        if step.step_type != "question":
            return thread._send_automated(text=step.message)
        interactive = thread._window_open() and self._interactive(step)
        if interactive:
            return thread._send_automated(text=step.message, interactive=interactive)
        lines = [step.message] + [f"{index}. {option.name}" for index, option in enumerate(step.option_ids, start=1)]
        return thread._send_automated(text="\n".join(lines))

    def _send_flow_step(self, step):
        """The step's flow, on WhatsApp inside the window through a number of the flow's business
        account; else its text alone (the bot then goes on without waiting)."""
        thread = self.thread_id
        config = thread._sending_config() if thread.channel == "whatsapp" else None
        if config and thread._window_open() and step.flow_id.config_id.account_id == config.account_id:
            try:
                payload = step.flow_id._interactive_payload(step.message, cta=step.flow_cta)
            except InteractiveError:
                payload = None
            if payload:
                return thread._send_automated(text=step.message, interactive=payload)
        return thread._send_automated(text=step.message)

    @staticmethod
    def _interactive(step):
        """Reply buttons for up to 3 short options, a list of up to 10 otherwise (WhatsApp's limits,
        ``tools.interactive``); None when neither fits: the options then go as numbered text."""
        options = [{"id": f"option-{o.id}", "title": o.name} for o in step.option_ids]
        try:
            return build_buttons(step.message, options)
        except InteractiveError:
            pass
        rows = [{**option, "title": (option["title"] or "")[:MAX_ROW_TITLE]} for option in options]
        try:
            return build_list(step.message, "Options", [{"title": "Options", "rows": rows}])
        except InteractiveError:
            return None
