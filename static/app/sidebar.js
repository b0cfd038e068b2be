// The conversation list: newest first, search by title and content, rename and delete.
// On a narrow screen it is a drawer over the conversation; on a wide one it can be folded away.

import { el, icon, iconButton, shortDate, debounce } from './util.js';
import { displayTitle } from './model.js';

const $ = (id) => document.getElementById(id);
const narrow = window.matchMedia('(max-width: 760px)');

let handlers = null;

function isOpen() {
  const chat = $('chat');
  return narrow.matches ? chat.classList.contains('sidebar-open') : !chat.classList.contains('sidebar-collapsed');
}

function setOpen(open) {
  const chat = $('chat');
  if (narrow.matches) {
    chat.classList.toggle('sidebar-open', open);
    $('sidebar-backdrop').hidden = !open;
  } else {
    chat.classList.toggle('sidebar-collapsed', !open);
  }
  $('toggle-sidebar').setAttribute('aria-expanded', String(open));
}

/** After choosing a chat on a phone, the drawer gets out of the way. */
function closeIfNarrow() {
  if (narrow.matches) setOpen(false);
}

function item(conv, currentId) {
  const current = conv.id === currentId;
  const title = displayTitle(conv);
  return el(
    'li',
    { class: 'conversation-item' + (current ? ' current' : ''), data: { id: conv.id } },
    el(
      'button',
      {
        type: 'button',
        class: 'conversation-open',
        'aria-current': current ? 'page' : null,
        on: {
          click: () => {
            handlers.onOpen(conv.id);
            closeIfNarrow();
          },
        },
      },
      el('span', { class: 'conversation-title', text: title }),
      el('span', { class: 'conversation-date muted', text: shortDate(conv.updatedAt) }),
    ),
    iconButton('edit', 'Rename ' + title, {
      class: 'ghost icon-only conversation-rename',
      on: { click: () => handlers.onRename(conv.id) },
    }),
    iconButton('trash', 'Delete ' + title, {
      class: 'ghost icon-only conversation-delete',
      on: { click: () => handlers.onDelete(conv.id) },
    }),
  );
}

/** Redraws the list from `conversations` (already filtered and sorted by the caller). */
function render(conversations, currentId, query, total) {
  $('conversation-list').replaceChildren(...conversations.map((c) => item(c, currentId)));
  const empty = $('conversation-empty');
  empty.hidden = conversations.length > 0;
  empty.textContent = total === 0 ? 'No conversations yet.' : `No conversation matches “${query}”.`;
}

/**
 * A notice above the list that stays until dealt with: `text` and buttons
 * ({ id, text, click, danger }). null removes it.
 */
function notice(text, buttons) {
  const old = $('sidebar-notice');
  if (old) old.remove();
  if (text === null) return;
  const actions = buttons.map((b) =>
    el('button', {
      type: 'button',
      id: b.id,
      class: b.danger ? 'ghost danger-text' : 'ghost',
      text: b.text,
      on: { click: b.click },
    }),
  );
  $('sidebar')
    .querySelector('.conversation-nav')
    .before(
      el(
        'div',
        { id: 'sidebar-notice', class: 'sidebar-notice', role: 'alert' },
        el('p', { text }),
        el('div', { class: 'row-actions' }, actions),
      ),
    );
}

function init(h) {
  handlers = h;
  const toggle = $('toggle-sidebar');
  toggle.append(icon('menu'));
  toggle.addEventListener('click', () => setOpen(!isOpen()));
  $('sidebar-backdrop').addEventListener('click', () => setOpen(false));
  $('new-chat').prepend(icon('plus'));
  $('new-chat').addEventListener('click', () => {
    handlers.onNew();
    closeIfNarrow();
  });
  const search = $('search');
  const run = debounce(() => handlers.onSearch(search.value.trim()), 120);
  search.addEventListener('input', run);
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && search.value) {
      e.stopPropagation();
      search.value = '';
      run();
    }
  });
  // Crossing the breakpoint resets to that layout's default: drawer shut, column shown.
  narrow.addEventListener('change', () => {
    $('chat').classList.remove('sidebar-open', 'sidebar-collapsed');
    $('sidebar-backdrop').hidden = true;
    $('toggle-sidebar').setAttribute('aria-expanded', String(!narrow.matches));
  });
  $('toggle-sidebar').setAttribute('aria-expanded', String(!narrow.matches));
}

const isNarrow = () => narrow.matches;

export { init, render, notice, setOpen, isNarrow };
