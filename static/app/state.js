// The page's state, in one object, and the one way to change it.
//
// view.js draws every part of the page from this state. Nothing else decides what to redraw:
// code that changes something calls setState(patch), and one render(state) follows in the next
// microtask, however many patches came before it. The state is replaced, never changed in
// place: a changed conversation is a new object in a new Map, so each view can tell what
// changed by identity (===) and leave the rest of the DOM alone.

import { withReply } from './model.js';

let state = Object.freeze({
  phase: 'loading', // loading | locked | ready | error (the chat could not start: `failure` says why)
  failure: '',
  unlock: { busy: false, error: '' }, // the passphrase form while phase is 'locked'
  storage: 'browser', // 'browser' (IndexedDB) or 'memory' (refused: kept in this tab only)
  lockOn: false, // the passphrase lock is on
  conversations: new Map(), // id → conversation, as stored (decrypted)
  personas: new Map(), // id → persona
  prefs: {}, // { defaults: settings of the next new chat }
  currentId: '', // the conversation on screen: stored, or `draft`
  draft: null, // a new chat, stored from its first message on
  query: '', // the sidebar's search
  models: { list: [], status: 'loading' }, // status: loading | ready | failed
  modelInfo: new Map(), // model id → GET /v1/models/{id} | { error } | null while asked
  // The reply streaming now: { convId, messageId, reply, controller }; reply is { content,
  // reasoning, toolCalls } (model.js) and grows here (a new object at each repaint); the
  // conversation gets it when the reply ends.
  generation: null,
  chatErrors: new Map(), // conversation id → the ChatError shown at its end
  editing: '', // id of the message being edited
  notices: [], // failures outside the chat, each with the way out (see notices.js)
  online: true,
});

let draw = null;
let pending = false;

export const getState = () => state;

/** Merges `patch` (or what `patch(state)` returns) into the state and schedules a render. */
export function setState(patch) {
  const changes = typeof patch === 'function' ? patch(state) : patch;
  state = Object.freeze({ ...state, ...changes });
  schedule();
}

/** Sets the function that draws the page from the state. */
export function onChange(render) {
  draw = render;
  schedule();
}

function schedule() {
  if (pending || !draw) return;
  pending = true;
  queueMicrotask(() => {
    pending = false;
    draw(state);
  });
}

// ---- Reading the state ------------------------------------------------------------------

/** The conversation on screen (a stored one, or the new chat's draft; never null once ready). */
export function currentConversation(s = state) {
  return s.conversations.get(s.currentId) || s.draft;
}

/** Newest first. */
export function sortedConversations(s = state) {
  return [...s.conversations.values()].sort((a, b) => b.updatedAt - a.updatedAt);
}

export function personaList(s = state) {
  return [...s.personas.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** The model a conversation's next request goes to: its own, or the server's first. */
export function effectiveModel(conv, s = state) {
  return conv.settings.model || s.models.list[0] || '';
}

/** A conversation as it stands, with the text (and thinking, and calls) of a reply still streaming into it. */
export function snapshot(conv, s = state) {
  const gen = s.generation;
  if (!conv || !gen || gen.convId !== conv.id) return conv;
  return { ...conv, messages: conv.messages.map((m) => (m.id === gen.messageId ? withReply(m, gen.reply) : m)) };
}

// ---- Changing maps without changing them in place ---------------------------------------

export function withEntry(map, key, value) {
  return new Map(map).set(key, value);
}

export function withoutEntry(map, key) {
  if (!map.has(key)) return map;
  const copy = new Map(map);
  copy.delete(key);
  return copy;
}
