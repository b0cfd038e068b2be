// Small DOM and text helpers shared by the chat page's scripts.
//
// The chat page's scripts are ES modules: each imports what it uses. chat.html loads one entry,
// main.js; every asset's URL carries one digest of the whole build (/static/<build>/app/…, see
// src/web/assets.rs), so relative imports stay within the build a page came with.

const SVG_NS = 'http://www.w3.org/2000/svg';

// Icon outlines (24×24, stroked), drawn inline so nothing is fetched and no font is needed.
const ICONS = {
  menu: 'M4 6h16M4 12h16M4 18h16',
  plus: 'M12 5v14M5 12h14',
  edit: 'M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4',
  trash: 'M5 7h14M10 7V4h4v3M7 7l1 13h8l1-13',
  copy: 'M9 9h11v11H9zM5 15H4V4h11v1',
  redo: 'M20 12a8 8 0 1 1-2.3-5.6M20 4v5h-5',
  stop: 'M7 7h10v10H7z',
  send: 'M4 12l16-8-6 16-2-6-8-2z',
  sliders: 'M4 6h9M17 6h3M4 12h3M11 12h9M4 18h11M19 18h1M15 4v4M9 10v4M17 16v4',
  lock: 'M6 11h12v9H6zM8 11V8a4 4 0 0 1 8 0v3',
  user: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4 21a8 8 0 0 1 16 0',
  close: 'M6 6l12 12M18 6L6 18',
};

/** An inline SVG icon; aria-hidden, because the button around it carries the label. */
function icon(name) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon');
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', ICONS[name] || '');
  svg.append(path);
  return svg;
}

/**
 * Builds an element. `attrs` keys: `class`, `text` (textContent), `data` (dataset), `on`
 * ({event: handler}, added with addEventListener: the CSP forbids inline handlers), booleans
 * (`hidden`, `disabled`) and any other attribute. Children may be strings (as text) or nodes.
 */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else if (name === 'data') Object.assign(node.dataset, value);
    else if (name === 'on') for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else if (value === true) node.setAttribute(name, '');
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

/**
 * Makes `nodes` the children of `parent`, in order, moving only what is out of place: nodes
 * that stay keep their focus, selection and state, and the scroll position holds.
 */
function patchChildren(parent, nodes) {
  nodes.forEach((node, i) => {
    if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] || null);
  });
  while (parent.children.length > nodes.length) parent.lastElementChild.remove();
}

/** A button with an icon and a visible or screen-reader-only label. */
function iconButton(name, label, attrs, showLabel) {
  return el(
    'button',
    Object.assign({ type: 'button', title: label, 'aria-label': label }, attrs),
    icon(name),
    showLabel ? el('span', { text: label }) : null,
  );
}

/**
 * A random v4 UUID. crypto.randomUUID exists only in secure contexts (HTTPS or localhost);
 * a page reached over plain HTTP at a LAN name builds one from getRandomValues instead.
 */
function uid() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** "14:05" today, "Mon 14:05" this week, else a short date: enough to tell chats apart. */
function shortDate(ms) {
  const date = new Date(ms);
  const now = new Date();
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (date.toDateString() === now.toDateString()) return time;
  if (now - date < 6 * 86400e3) return date.toLocaleDateString([], { weekday: 'short' }) + ' ' + time;
  return date.toLocaleDateString([], { year: 'numeric', month: 'short', day: 'numeric' });
}

/**
 * Copies text. The async Clipboard API needs focus and, in some browsers, a permission; the
 * hidden-textarea fallback covers those cases.
 */
async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    const area = el('textarea', { class: 'offscreen', readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok;
    try {
      ok = document.execCommand('copy');
    } catch (_) {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

/** Briefly swaps a button's label to confirm an action ("Copied"). */
function flash(button, text) {
  const label = button.querySelector('span') || button;
  const before = label.textContent;
  button.classList.add('flashed');
  label.textContent = text;
  setTimeout(() => {
    label.textContent = before;
    button.classList.remove('flashed');
  }, 1200);
}

function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Grows a textarea with its content, up to the max-height its CSS sets. */
function autosize(area) {
  area.style.height = 'auto';
  area.style.height = area.scrollHeight + 2 + 'px';
}

/** Saves a string as a file through a temporary blob: URL (same origin, no request). */
function download(filename, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type: type || 'application/json' }));
  const link = el('a', { href: url, download: filename, class: 'offscreen' });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export { el, patchChildren, icon, iconButton, uid, shortDate, copyText, flash, debounce, autosize, download };
