// The shape of conversations and personas, and the chat request built from a conversation.
//
// A conversation: { id, title, titleEdited, createdAt, updatedAt, settings, messages }
//   settings: { model, personaId, system, temperature, maxTokens }  (null = the server default)
//   message:  { id, role: 'user'|'assistant', content, createdAt, model?, finish?, reasoning?, toolCalls? }
//             finish: 'stop' | 'length' | 'tool_calls' (from the server), 'stopped' (by the user), 'error'
//             reasoning: a reasoning model's thinking (`reasoning_content`), shown apart, never sent back
//             toolCalls: [{ id, name, arguments }] (arguments as the model wrote them: JSON text)
// A persona: { id, name, prompt, updatedAt }: a named system prompt, reusable across chats.

import { uid } from './util.js';

const ROLES = new Set(['user', 'assistant']);
const FINISHES = new Set(['stop', 'length', 'tool_calls', 'stopped', 'error']);
const CALLS_MAX = 64; // tool calls per message: a sanity bound on imported files
const TITLE_MAX = 60;
const TEXT_MAX = 1 << 20; // 1 MiB per message: a sanity bound on imported files

function defaultSettings(defaults) {
  const base = { model: '', personaId: '', system: '', temperature: 0.8, maxTokens: null };
  return cleanSettings(Object.assign(base, defaults || {}));
}

function newConversation(defaults) {
  const now = Date.now();
  return {
    id: uid(),
    title: '',
    titleEdited: false,
    createdAt: now,
    updatedAt: now,
    settings: defaultSettings(defaults),
    messages: [],
  };
}

function newMessage(role, content, extra) {
  return Object.assign({ id: uid(), role, content, createdAt: Date.now() }, extra || {});
}

/** An empty reply, as it grows while streaming: answer text, thinking, tool calls. */
function emptyReply() {
  return { content: '', reasoning: '', toolCalls: [] };
}

/** The reply with one streamed delta ({ content, reasoning, calls }, see api.js) added. */
function growReply(reply, piece) {
  const toolCalls = reply.toolCalls.slice();
  for (const call of piece.calls) {
    const known = toolCalls[call.index] || { id: '', name: '', arguments: '' };
    toolCalls[call.index] = {
      id: known.id || call.id,
      name: known.name || call.name,
      arguments: known.arguments + call.arguments,
    };
  }
  return {
    content: reply.content + piece.content,
    reasoning: reply.reasoning + piece.reasoning,
    toolCalls,
  };
}

/** The message with a reply's parts: content always, thinking and tool calls when there are some. */
function withReply(message, reply) {
  const next = { ...message, content: reply.content };
  delete next.reasoning;
  delete next.toolCalls;
  if (reply.reasoning) next.reasoning = reply.reasoning;
  const calls = reply.toolCalls.filter((c) => c && c.name);
  if (calls.length) next.toolCalls = calls;
  return next;
}

/** Whether a reply holds anything worth keeping. */
function replyIsEmpty(reply) {
  return !reply.content && !reply.reasoning && !reply.toolCalls.some((c) => c && c.name);
}

