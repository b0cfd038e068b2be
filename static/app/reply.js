// The parts of a reply besides its markdown: a reasoning model's thinking, the tools it
// called, and an answer that is one JSON value.
//
// All of it is model output, so all of it is untrusted: the thinking goes through the same
// sanitising markdown renderer as the answer, and tool names, arguments and JSON are set as
// text (textContent), never parsed as HTML.

import { codeFragment, toFragment } from './markdown.js';
import { el } from './util.js';

/**
 * The messages whose Thinking block the user opened. A streaming reply's node is redrawn at
 * each repaint; without this, an opened block would fold up again at the next token.
 */
const opened = new Set();

/** The collapsed "Thinking" block above an answer (null when the reply did not think). */
export function thinkingNode(messageId, reasoning, { streaming }) {
  if (!reasoning) return null;
  const details = el(
    'details',
    {
      class: 'msg-thinking',
      open: opened.has(messageId),
      data: { state: streaming ? 'streaming' : 'done' },
      on: {
        toggle: () => (details.open ? opened.add(messageId) : opened.delete(messageId)),
      },
    },
    el('summary', { class: 'muted small', text: streaming ? 'Thinking…' : 'Thinking' }),
    el('div', { class: 'msg-thinking-body md' }, toFragment(reasoning, !streaming)),
  );
  return details;
}

/** Arguments as the model wrote them, pretty-printed when they are JSON (whole, at the end). */
function prettyArguments(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch (_) {
    return text;
  }
}

/** The tools a reply called: each function's name and its arguments, as text. */
export function toolCallsNode(calls) {
  const list = (calls || []).filter((c) => c && c.name);
  if (!list.length) return null;
  return el(
    'div',
    { class: 'msg-tools' },
    list.map((call) =>
      el(
        'section',
        { class: 'tool-call', 'aria-label': 'Tool call' },
        el(
          'div',
          { class: 'tool-call-head muted small' },
          'Called ',
          el('code', { class: 'tool-call-name', text: call.name }),
        ),
        el('pre', { class: 'tool-call-args' }, el('code', { text: prettyArguments(call.arguments || '') })),
      ),
    ),
  );
}

/** Tool calls as plain text, for Copy on a reply that only called tools. */
export function callsText(calls) {
  return (calls || [])
    .filter((c) => c && c.name)
    .map((c) => `${c.name}\n${prettyArguments(c.arguments || '')}`)
    .join('\n\n');
}

/** The answer's value when it is exactly one JSON object or array (and nothing else), else undefined. */
function jsonValue(text) {
  const trimmed = text.trim();
  if (!/^[[{]/.test(trimmed) || !/[\]}]$/.test(trimmed)) return undefined;
  try {
    return JSON.parse(trimmed);
  } catch (_) {
    return undefined;
  }
}

/**
 * The answer: a finished reply that is one JSON object or array shows pretty-printed in a
 * code block (a structured-output reply is one line of JSON, unreadable as a paragraph);
 * anything else, or a reply still streaming, is markdown.
 */
export function answerFragment(content, final) {
  const value = final ? jsonValue(content) : undefined;
  if (value !== undefined) return codeFragment(JSON.stringify(value, null, 2), 'json');
  return toFragment(content, final);
}
