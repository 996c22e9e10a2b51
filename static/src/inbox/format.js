import { markup } from "@odoo/owl";
import { escape } from "@web/core/utils/strings";

/**
 * Message text the way WhatsApp draws it: *bold*, _italic_, ~strike~, ```monospace``` and
 * `inline code`, clickable links; line breaks are kept by the `o_cc_text` class (pre-wrap).
 *
 * The text is HTML-escaped first, then the only tags added are the ones written here: whatever the
 * contact sends (`<img onerror=...>`, `<script>`) shows as text. After escaping, the text holds no
 * `<`, `>`, `"`, `'` or backtick of its own (a backtick is `&#x60;`), so tags and attributes
 * written below cannot be broken out of.
 */

const TICK = "&#x60;";
/** Marks the place of a piece of HTML set aside (monospace, code, links): \0 is removed from the text. */
const SLOT = /\0(\d+)\0/g;
/** ```monospace```, over several lines if need be; nothing inside is formatted. */
const MONOSPACE = new RegExp(`(?:${TICK}){3}([\\s\\S]+?)(?:${TICK}){3}`, "g");
/** `code`: on one line, hugging non-space text, no backtick inside. */
const NOT_TICK = `(?!${TICK})`;
const INLINE_CODE = new RegExp(
    `(?<!${TICK})${TICK}(${NOT_TICK}\\S(?:(?:${NOT_TICK}[^\\n])*?${NOT_TICK}\\S)?)${TICK}(?!${TICK})`,
    "g"
);
/** http(s):// and www. addresses, up to a space or a character escaped from the text (<, >, ", ', `). */
const URL = /(?<![\p{L}\p{N}@./-])(?:https?:\/\/|www\.)(?=[\p{L}\p{N}])(?:(?!&(?:lt|gt|quot|#x27|#x60);)[^\s\0])+/giu;
/** What ends a sentence rather than the address: "see https://example.com." */
const URL_TRAILER = /(?:&amp;|[.,:;!?*_~)])$/;
/**
 * WhatsApp's rule: the markers hug non-space text (`* no *` is left alone), on one line, and do not
 * sit inside a word (`snake_case_name`, `2*3*4` are left alone).
 */
const span = (marker) => `${marker}([^\\s${marker}](?:[^\\n]*?[^\\s${marker}])?)${marker}`;
const EMPHASIS = new RegExp(
    `(?<![\\p{L}\\p{N}])(?:${span("\\*")}|${span("_")}|${span("~")})(?![\\p{L}\\p{N}])`,
    "gu"
);

function count(text, char) {
    return text.split(char).length - 1;
}

/** The address and what follows it but belongs to the sentence (balanced parentheses stay). */
function splitUrl(url) {
    let trailer = "";
    let match;
    while ((match = url.match(URL_TRAILER))) {
        if (match[0] === ")" && count(url, "(") >= count(url, ")")) {
            break;
        }
        url = url.slice(0, -match[0].length);
        trailer = match[0] + trailer;
    }
    return [url, trailer];
}

function emphasize(html) {
    return html.replace(EMPHASIS, (match, bold, italic, strike) => {
        const tag = bold !== undefined ? "strong" : italic !== undefined ? "em" : "del";
        return `<${tag}>${emphasize(bold ?? italic ?? strike)}</${tag}>`;
    });
}

/**
 * @param {string} text a message as the contact or the agent typed it
 * @returns {import("@odoo/owl").Markup} safe HTML, to render with t-out
 */
export function formatWhatsappText(text) {
    const slots = [];
    const setAside = (html) => `\0${slots.push(html) - 1}\0`;
    let html = escape((text || "").replaceAll("\0", "\uFFFD"));
    html = html.replace(MONOSPACE, (match, content) =>
        content.trim() ? setAside(`<code class="o_cc_monospace">${content}</code>`) : match
    );
    html = html.replace(INLINE_CODE, (match, content) => setAside(`<code>${content}</code>`));
    html = html.replace(URL, (match) => {
        const [url, trailer] = splitUrl(match);
        const href = /^https?:/i.test(url) ? url : `https://${url}`;
        return setAside(`<a href="${href}" target="_blank" rel="noopener noreferrer">${url}</a>`) + trailer;
    });
    html = emphasize(html);
    return markup(html.replace(SLOT, (match, index) => slots[index]));
}
