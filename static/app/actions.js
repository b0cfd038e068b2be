// What the user can do with conversations, personas, preferences and the model list (asking
// the model is chat.js). Each action changes the state (state.js), which redraws the page, and
// writes the change to the browser's storage (store.js). A write that fails keeps the change
// in memory and says so on the page, with Try again (notices.js); nothing is thrown at the user.

import * as api from './api.js';
import * as dialogs from './dialogs.js';
import * as store from './store.js';
import { cleanConversation, cleanPersona, displayTitle, newConversation } from './model.js';
import { dropNotice, modelsFailed, notDeleted, notSaved, showNotice } from './notices.js';
import {
  currentConversation,
  effectiveModel,
  getState,
  personaList,
  setState,
  snapshot,
  sortedConversations,
  withEntry,
  withoutEntry,
} from './state.js';
import { download } from './util.js';

// ---- Saving ------------------------------------------------------------------------------

/** Writes the state's current version of an item to storage (or nothing, if it is gone). */
const WRITERS = {
  conversations: (s, id) => s.conversations.has(id) && store.saveConversation(snapshot(s.conversations.get(id), s)),
  personas: (s, id) => s.personas.has(id) && store.savePersona(s.personas.get(id)),
  prefs: (s) => store.savePrefs(s.prefs),
};

/** What failed to save, 'kind:id' → [kind, id]: Try again writes their latest versions. */
const unsaved = new Map();

/** Saves one item as the state holds it now. Never throws: a failure becomes a notice. */
export async function persist(kind, id = '') {
  const key = `${kind}:${id}`;
  try {
    await WRITERS[kind](getState(), id);
    unsaved.delete(key);
    if (!unsaved.size) dropNotice('not-saved');
  } catch (error) {
    unsaved.set(key, [kind, id]);
    showNotice(notSaved(error, { retry: retryUnsaved, exportCopy: exportFile }));
  }
}

function retryUnsaved() {
  for (const [kind, id] of [...unsaved.values()]) persist(kind, id);
}

/** Puts a conversation into the state (moved to the top when `touch`) and saves it. */
export function putConversation(conv, touch = true) {
  const next = touch ? { ...conv, updatedAt: Date.now() } : conv;
  setState((s) => ({ conversations: withEntry(s.conversations, next.id, next) }));
  return persist('conversations', next.id);
}

// ---- Conversations -----------------------------------------------------------------------

/** The state that shows a new, empty chat (stored from its first message on). */
function draftPatch(s) {
  const draft = newConversation(s.prefs.defaults || {});
  return { draft, currentId: draft.id, editing: '' };
}

export function newChat() {
  setState(draftPatch);
}

export function openConversation(id) {
  if (getState().conversations.has(id)) setState({ currentId: id, draft: null, editing: '' });
}

/** After loading or importing: the newest conversation, or a new chat when there is none. */
export function openNewest() {
  const newest = sortedConversations()[0];
  if (newest) openConversation(newest.id);
  else newChat();
}

export async function rename(id) {
  const conv = getState().conversations.get(id);
  if (!conv) return;
  const values = await dialogs.form({
    title: 'Rename',
    fields: [{ name: 'title', label: 'Title', value: displayTitle(conv), required: true }],
    ok: 'Rename',
  });
  const latest = getState().conversations.get(id);
  if (!values || !values.title.trim() || !latest) return;
  putConversation({ ...latest, title: values.title.trim().slice(0, 200), titleEdited: true }, false);
}

export async function remove(id) {
  const conv = getState().conversations.get(id);
  if (!conv) return;
  const ok = await dialogs.confirm({
    title: 'Delete this conversation?',
    text: `“${displayTitle(conv)}” will be deleted from this browser.`,
    ok: 'Delete',
    danger: true,
  });
  if (ok) await deleteConversation(id);
}

/**
 * Out of the state first (so a reply stopped by the deletion is not saved again after it),
 * then out of storage; if storage refuses, it comes back, and the user is told.
 */
async function deleteConversation(id) {
  const s = getState();
  const conv = s.conversations.get(id);
  if (!conv) return;
  if (s.generation && s.generation.convId === id) s.generation.controller.abort();
  setState((st) => {
    const conversations = withoutEntry(st.conversations, id);
    const patch = { conversations, chatErrors: withoutEntry(st.chatErrors, id) };
    if (st.currentId !== id) return patch;
    const next = sortedConversations({ ...st, conversations })[0];
    return Object.assign(patch, next ? { currentId: next.id } : draftPatch(st));
  });
  try {
    await store.deleteConversation(id);
    unsaved.delete(`conversations:${id}`);
    dropNotice('not-deleted');
  } catch (error) {
    setState((st) => ({ conversations: withEntry(st.conversations, id, conv) }));
    showNotice(notDeleted(`“${displayTitle(conv)}”`, error, () => deleteConversation(id)));
  }
}

