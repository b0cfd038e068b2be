// The chat page's controller: state in memory, what each action does, and start-up
// (opening the browser's storage, asking for the passphrase when the lock is on).
//
// Conversations live in `state.conversations` (decrypted) and are written back to IndexedDB
// after every change. A new chat is a draft, stored from its first message on. One reply
// streams at a time; its AbortController is the Stop button (and Esc).

import * as model from './model.js';
import * as store from './store.js';
import * as api from './api.js';
import * as messages from './messages.js';
import * as sidebar from './sidebar.js';
import * as settings from './settings.js';
import * as dialogs from './dialogs.js';
import * as panels from './panels.js';
import * as util from './util.js';

const $ = (id) => document.getElementById(id);
const PAINT_MS = 50; // the streaming message is re-rendered at most this often

const state = {
  conversations: new Map(),
  personas: new Map(),
  prefs: {},
  current: null,
  query: '',
  models: [],
  modelInfo: new Map(),
  generation: null, // { convId, messageId, controller }
  errors: new Map(), // convId → the ChatError shown at the end of that conversation
};

const user = () => (document.querySelector('meta[name="sotto-user"]') || {}).content || '';
const isShown = (conv) => state.current && state.current.id === conv.id;
const sorted = () => [...state.conversations.values()].sort((a, b) => b.updatedAt - a.updatedAt);
const personaList = () => [...state.personas.values()].sort((a, b) => a.name.localeCompare(b.name));

// ---- Drawing ----------------------------------------------------------------------------

function renderSidebar() {
  const all = sorted();
  sidebar.render(
    all.filter((c) => model.matches(c, state.query)),
    state.current && state.current.id,
    state.query,
    all.length,
  );
}

function renderMessages() {
  const conv = state.current;
  const gen = state.generation && state.generation.convId === conv.id ? state.generation : null;
  messages.render(conv, {
    streamingId: gen && gen.messageId,
    generating: !!state.generation,
    error: state.errors.get(conv.id),
  });
}

function effectiveModel(conv) {
  return conv.settings.model || state.models[0] || '';
}

function showSettings() {
  const conv = state.current;
  const id = effectiveModel(conv);
  settings.show(conv, { models: state.models, personas: personaList(), info: state.modelInfo.get(id) });
  if (id && !state.modelInfo.has(id)) {
    state.modelInfo.set(id, null);
    api
      .modelInfo(id)
      .then((info) => {
        state.modelInfo.set(id, info);
        if (effectiveModel(state.current) === id) settings.showInfo(info);
      })
      .catch(() => state.modelInfo.delete(id));
  }
}

function updateComposer() {
  const busy = !!state.generation;
  $('send').hidden = busy;
  $('stop').hidden = !busy;
  $('app').dataset.generating = String(busy);
}

function show() {
  $('conversation-title').textContent = model.displayTitle(state.current);
  renderMessages();
  showSettings();
  renderSidebar();
  updateComposer();
}

function updateLockState() {
  $('lock-state').replaceChildren(...(store.lockEnabled() ? [util.icon('lock'), ' Locked with a passphrase'] : []));
}

// ---- Storage ----------------------------------------------------------------------------

let storageWarned = false;
async function save(conv, touch) {
  if (touch !== false) conv.updatedAt = Date.now();
  state.conversations.set(conv.id, conv);
  try {
    await store.saveConversation(conv);
  } catch (error) {
    if (!storageWarned)
      dialogs.panel({
        title: 'Not saved',
        build: (b) =>
          b.append(
            util.el('p', {
              text: `The browser refused to store the conversation (${error.message}). Export it to keep a copy.`,
            }),
          ),
      });
    storageWarned = true;
  }
}

function defaults() {
  return state.prefs.defaults || {};
}

// ---- Conversations ----------------------------------------------------------------------

function newDraft() {
  state.current = model.newConversation(defaults());
  show();
  $('prompt').focus();
}

function open(id) {
  const conv = state.conversations.get(id);
  if (!conv) return;
  state.current = conv;
  show();
}

async function rename(id) {
  const conv = state.conversations.get(id);
  const values = await dialogs.form({
    title: 'Rename',
    fields: [{ name: 'title', label: 'Title', value: model.displayTitle(conv), required: true }],
    ok: 'Rename',
  });
  if (!values || !values.title.trim()) return;
  conv.title = values.title.trim().slice(0, 200);
  conv.titleEdited = true;
  await save(conv, false);
  if (isShown(conv)) $('conversation-title').textContent = conv.title;
  renderSidebar();
}

