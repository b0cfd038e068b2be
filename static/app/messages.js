// The conversation view: messages rendered as markdown, their actions (copy, edit and resend,
// regenerate), the reply being streamed, and errors in plain words with a way forward.

import { el, iconButton, autosize } from './util.js';
import { toFragment } from './render.js';

const $ = (id) => document.getElementById(id);

let handlers = null;

/** Whether the view is scrolled to (near) the end: only then does new text scroll it. */
function atBottom() {
  const box = $('messages');
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

function scrollToEnd() {
  const box = $('messages');
  box.scrollTop = box.scrollHeight;
}

const NOTES = {
  length: 'Stopped at the max tokens limit.',
  stopped: 'Stopped.',
  error: 'Interrupted by an error.',
};

function fillBody(body, message, final) {
  if (!message.content && !final) {
    body.replaceChildren(
      el('span', { class: 'typing', 'aria-label': 'Waiting for the reply' }, el('i'), el('i'), el('i')),
    );
    return;
  }
  body.replaceChildren(toFragment(message.content, final));
}

function note(message) {
  return el('p', { class: 'msg-note muted small', text: NOTES[message.finish] || '', hidden: !NOTES[message.finish] });
}

function actions(message, { isLast, generating }) {
  const bar = el(
    'div',
    { class: 'msg-actions' },
    iconButton('copy', 'Copy', { class: 'ghost', data: { action: 'copy' } }, true),
  );
  if (message.role === 'user') {
    bar.append(iconButton('edit', 'Edit', { class: 'ghost', data: { action: 'edit' }, disabled: generating }, true));
  } else if (isLast) {
    bar.append(
      iconButton('redo', 'Regenerate', { class: 'ghost', data: { action: 'regenerate' }, disabled: generating }, true),
    );
  }
  return bar;
}

function messageNode(message, options) {
  const streaming = options.streamingId === message.id;
  const author = message.role === 'user' ? 'You' : message.model || 'Assistant';
  const body = el('div', { class: 'msg-body md' });
  fillBody(body, message, !streaming);
  return el(
    'article',
    {
      class: `msg msg-${message.role}`,
      data: { id: message.id, role: message.role, state: streaming ? 'streaming' : message.finish || 'done' },
      // Screen readers announce the reply once, when it is complete, not at every token.
      'aria-busy': streaming ? 'true' : null,
    },
    el('div', { class: 'msg-head muted small', text: author }),
    body,
    note(message),
    streaming ? null : actions(message, options),
  );
}

/** Plain words for a failed request: what happened and what to do. */
function describe(error) {
  const wait = error.retryAfter
    ? ` Try again in about ${error.retryAfter} second${error.retryAfter === 1 ? '' : 's'}.`
    : ' Try again in a moment.';
  switch (error.kind) {
    case 'loading':
      return { title: 'The model is still loading.', text: 'It will answer once it is ready.' + wait, retry: true };
    case 'busy':
      return {
        title: 'The server is busy.',
        text: 'Too many requests are waiting for the model right now.' + wait,
        retry: true,
      };
    case 'context':
      return {
        title: 'This conversation is too long for the model.',
        text: `${error.message} Start a new chat, shorten or edit a message, or lower “Max tokens” in the settings.`,
        retry: true,
      };
    case 'invalid':
      return {
        title: 'The server refused the request.',
        text: error.message + ' Check the chat settings.',
        retry: true,
      };
    case 'model':
      return {
        title: 'This model is not available.',
        text: 'Pick another model in the settings, then retry.',
        retry: true,
      };
    case 'session':
      return {
        title: 'Your session has ended.',
        text: 'Log in again to continue. Your conversations stay in this browser.',
        login: true,
      };
    case 'csrf':
      return {
        title: 'This page is out of date.',
        text: 'Reload the page to continue. Your conversations stay in this browser.',
        reload: true,
      };
    case 'network':
      return {
        title: 'The connection to the server was lost.',
        text: error.message + ' Check your network, then retry.',
        retry: true,
      };
    default:
      return { title: 'The server could not answer.', text: error.message, retry: true };
  }
}

function errorNode(error) {
  const info = describe(error);
  const buttons = el('div', { class: 'msg-actions' });
  if (info.retry) buttons.append(iconButton('redo', 'Retry', { class: 'retry', data: { action: 'retry' } }, true));
  if (info.login) buttons.append(el('a', { class: 'button', href: '/login', text: 'Log in again' }));
  if (info.reload)
    buttons.append(el('button', { type: 'button', data: { action: 'reload' }, text: 'Reload the page' }));
  return el(
    'div',
    { class: 'msg-error', role: 'alert', data: { kind: error.kind } },
    el('p', {}, el('strong', { text: info.title }), ' ', info.text),
    buttons,
  );
}

function unansweredNode() {
  return el(
    'div',
    { class: 'msg-unanswered muted small' },
    'No reply yet. ',
    iconButton('redo', 'Get a reply', { class: 'ghost retry', data: { action: 'retry' } }, true),
  );
}

function emptyState() {
  return el(
    'div',
    { class: 'empty-state' },
    el('h2', { text: 'What can I help with?' }),
    el('p', {
      class: 'muted',
      text: 'Your messages go to this server’s model and nowhere else. The conversation is saved in this browser only.',
    }),
  );
}

/** Redraws the whole conversation. options: { streamingId, generating, error } */
function render(conv, options) {
  const box = $('messages');
  const last = conv.messages[conv.messages.length - 1];
  const lastAssistant = last && last.role === 'assistant' ? last.id : null;
  const nodes = conv.messages.map((m) => messageNode(m, Object.assign({ isLast: m.id === lastAssistant }, options)));
  if (!nodes.length && !options.error) nodes.push(emptyState());
  // A question left without an answer (the page was reloaded after a failure, say).
  if (last && last.role === 'user' && !options.generating && !options.error) nodes.push(unansweredNode());
  if (options.error) nodes.push(errorNode(options.error));
  box.replaceChildren(...nodes);
  scrollToEnd();
}

/** Re-renders the streaming message's body with its text so far. */
function update(message) {
  const node = $('messages').querySelector(`article[data-id="${CSS.escape(message.id)}"]`);
  if (!node) return;
  const stick = atBottom();
  fillBody(node.querySelector('.msg-body'), message, false);
  if (stick) scrollToEnd();
}

/** Turns a message into an editor; `onEdit(id, text)` resends from there. */
function startEdit(message) {
  const node = $('messages').querySelector(`article[data-id="${CSS.escape(message.id)}"]`);
  if (!node) return;
  const area = el('textarea', { class: 'edit-area', 'aria-label': 'Edit message', rows: 3 });
  area.value = message.content;
  const cancel = () => handlers.onCancelEdit();
  const form = el(
    'form',
    {
      class: 'edit-form',
      on: {
        submit: (e) => {
          e.preventDefault();
          if (area.value.trim()) handlers.onEdit(message.id, area.value);
        },
      },
    },
    area,
    el(
      'div',
      { class: 'msg-actions' },
      el('button', { type: 'submit', class: 'edit-send', text: 'Save and send' }),
      el('button', { type: 'button', class: 'ghost', text: 'Cancel', on: { click: cancel } }),
    ),
    el('p', { class: 'muted small', text: 'Sending replaces every message after this one.' }),
  );
  area.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
    if (e.key === 'Escape') {
      e.stopPropagation();
      cancel();
    }
  });
  area.addEventListener('input', () => autosize(area));
  node.querySelector('.msg-body').replaceChildren(form);
  const bar = node.querySelector(':scope > .msg-actions');
  if (bar) bar.hidden = true;
  area.focus();
  autosize(area);
}

function init(h) {
  handlers = h;
  // One listener for every button in the list (messages are redrawn often).
  $('messages').addEventListener('click', (event) => {
    const button = event.target.closest('[data-action]');
    if (!button) return;
    const article = button.closest('article[data-id]');
    handlers.onAction(button.dataset.action, article ? article.dataset.id : null, button);
  });
}

export { init, render, update, startEdit, describe };