/** New settings for a conversation; its choices (but the system prompt) become the defaults. */
export function changeSettings(convId, settings) {
  const s = getState();
  if (s.conversations.has(convId)) putConversation({ ...s.conversations.get(convId), settings }, false);
  else if (s.draft && s.draft.id === convId) setState({ draft: { ...s.draft, settings } });
  const { model, personaId, temperature, maxTokens } = settings;
  setState((st) => ({ prefs: { ...st.prefs, defaults: { model, personaId, temperature, maxTokens } } }));
  persist('prefs');
}

// ---- Personas ----------------------------------------------------------------------------

export function savePersona(persona) {
  setState((s) => ({ personas: withEntry(s.personas, persona.id, persona) }));
  return persist('personas', persona.id);
}

export async function deletePersona(id) {
  const persona = getState().personas.get(id);
  if (!persona) return;
  setState((s) => ({ personas: withoutEntry(s.personas, id) }));
  try {
    await store.deletePersona(id);
    unsaved.delete(`personas:${id}`);
    dropNotice('not-deleted');
  } catch (error) {
    setState((s) => ({ personas: withEntry(s.personas, id, persona) }));
    showNotice(notDeleted(`the persona “${persona.name}”`, error, () => deletePersona(id)));
  }
}

// ---- Export and import -------------------------------------------------------------------

export async function exportFile() {
  const s = getState();
  const conversations = sortedConversations(s).map((c) => snapshot(c, s));
  const file = await store.exportData(conversations, personaList(s));
  download(`sotto-conversations-${new Date().toISOString().slice(0, 10)}.json`, JSON.stringify(file, null, 2));
}

/** Adds what a file holds; an item already here is replaced only by a newer version. */
export async function importPayload(payload) {
  const counts = { conversations: 0, personas: 0, skipped: 0 };
  const list = (value) => (Array.isArray(value) ? value : []);
  for (const raw of list(payload.conversations)) {
    const conv = cleanConversation(raw);
    if (!conv) continue;
    const s = getState();
    const existing = s.conversations.get(conv.id);
    if ((existing && existing.updatedAt >= conv.updatedAt) || (s.generation && s.generation.convId === conv.id)) {
      counts.skipped++;
      continue;
    }
    await putConversation(conv, false);
    counts.conversations++;
  }
  for (const raw of list(payload.personas)) {
    const persona = cleanPersona(raw);
    if (!persona) continue;
    const existing = getState().personas.get(persona.id);
    if (existing && existing.updatedAt >= persona.updatedAt) {
      counts.skipped++;
      continue;
    }
    await savePersona(persona);
    counts.personas++;
  }
  // An empty new chat gives way to what was imported.
  const s = getState();
  if (!s.conversations.has(s.currentId) && !currentConversation(s).messages.length) openNewest();
  return counts;
}

/** Whether a conversation or persona with this id is loaded (not a record left unread). */
export function holds(kind, id) {
  return (kind === 'conversations' ? getState().conversations : getState().personas).has(id);
}

// ---- The lock ----------------------------------------------------------------------------

export function lockChanged() {
  setState({ lockOn: store.lockEnabled() });
}

export function lockNow() {
  store.forgetKey();
  location.reload();
}

// ---- Models ------------------------------------------------------------------------------

export async function loadModels() {
  setState((s) => ({ models: { ...s.models, status: 'loading' } }));
  try {
    const list = await api.listModels();
    setState({ models: { list, status: 'ready' } });
    dropNotice('models-failed');
  } catch (error) {
    setState((s) => ({ models: { ...s.models, status: 'failed' } }));
    showNotice(modelsFailed(error, loadModels));
  }
}

/** Asks once for the details of the model the open conversation uses (shown in its settings). */
export function ensureModelInfo(s) {
  if (s.phase !== 'ready') return;
  const id = effectiveModel(currentConversation(s), s);
  if (!id || s.modelInfo.has(id)) return;
  setState((st) => ({ modelInfo: withEntry(st.modelInfo, id, null) }));
  api.modelInfo(id).then(
    (info) => setState((st) => ({ modelInfo: withEntry(st.modelInfo, id, info) })),
    (error) => setState((st) => ({ modelInfo: withEntry(st.modelInfo, id, { error }) })),
  );
}