async function remove(id) {
  const conv = state.conversations.get(id);
  const ok = await dialogs.confirm({
    title: 'Delete this conversation?',
    text: `“${model.displayTitle(conv)}” will be deleted from this browser.`,
    ok: 'Delete',
    danger: true,
  });
  if (!ok) return;
  if (state.generation && state.generation.convId === id) state.generation.controller.abort();
  state.conversations.delete(id);
  state.errors.delete(id);
  await store.deleteConversation(id);
  if (isShown(conv)) {
    const next = sorted()[0];
    if (next) open(next.id);
    else newDraft();
  } else renderSidebar();
}

function changeSettings(conv, next) {
  const before = conv.settings;
  conv.settings = next;
  if (state.conversations.has(conv.id)) save(conv, false);
  state.prefs.defaults = {
    model: next.model,
    personaId: next.personaId,
    temperature: next.temperature,
    maxTokens: next.maxTokens,
  };
  store.savePrefs(state.prefs).catch(() => {});
  if (before.personaId !== next.personaId || before.model !== next.model) showSettings();
}

// ---- Generating -------------------------------------------------------------------------

async function generate(conv) {
  if (state.generation) return;
  state.errors.delete(conv.id);
  const body = model.requestBody(conv, state.personas);
  const message = model.newMessage('assistant', '', { model: effectiveModel(conv) });
  conv.messages.push(message);
  const controller = new AbortController();
  state.generation = { convId: conv.id, messageId: message.id, controller };
  if (isShown(conv)) renderMessages();
  updateComposer();

  let timer = 0;
  let savedAt = Date.now();
  const paint = () => {
    timer = 0;
    if (isShown(conv)) messages.update(message);
  };
  try {
    const result = await api.streamChat(body, {
      signal: controller.signal,
      onDelta(piece) {
        message.content += piece;
        if (!timer) timer = setTimeout(paint, PAINT_MS);
        // Keep what has arrived if the tab is closed mid-reply.
        if (Date.now() - savedAt > 3000) {
          savedAt = Date.now();
          save(conv, false);
        }
      },
    });
    message.finish = result.finish;
  } catch (error) {
    if (error.kind === 'aborted') {
      message.finish = 'stopped';
    } else {
      message.finish = 'error';
      state.errors.set(conv.id, error);
    }
  }
  clearTimeout(timer);
  state.generation = null;
  if (!message.content) conv.messages = conv.messages.filter((m) => m !== message);
  if (state.conversations.has(conv.id)) await save(conv);
  if (isShown(conv)) renderMessages();
  updateComposer();
  renderSidebar();
}

function send(text) {
  if (state.generation || !text.trim()) return;
  const conv = state.current;
  conv.messages.push(model.newMessage('user', text));
  if (!conv.title) {
    conv.title = model.titleFrom(text);
    $('conversation-title').textContent = model.displayTitle(conv);
  }
  const prompt = $('prompt');
  prompt.value = '';
  util.autosize(prompt);
  save(conv);
  generate(conv);
}

/** Regenerate and Retry: drop the last answer (if any) and ask again. */
function again(onlyFailed) {
  const conv = state.current;
  if (state.generation) return;
  const last = conv.messages[conv.messages.length - 1];
  if (last && last.role === 'assistant' && (!onlyFailed || last.finish === 'error')) conv.messages.pop();
  generate(conv);
}

function editAndResend(id, text) {
  const conv = state.current;
  const index = conv.messages.findIndex((m) => m.id === id);
  if (state.generation || index < 0) return;
  conv.messages = conv.messages.slice(0, index + 1);
  conv.messages[index] = Object.assign({}, conv.messages[index], { content: text });
  save(conv);
  generate(conv);
}

function stop() {
  if (state.generation) state.generation.controller.abort();
}

async function onAction(action, id, button) {
  const conv = state.current;
  const message = id && conv.messages.find((m) => m.id === id);
  if (action === 'copy' && message)
    util.flash(button, (await util.copyText(message.content)) ? 'Copied' : 'Copy failed');
  else if (action === 'copy-code')
    util.flash(
      button,
      (await util.copyText(button.closest('.codeblock').querySelector('code').textContent)) ? 'Copied' : 'Copy failed',
    );
  else if (action === 'edit' && message && !state.generation) messages.startEdit(message);
  else if (action === 'regenerate') again(false);
  else if (action === 'retry') again(true);
  else if (action === 'reload') location.reload();
}

// ---- What the panels need -----------------------------------------------------------------

