// Failures outside the chat itself (storage refused or full, a delete refused, the model list
// unreachable, an unexpected error), told on the page in plain words: what happened and what
// the user can do, with buttons for it. (A failed chat request is told in the conversation
// itself: messages.js.) A notice stays until its cause is gone or it is dismissed.
//
// A notice: { id, place: 'page' | 'sidebar', title, text, actions: [{ id, label, run, danger }],
// dismissible }. One notice per id: showing it again replaces it.

import { getState, setState } from './state.js';
import { el, iconButton } from './util.js';

export function showNotice(notice) {
  setState((s) => ({ notices: [...s.notices.filter((n) => n.id !== notice.id), notice] }));
}

export function dropNotice(id) {
  if (getState().notices.some((n) => n.id === id)) {
    setState((s) => ({ notices: s.notices.filter((n) => n.id !== id) }));
  }
}

// ---- Plain words ------------------------------------------------------------------------

/** What the browser's storage said, in a few words (a DOMException's name and message hold no content). */
function detail(error) {
  if (!error) return 'no reason given';
  const message = String(error.message || error).replace(/\.$/, '');
  return error.name && error.name !== 'Error' ? `${error.name}: ${message}` : message;
}

const isFull = (error) => Boolean(error) && error.name === 'QuotaExceededError';

/** IndexedDB could not be opened at all: the chat runs from memory in this tab. */
export function storageRefused(error, { exportCopy }) {
  return {
    id: 'storage-refused',
    place: 'page',
    title: 'This browser refuses to store data for this site.',
    text:
      `Private windows do that, and so do settings that block site data (${detail(error)}). ` +
      'You can chat, but conversations are kept in this tab only and are gone when it closes. ' +
      'Export saves a copy as a file; to keep them in the browser, allow site data for this site or use a normal window.',
    actions: [{ id: 'notice-export', label: 'Export a copy', run: exportCopy }],
    dismissible: true,
  };
}

/** A write failed: what was not saved stays in memory, and Try again writes it again. */
export function notSaved(error, { retry, exportCopy }) {
  const text = isFull(error)
    ? 'Your latest changes are kept in this tab until it closes. Free space by deleting conversations you no longer need (export them first to keep a copy), then try again.'
    : `The browser refused to store your latest changes (${detail(error)}). They are kept in this tab until it closes. Export a copy to keep them, then try again or reload the page.`;
  return {
    id: 'not-saved',
    place: 'page',
    title: isFull(error) ? 'Not saved: this browser’s storage for this site is full.' : 'Not saved.',
    text,
    actions: [
      { id: 'notice-retry-save', label: 'Try again', run: retry },
      { id: 'notice-export', label: 'Export a copy', run: exportCopy },
    ],
    dismissible: false,
  };
}

/** A delete failed: the item is still there (in the list and in storage). */
export function notDeleted(what, error, retry) {
  return {
    id: 'not-deleted',
    place: 'page',
    title: `Not deleted: ${what}.`,
    text:
      `The browser refused to delete it (${detail(error)}), so it is still here. Try again; if it keeps failing, ` +
      '“Delete all local data” in Lock & data removes everything this site keeps in this browser.',
    actions: [{ id: 'notice-retry-delete', label: 'Try again', run: retry }],
    dismissible: true,
  };
}

/** GET /v1/models failed: the chat still works with the server's default model. */
export function modelsFailed(error, retry) {
  const why = error.status
    ? `The server answered with an error (HTTP ${error.status}).`
    : 'The server could not be reached.';
  return {
    id: 'models-failed',
    place: 'page',
    title: 'The list of models could not be loaded.',
    text: `${why} Chats go to the server’s default model meanwhile. Check the connection, then try again.`,
    actions: [{ id: 'notice-retry-models', label: 'Try again', run: retry }],
    dismissible: true,
  };
}

/** A bug or a browser failure nothing else caught. */
export function unexpected(error) {
  const message = (error && error.message) || String(error || 'unknown error');
  return {
    id: 'unexpected',
    place: 'page',
    title: 'Something went wrong on this page.',
    text: `${message}. What this browser stores is not affected; reload the page if something looks wrong.`,
    actions: [{ id: 'notice-reload', label: 'Reload the page', run: () => location.reload() }],
    dismissible: true,
  };
}

// ---- Drawing ----------------------------------------------------------------------------

/** One notice as a node; `id` is the element's id, if it needs one. */
export function noticeNode(notice, id) {
  const buttons = notice.actions.map((a) =>
    el('button', {
      type: 'button',
      id: a.id,
      class: a.danger ? 'ghost danger-text' : 'ghost',
      text: a.label,
      on: { click: a.run },
    }),
  );
  const dismiss = notice.dismissible
    ? iconButton('close', 'Dismiss', {
        class: 'ghost icon-only notice-dismiss',
        on: { click: () => dropNotice(notice.id) },
      })
    : null;
  return el(
    'div',
    { id, class: 'chat-notice', role: 'alert', data: { notice: notice.id } },
    el(
      'div',
      { class: 'notice-body' },
      el('p', {}, el('strong', { text: notice.title }), notice.text ? ' ' + notice.text : ''),
    ),
    buttons.length ? el('div', { class: 'row-actions' }, buttons) : null,
    dismiss,
  );
}

let shown = null;

/** The page's notices, above the conversation (the sidebar draws its own: sidebar.js). */
export function render(state) {
  if (state.notices === shown) return;
  shown = state.notices;
  const nodes = state.notices.filter((n) => n.place === 'page').map((n) => noticeNode(n));
  document.getElementById('notices').replaceChildren(...nodes);
}
