// The conversation view: messages rendered as markdown, their actions (copy, edit and resend,
// regenerate), the reply being streamed, and errors in plain words with a way forward.
//
// Drawn from the state like every view, but node by node: a message's node is kept as long as
// what it shows is the same (the message object, whether it streams, is last, is edited), so a
// repaint of the streaming reply redraws that one message, an edit in progress keeps its text,
// and the scroll position holds.

import * as chat from './chat.js';
import { answerFragment, callsText, thinkingNode, toolCallsNode } from './reply.js';
import { currentConversation } from './state.js';
import { autosize, copyText, el, flash, iconButton, patchChildren } from './util.js';

const $ = (id) => document.getElementById(id);

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

/** The body of a message: its text as markdown; dots while a reply has nothing yet. */
function body(reply, final) {
  if (!final && !reply.content && !reply.reasoning && !reply.toolCalls.length) {
    return el('span', { class: 'typing', 'aria-label': 'Waiting for the reply' }, el('i'), el('i'), el('i'));
  }
  return answerFragment(reply.content, final);
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

/** A message being edited: Save and send resends from there. */
function editor(message) {
  const area = el('textarea', { class: 'edit-area', 'aria-label': 'Edit message', rows: 3 });
  area.value = message.content;
  const form = el(
    'form',
    {
      class: 'edit-form',
      on: {
        submit: (e) => {
          e.preventDefault();
          if (area.value.trim()) chat.editAndResend(message.id, area.value);
        },
      },
    },
    area,
    el(
      'div',
      { class: 'msg-actions' },
      el('button', { type: 'submit', class: 'edit-send', text: 'Save and send' }),
      el('button', { type: 'button', class: 'ghost', text: 'Cancel', on: { click: chat.cancelEdit } }),
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
      chat.cancelEdit();
    }
  });
  area.addEventListener('input', () => autosize(area));
  return form;
}

/** options: { isLast, generating, streaming (the reply so far, or null), editing } */
function messageNode(message, options) {
  const streaming = options.streaming !== null;
  const author = message.role === 'user' ? 'You' : message.model || 'Assistant';
  // A stored message's parts, or the streaming reply's: thinking above the answer, calls below.
  const reply = streaming
    ? options.streaming
    : { content: message.content, reasoning: message.reasoning || '', toolCalls: message.toolCalls || [] };
  const content = el('div', { class: 'msg-body md' }, options.editing ? editor(message) : body(reply, !streaming));
  return el(
    'article',
    {
      class: `msg msg-${message.role}`,
      data: { id: message.id, role: message.role, state: streaming ? 'streaming' : message.finish || 'done' },
      // Screen readers announce the reply once, when it is complete, not at every token.
      'aria-busy': streaming ? 'true' : null,
    },
    el('div', { class: 'msg-head muted small', text: author }),
    options.editing ? null : thinkingNode(message.id, reply.reasoning, { streaming }),
    content,
    options.editing ? null : toolCallsNode(reply.toolCalls),
    note(message),
    streaming || options.editing ? null : actions(message, options),
  );
}

/** Plain words for a failed request: what happened and what to do. */
function describe(error, storage) {
  const wait = error.retryAfter
    ? ` Try again in about ${error.retryAfter} second${error.retryAfter === 1 ? '' : 's'}.`
    : ' Try again in a moment.';
  // Leaving or reloading the page loses what a browser that refuses storage holds.
  const kept =
    storage === 'memory'
      ? ' This browser keeps nothing after the page is left: export a copy first (Lock & data).'
      : ' Your conversations stay in this browser.';
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
        text: 'Log in again to continue.' + kept,
        login: true,
      };
    case 'csrf':
      return {
        title: 'This page is out of date.',
        text: 'Reload the page to continue.' + kept,
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

function errorNode(error, storage) {
  const info = describe(error, storage);
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

function emptyState(storage) {
  return el(
    'div',
    { class: 'empty-state' },
    el('h2', { text: 'What can I help with?' }),
    el('p', {
      class: 'muted',
      text:
        'Your messages go to this server’s model and nowhere else. ' +
        (storage === 'memory'
          ? 'This browser refuses to store the conversation: it is kept in this tab only.'
          : 'The conversation is saved in this browser only.'),
    }),
  );
}

/** Each message's node, and what it showed: kept while that is the same. */
let cache = new Map();
let shown = { convId: '', count: 0, extras: null };

function same(a, b) {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/** The open conversation, drawn from the state. */
export function render(state) {
  const conv = currentConversation(state);
  const gen = state.generation && state.generation.convId === conv.id ? state.generation : null;
  const generating = Boolean(state.generation);
  const error = state.chatErrors.get(conv.id) || null;
  const switched = conv.id !== shown.convId;
  // Follow the end when another chat opens, a message is added, or the end was in view.
  const follow = switched || conv.messages.length > shown.count || atBottom();
  if (switched) cache = new Map();

  const last = conv.messages[conv.messages.length - 1];
  const lastAssistant = last && last.role === 'assistant' ? last.id : null;
  const next = new Map();
  let editArea = null;
  const nodes = conv.messages.map((message) => {
    const options = {
      isLast: message.id === lastAssistant,
      generating,
      streaming: gen && gen.messageId === message.id ? gen.reply : null,
      editing: state.editing === message.id,
    };
    const key = [message, options.isLast, generating, options.streaming, options.editing];
    const cached = cache.get(message.id);
    const node = cached && same(cached.key, key) ? cached.node : messageNode(message, options);
    if (options.editing && node !== (cached && cached.node)) editArea = node.querySelector('textarea');
    next.set(message.id, { key, node });
    return node;
  });
  cache = next;

  // After the messages: an empty chat's welcome, a question left unanswered (the page was
  // reloaded after a failure, say), or the error that ended the last request.
  const extrasKey = [conv.messages.length === 0, last && last.role === 'user' && !generating, error, state.storage];
  if (switched || !shown.extras || !same(shown.extras.key, extrasKey)) {
    const extras = [];
    if (!conv.messages.length && !error) extras.push(emptyState(state.storage));
    if (last && last.role === 'user' && !generating && !error) extras.push(unansweredNode());
    if (error) extras.push(errorNode(error, state.storage));
    shown.extras = { key: extrasKey, nodes: extras };
  }
  patchChildren($('messages'), [...nodes, ...shown.extras.nodes]);
  shown = { convId: conv.id, count: conv.messages.length, extras: shown.extras };
  if (follow) scrollToEnd();
  if (editArea) {
    autosize(editArea);
    editArea.focus();
  }
}

async function onAction(action, id, button) {
  const message = id && currentConversation().messages.find((m) => m.id === id);
  if (action === 'copy' && message) {
    // A reply that only called tools copies the calls (its thinking is never copied with it).
    const text = message.content || callsText(message.toolCalls);
    flash(button, (await copyText(text)) ? 'Copied' : 'Copy failed');
  } else if (action === 'copy-code') {
    const code = button.closest('.codeblock').querySelector('code').textContent;
    flash(button, (await copyText(code)) ? 'Copied' : 'Copy failed');
  } else if (action === 'edit' && message) chat.startEdit(message.id);
  else if (action === 'regenerate') chat.again(false);
  else if (action === 'retry') chat.again(true);
  else if (action === 'reload') location.reload();
}

export function init() {
  // One listener for every button in the list (nodes come and go).
  $('messages').addEventListener('click', (event) => {
    const button = event.target.closest('[data-action]');
    if (!button) return;
    const article = button.closest('article[data-id]');
    onAction(button.dataset.action, article ? article.dataset.id : null, button);
  });
}