/** A title from the first line of the first message, without markdown punctuation. */
function titleFrom(text) {
  const line =
    text
      .split('\n')
      .map((l) => l.replace(/[#>*_`~[\]]/g, '').trim())
      .find(Boolean) || '';
  const words = line.replace(/\s+/g, ' ');
  return words.length > TITLE_MAX ? words.slice(0, TITLE_MAX - 1).trimEnd() + '…' : words;
}

function displayTitle(conv) {
  return conv.title || 'New chat';
}

/** The persona's prompt when one is chosen (and still exists), else the chat's own. */
function systemPrompt(conv, personas) {
  const persona = conv.settings.personaId && personas.get(conv.settings.personaId);
  return persona ? persona.prompt : conv.settings.system;
}

/** The OpenAI chat request for the conversation as it stands (the UI adds `stream`). */
function requestBody(conv, personas) {
  const settings = conv.settings;
  const messages = [];
  const system = (systemPrompt(conv, personas) || '').trim();
  if (system) messages.push({ role: 'system', content: system });
  // Only `content` goes back, as OpenAI's clients do: the thinking of earlier turns is not
  // part of the conversation the model continues, and a reply that only called a tool (whose
  // result the page cannot supply) is left out like an empty one.
  for (const message of conv.messages) {
    if (ROLES.has(message.role) && message.content) messages.push({ role: message.role, content: message.content });
  }
  const body = { messages };
  if (settings.model) body.model = settings.model;
  if (settings.temperature !== null) body.temperature = settings.temperature;
  if (settings.maxTokens !== null) body.max_tokens = settings.maxTokens;
  return body;
}

/** Search by title and by content, case-insensitively. */
function matches(conv, query) {
  if (!query) return true;
  const q = query.toLowerCase();
  return displayTitle(conv).toLowerCase().includes(q) || conv.messages.some((m) => m.content.toLowerCase().includes(q));
}

function number(value, min, max, fallback) {
  const n = typeof value === 'string' && value.trim() === '' ? NaN : Number(value);
  return Number.isFinite(n) && n >= min && n <= max ? n : fallback;
}

function text(value, max) {
  return typeof value === 'string' ? value.slice(0, max) : '';
}

function id(value) {
  return typeof value === 'string' && /^[\w-]{1,64}$/.test(value) ? value : uid();
}

/** Tool calls as stored: each with a function name and its arguments as text. */
function cleanToolCalls(calls) {
  if (!Array.isArray(calls)) return [];
  return calls
    .filter((c) => c && typeof c === 'object' && typeof c.name === 'string' && c.name)
    .slice(0, CALLS_MAX)
    .map((c) => ({
      id: text(c.id, 200),
      name: text(c.name, 200),
      arguments: text(c.arguments, TEXT_MAX),
    }));
}

function cleanSettings(s) {
  s = s && typeof s === 'object' ? s : {};
  const maxTokens = number(s.maxTokens, 1, 1e7, null);
  return {
    model: text(s.model, 200),
    personaId: text(s.personaId, 64),
    system: text(s.system, TEXT_MAX),
    temperature: s.temperature === null ? null : number(s.temperature, 0, 2, 0.8),
    maxTokens: maxTokens === null ? null : Math.round(maxTokens),
  };
}

/**
 * A conversation from an imported file (or storage), keeping only known fields with the
 * right types. Returns null for something that is not a conversation. Content stays
 * untrusted: it is rendered through the sanitiser like everything else.
 */
function cleanConversation(c) {
  if (!c || typeof c !== 'object' || !Array.isArray(c.messages)) return null;
  const now = Date.now();
  // A reply that only called tools has no text (null, as OpenAI writes it, or none).
  const hasCalls = (m) => m.role === 'assistant' && cleanToolCalls(m.toolCalls).length > 0;
  const messages = c.messages
    .filter(
      (m) =>
        m &&
        ROLES.has(m.role) &&
        (typeof m.content === 'string' || ((m.content === null || m.content === undefined) && hasCalls(m))),
    )
    .map((m) => {
      const message = {
        id: id(m.id),
        role: m.role,
        content: text(m.content, TEXT_MAX),
        createdAt: number(m.createdAt, 0, 1e14, now),
      };
      if (typeof m.model === 'string') message.model = text(m.model, 200);
      if (FINISHES.has(m.finish)) message.finish = m.finish;
      if (m.role === 'assistant' && typeof m.reasoning === 'string' && m.reasoning) {
        message.reasoning = text(m.reasoning, TEXT_MAX);
      }
      const calls = m.role === 'assistant' ? cleanToolCalls(m.toolCalls) : [];
      if (calls.length) message.toolCalls = calls;
      return message;
    });
  return {
    id: id(c.id),
    title: text(c.title, 200),
    titleEdited: c.titleEdited === true,
    createdAt: number(c.createdAt, 0, 1e14, now),
    updatedAt: number(c.updatedAt, 0, 1e14, now),
    settings: cleanSettings(c.settings),
    messages,
  };
}

function cleanPersona(p) {
  if (!p || typeof p !== 'object' || typeof p.name !== 'string' || typeof p.prompt !== 'string') return null;
  return {
    id: id(p.id),
    name: text(p.name, 100),
    prompt: text(p.prompt, TEXT_MAX),
    updatedAt: number(p.updatedAt, 0, 1e14, Date.now()),
  };
}

export {
  newConversation,
  newMessage,
  emptyReply,
  growReply,
  withReply,
  replyIsEmpty,
  defaultSettings,
  titleFrom,
  displayTitle,
  systemPrompt,
  requestBody,
  matches,
  cleanSettings,
  cleanConversation,
  cleanPersona,
};
