// The conversation list: newest first, search by title and content, rename and delete; the
// notice about stored records that could not be read, and whether the lock is on.
// On a narrow screen it is a drawer over the conversation; on a wide one it can be folded away
// (whether it is open is the DOM's own state, like a dialog's, not the page state's).

import * as actions from './actions.js';
import { displayTitle, matches } from './model.js';
import { noticeNode } from './notices.js';
import { setState, sortedConversations } from './state.js';
import { el, icon, iconButton, shortDate, debounce, patchChildren } from './util.js';

const $ = (id) => document.getElementById(id);
const narrow = window.matchMedia('(max-width: 760px)');

function isOpen() {
  const chat = $('chat');
  return narrow.matches ? chat.classList.contains('sidebar-open') : !chat.classList.contains('sidebar-collapsed');
}

export function setOpen(open) {
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

function item(conv, current) {
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
            actions.openConversation(conv.id);
            closeIfNarrow();
          },
        },
      },
      el('span', { class: 'conversation-title', text: title }),
      el('span', { class: 'conversation-date muted', text: shortDate(conv.updatedAt) }),
    ),
    iconButton('edit', 'Rename ' + title, {
      class: 'ghost icon-only conversation-rename',
      on: { click: () => actions.rename(conv.id) },
    }),
    iconButton('trash', 'Delete ' + title, {
      class: 'ghost icon-only conversation-delete',
      on: { click: () => actions.remove(conv.id) },
    }),
  );
}

let shown = { conversations: null, currentId: '', query: '', notices: null, lockOn: null };
let items = new Map(); // conversation id → { conv, current, node }

function renderList(state) {
  const all = sortedConversations(state);
  const next = new Map();
  const nodes = all
    .filter((c) => matches(c, state.query))
    .map((conv) => {
      const current = conv.id === state.currentId;
      const kept = items.get(conv.id);
      const node = kept && kept.conv === conv && kept.current === current ? kept.node : item(conv, current);
      next.set(conv.id, { conv, current, node });
      return node;
    });
  items = next;
  patchChildren($('conversation-list'), nodes);
  const empty = $('conversation-empty');
  empty.hidden = nodes.length > 0;
  empty.textContent = all.length === 0 ? 'No conversations yet.' : `No conversation matches “${state.query}”.`;
}

/** A notice about the list itself (records that could not be read), above it. */
function renderNotice(state) {
  const notice = state.notices.find((n) => n.place === 'sidebar');
  const old = $('sidebar-notice');
  if (old && old.dataset.notice === (notice && notice.id)) return;
  if (old) old.remove();
  if (!notice) return;
  const node = noticeNode(notice, 'sidebar-notice');
  node.classList.add('sidebar-notice');
  $('sidebar').querySelector('.conversation-nav').before(node);
  // On a phone the list is a shut drawer: open it, or the notice would go unseen.
  if (narrow.matches) setOpen(true);
}

/** The list, its notice and the lock line, from the state. */
export function render(state) {
  if (
    state.conversations !== shown.conversations ||
    state.currentId !== shown.currentId ||
    state.query !== shown.query
  ) {
    renderList(state);
  }
  if (state.notices !== shown.notices) renderNotice(state);
  if (state.lockOn !== shown.lockOn) {
    $('lock-state').replaceChildren(...(state.lockOn ? [icon('lock'), ' Locked with a passphrase'] : []));
  }
  shown = {
    conversations: state.conversations,
    currentId: state.currentId,
    query: state.query,
    notices: state.notices,
    lockOn: state.lockOn,
  };
}

export function init() {
  const toggle = $('toggle-sidebar');
  toggle.append(icon('menu'));
  toggle.addEventListener('click', () => setOpen(!isOpen()));
  $('sidebar-backdrop').addEventListener('click', () => setOpen(false));
  $('new-chat').prepend(icon('plus'));
  $('new-chat').addEventListener('click', () => {
    actions.newChat();
    $('prompt').focus();
    closeIfNarrow();
  });
  const search = $('search');
  const run = debounce(() => setState({ query: search.value.trim() }), 120);
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