const app = {
  personas: personaList,
  async savePersona(p) {
    state.personas.set(p.id, p);
    await store.savePersona(p);
    showSettings();
  },
  async deletePersona(id) {
    state.personas.delete(id);
    await store.deletePersona(id);
    showSettings();
  },
  lockChanged: updateLockState,
  /** Whether a conversation or persona with this id is loaded (not a record left unread). */
  holds: (store, id) => (store === 'conversations' ? state.conversations : state.personas).has(id),
  lockNow() {
    store.forgetKey();
    location.reload();
  },
  async exportFile() {
    const file = await store.exportData(sorted(), personaList());
    util.download(`sotto-conversations-${new Date().toISOString().slice(0, 10)}.json`, JSON.stringify(file, null, 2));
  },
  /** Adds what a file holds; an item already here is replaced only by a newer version. */
  async importPayload(payload) {
    const counts = { conversations: 0, personas: 0, skipped: 0 };
    for (const raw of Array.isArray(payload.conversations) ? payload.conversations : []) {
      const conv = model.cleanConversation(raw);
      const existing = conv && state.conversations.get(conv.id);
      if (
        !conv ||
        (existing && existing.updatedAt >= conv.updatedAt) ||
        (state.generation && state.generation.convId === conv.id)
      ) {
        counts.skipped += conv ? 1 : 0;
        continue;
      }
      await save(conv, false);
      if (isShown(conv)) state.current = conv;
      counts.conversations++;
    }
    for (const raw of Array.isArray(payload.personas) ? payload.personas : []) {
      const persona = model.cleanPersona(raw);
      const existing = persona && state.personas.get(persona.id);
      if (!persona || (existing && existing.updatedAt >= persona.updatedAt)) {
        counts.skipped += persona ? 1 : 0;
        continue;
      }
      state.personas.set(persona.id, persona);
      await store.savePersona(persona);
      counts.personas++;
    }
    // An empty new chat gives way to what was imported.
    const draft = !state.conversations.has(state.current.id) && !state.current.messages.length;
    if (draft && sorted().length) open(sorted()[0].id);
    else show();
    return counts;
  },
};

// ---- Start-up ---------------------------------------------------------------------------

function fatal(text) {
  $('app-loading').hidden = false;
  $('app-loading').textContent = text;
  $('app-loading').classList.add('error');
  $('app').dataset.state = 'error';
}

function wire() {
  sidebar.init({
    onOpen: open,
    onNew: newDraft,
    onRename: rename,
    onDelete: remove,
    onSearch: (q) => {
      state.query = q;
      renderSidebar();
    },
  });
  messages.init({ onAction, onEdit: editAndResend, onCancelEdit: renderMessages });
  settings.init({ onChange: changeSettings });
  $('open-personas').addEventListener('click', () => panels.personas(app));
  $('open-data').addEventListener('click', () => panels.data(app));
  const prompt = $('prompt');
  prompt.addEventListener('input', () => util.autosize(prompt));
  prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send(prompt.value);
    }
  });
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    send(prompt.value);
  });
  $('send').prepend(util.icon('send'));
  $('stop').prepend(util.icon('stop'));
  $('stop').addEventListener('click', stop);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.generation && !dialogs.isOpen()) {
      e.preventDefault();
      stop();
    }
  });
  const online = () => $('app').classList.toggle('offline', !navigator.onLine);
  window.addEventListener('online', online);
  window.addEventListener('offline', online);
  online();
}

async function start() {
  const data = await store.loadAll();
  data.conversations.forEach((c) => state.conversations.set(c.id, c));
  data.personas.forEach((p) => state.personas.set(p.id, p));
  state.prefs = data.prefs || {};
  wire();
  $('app-loading').hidden = true;
  $('unlock').hidden = true;
  $('chat').hidden = false;
  updateLockState();
  const newest = sorted()[0];
  if (newest) open(newest.id);
  else newDraft();
  if (data.unreadable.length) panels.unreadable(app, data.unreadable);
  $('app').dataset.state = 'ready';
  $('prompt').focus();
  try {
    state.models = await api.listModels();
  } catch (_) {
    state.models = [];
  }
  showSettings();
}

function askPassphrase() {
  $('app-loading').hidden = true;
  $('unlock').hidden = false;
  $('app').dataset.state = 'locked';
  const input = $('unlock-passphrase');
  const error = $('unlock-error');
  const button = $('unlock-submit');
  input.focus();
  $('unlock-wipe').addEventListener('click', () => panels.wipe());
  $('unlock-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    button.disabled = true;
    button.textContent = 'Unlocking…';
    error.hidden = true;
    const ok = await store.unlock(input.value).catch(() => false);
    button.disabled = false;
    button.textContent = 'Unlock';
    if (!ok) {
      error.textContent = 'That passphrase is wrong.';
      error.hidden = false;
      input.select();
      return;
    }
    input.value = '';
    start().catch(failedToStart);
  });
}

async function boot() {
  dialogs.init();
  try {
    await store.open(user(), () => location.reload());
  } catch (error) {
    fatal(
      `This browser’s storage could not be opened (${error.message}). Private windows of some browsers disable it.`,
    );
    return;
  }
  // Awaited, so that a failure is shown instead of "Loading" forever.
  if (store.unlocked()) await start();
  else askPassphrase();
}

function failedToStart(error) {
  fatal('The chat failed to start: ' + error.message);
}

boot().catch(failedToStart);
