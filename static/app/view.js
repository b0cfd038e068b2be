// render(state): the whole page, drawn from the state after every change (state.js). The
// frame (loading, unlock, chat) is set here; each part of the chat compares what it drew last
// with the state and redraws only what changed.

import * as messages from './messages.js';
import { displayTitle } from './model.js';
import * as notices from './notices.js';
import * as settings from './settings.js';
import * as sidebar from './sidebar.js';
import { currentConversation } from './state.js';

const $ = (id) => document.getElementById(id);

let shownPhase = '';

/** Which of loading, the passphrase form, the chat or a failure to start is shown. */
function frame(state) {
  const loading = $('app-loading');
  loading.hidden = state.phase !== 'loading' && state.phase !== 'error';
  loading.classList.toggle('error', state.phase === 'error');
  if (state.phase === 'error') loading.textContent = state.failure;
  $('unlock').hidden = state.phase !== 'locked';
  $('chat').hidden = state.phase !== 'ready';
  const button = $('unlock-submit');
  button.disabled = state.unlock.busy;
  button.textContent = state.unlock.busy ? 'Unlocking…' : 'Unlock';
  $('unlock-error').textContent = state.unlock.error;
  $('unlock-error').hidden = !state.unlock.error;
  $('app').classList.toggle('offline', !state.online);
  $('app').dataset.generating = String(Boolean(state.generation));
}

function title(state) {
  $('conversation-title').textContent = displayTitle(currentConversation(state));
}

function composer(state) {
  const busy = Boolean(state.generation);
  $('send').hidden = busy;
  $('stop').hidden = !busy;
  $('composer-hint').textContent =
    'Enter sends, Shift+Enter starts a new line, Esc stops. ' +
    (state.storage === 'memory'
      ? 'This browser refuses to store conversations: they are kept in this tab only.'
      : 'Conversations are kept in this browser only.');
}

const CHAT = [notices.render, sidebar.render, title, messages.render, settings.render, composer];

export function render(state) {
  frame(state);
  if (state.phase === 'ready') {
    for (const part of CHAT) {
      try {
        part(state);
      } catch (error) {
        // One part failing leaves the others drawn; the error is still reported (main.js).
        setTimeout(() => {
          throw error;
        });
      }
    }
  }
  // Last: whoever waits for "ready" finds the page drawn.
  $('app').dataset.state = state.phase;
  if (state.phase !== shownPhase) {
    shownPhase = state.phase;
    if (state.phase === 'locked') $('unlock-passphrase').focus();
    if (state.phase === 'ready') $('prompt').focus();
  }
}
