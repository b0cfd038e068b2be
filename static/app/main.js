// Start-up: open the browser's storage (or keep everything in memory when the browser refuses
// it), ask for the passphrase when the lock is on, load, and wire the page's controls to what
// they do (actions.js, chat.js). What the page shows is drawn by view.js from the state.

import * as actions from './actions.js';
import * as chat from './chat.js';
import * as dialogs from './dialogs.js';
import * as messages from './messages.js';
import { showNotice, storageRefused, unexpected } from './notices.js';
import * as panels from './panels.js';
import * as settings from './settings.js';
import * as sidebar from './sidebar.js';
import { getState, onChange, setState } from './state.js';
import * as store from './store.js';
import { unreadableNotice } from './unreadable.js';
import { autosize, icon } from './util.js';
import { render } from './view.js';

const $ = (id) => document.getElementById(id);
const user = () => (document.querySelector('meta[name="sotto-user"]') || {}).content || '';

/** An error nothing else caught is shown too (once per message: a failing render repeats it). */
function report(error) {
  const notice = unexpected(error);
  const shown = getState().notices.find((n) => n.id === notice.id);
  if (!shown || shown.text !== notice.text) showNotice(notice);
}

function wire() {
  sidebar.init();
  messages.init();
  settings.init();
  $('open-personas').addEventListener('click', () => panels.personas());
  $('open-data').addEventListener('click', () => panels.data());
  const prompt = $('prompt');
  const submit = () => {
    if (!chat.send(prompt.value)) return;
    prompt.value = '';
    autosize(prompt);
  };
  prompt.addEventListener('input', () => autosize(prompt));
  prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });
  $('send').prepend(icon('send'));
  $('stop').prepend(icon('stop'));
  $('stop').addEventListener('click', chat.stop);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && getState().generation && !dialogs.isOpen()) {
      e.preventDefault();
      chat.stop();
    }
  });
  const online = () => setState({ online: navigator.onLine });
  window.addEventListener('online', online);
  window.addEventListener('offline', online);
  online();
  $('unlock-form').addEventListener('submit', unlock);
  $('unlock-wipe').addEventListener('click', () => panels.wipe());
  window.addEventListener('error', (event) => report(event.error || event.message));
  window.addEventListener('unhandledrejection', (event) => report(event.reason));
}

async function start() {
  const data = await store.loadAll();
  setState({
    conversations: new Map(data.conversations.map((c) => [c.id, c])),
    personas: new Map(data.personas.map((p) => [p.id, p])),
    prefs: data.prefs || {},
    lockOn: store.lockEnabled(),
  });
  actions.openNewest();
  if (data.unreadable.length) showNotice(unreadableNotice(data.unreadable));
  setState({ phase: 'ready', unlock: { busy: false, error: '' } });
  actions.loadModels();
}

async function unlock(event) {
  event.preventDefault();
  const input = $('unlock-passphrase');
  setState({ unlock: { busy: true, error: '' } });
  const ok = await store.unlock(input.value).catch(() => false);
  if (!ok) {
    setState({ unlock: { busy: false, error: 'That passphrase is wrong.' } });
    input.select();
    return;
  }
  input.value = '';
  start().catch(failedToStart);
}

function failedToStart(error) {
  setState({
    phase: 'error',
    failure:
      `The chat failed to start: ${error.message}. Reload the page; if it keeps failing, ` +
      'the data this browser keeps for this site may be damaged (clearing it in the browser’s settings starts again).',
  });
}

async function boot() {
  dialogs.init();
  wire();
  onChange((state) => {
    render(state);
    actions.ensureModelInfo(state);
  });
  try {
    await store.open(user(), () => location.reload());
  } catch (error) {
    // A private window, or site data blocked: chat anyway, from memory, and say so.
    store.useMemory();
    setState({ storage: 'memory' });
    showNotice(storageRefused(error, { exportCopy: actions.exportFile }));
  }
  // Awaited, so that a failure is shown instead of "Loading" forever.
  if (store.unlocked()) await start();
  else setState({ phase: 'locked' });
}

boot().catch(failedToStart);
