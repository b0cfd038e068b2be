// Markdown → sanitised DOM, for the model's text and the user's alike.
//
// marked turns markdown into HTML; DOMPurify then keeps only harmless elements and attributes.
// Both are vendored (static/vendor/); nothing here parses markdown or HTML by hand.
// Layers, because text from a model is as untrusted as a web page:
//  1. Raw HTML inside the markdown is shown as text, not interpreted (a chat message is not a
//     web page; someone asking about `<script>` wants to see it). `<br>` alone is kept, as
//     models use it inside table cells.
//  2. DOMPurify removes scripts, event handlers, styles, forms, frames, SVG and MathML, and URL
//     schemes other than http(s)/mailto.
//  3. A DOMPurify hook removes every reference to another origin that a browser would fetch by
//     itself (img src and the like) BEFORE the nodes reach the page: such images are never
//     requested. The CSP (img-src 'self' data:) would block them too; this keeps even the
//     attempt from happening and says so in the text.
//  4. Links may point anywhere over http(s)/mailto but open in a new tab with
//     rel="noopener noreferrer", so the other site gets neither this window nor a Referer.

import { el } from './util.js';

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]);

const markdown = new marked.Marked({
  gfm: true,
  breaks: false,
  renderer: {
    html({ text }) {
      return /^<br\s*\/?>$/i.test(text.trim()) ? '<br>' : escapeHtml(text);
    },
  },
});

const PURIFY = {
  USE_PROFILES: { html: true }, // no SVG or MathML
  FORBID_TAGS: [
    'style',
    'form',
    'input',
    'button',
    'textarea',
    'select',
    'option',
    'iframe',
    'frame',
    'frameset',
    'object',
    'embed',
    'link',
    'meta',
    'base',
    'video',
    'audio',
    'source',
    'track',
    'picture',
    'template',
    'dialog',
    'canvas',
    'map',
    'area',
  ],
  FORBID_ATTR: ['style', 'srcset', 'poster', 'background', 'action', 'formaction', 'ping', 'id', 'name'],
  ALLOW_DATA_ATTR: false,
  ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i,
  RETURN_DOM_FRAGMENT: true,
};
const SCHEMES = new Set(['http:', 'https:', 'mailto:']);
const FETCHING = ['src', 'srcset', 'poster', 'background', 'data', 'xlink:href'];

function resolve(url) {
  try {
    return new URL(url, location.href);
  } catch (_) {
    return null;
  }
}

/** Same origin, or an inline data: image (img-src allows both; neither leaves the machine). */
function fetchAllowed(node, value) {
  const url = resolve(value);
  if (!url) return false;
  if (url.protocol === 'data:') return node.nodeName === 'IMG' && /^data:image\//i.test(value.trim());
  return url.origin === location.origin;
}

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (!node.hasAttribute) return;
  for (const name of FETCHING) {
    const value = node.getAttribute(name);
    if (value === null) continue;
    if (!fetchAllowed(node, value)) {
      // Keep where it came from visible as text (see blockedImages), without loading it.
      if (node.nodeName === 'IMG' && name === 'src') node.setAttribute('data-blocked-src', value);
      node.removeAttribute(name);
    }
  }
  if (node.nodeName === 'A') {
    const url = node.hasAttribute('href') ? resolve(node.getAttribute('href')) : null;
    if (!url || !SCHEMES.has(url.protocol)) {
      node.removeAttribute('href');
    } else {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer');
    }
  } else if (node.hasAttribute('href')) {
    node.removeAttribute('href');
  }
});

/** An image that was not loaded becomes a note naming its alt text and address. */
function blockedImages(root) {
  for (const img of root.querySelectorAll('img')) {
    const src = img.getAttribute('data-blocked-src');
    if (src === null && img.hasAttribute('src')) continue;
    const alt = img.getAttribute('alt') || 'image';
    img.replaceWith(
      el(
        'span',
        { class: 'blocked-image', title: 'Images from other sites are not loaded' },
        `[${alt}: not loaded from ${src || 'an unknown address'}]`,
      ),
    );
  }
}

// A line opening more than MAX_NESTING quotes or list items ("> > > …", "- - - …") is shown
// as plain text without trying. marked recurses once per level and runs out of stack
// somewhere between 2,000 and 3,500 levels, depending on how warm the JIT is, so without a
// bound the same text could be formatted one time and fail the next; and the HTML parser
// flattens anything past 512 levels anyway. (markdown-it stops at 100 by default too.)
const MAX_NESTING = 100;
const TOO_DEEP = new RegExp(`^(?:[ \\t]*(?:>|(?:[-+*]|\\d{1,9}[.)])[ \\t])){${MAX_NESTING + 1}}`, 'm');

const KNOWN = (lang) => lang && hljs.getLanguage(lang);

/**
 * Code blocks get highlighting, a language label and a copy button. While a reply streams
 * (`final` false), only blocks that name a known language are highlighted: auto-detection
 * tries every language and is too slow to repeat at each token.
 */
function decorateCode(root, final) {
  for (const code of root.querySelectorAll('pre > code')) {
    const pre = code.parentElement;
    const match = /(?:^|\s)language-([\w+#.-]+)/.exec(code.className);
    const lang = match ? match[1].toLowerCase() : '';
    if (KNOWN(lang)) {
      hljs.highlightElement(code);
    } else if (final && !lang && code.textContent.length < 20000) {
      const guess = hljs.highlightAuto(code.textContent);
      if (guess.relevance >= 5) {
        code.innerHTML = guess.value;
        code.classList.add('hljs');
      }
    }
    const bar = el(
      'div',
      { class: 'codeblock-bar' },
      el('span', { class: 'codeblock-lang', text: lang || 'text' }),
      el(
        'button',
        { type: 'button', class: 'codeblock-copy', data: { action: 'copy-code' } },
        el('span', { text: 'Copy' }),
      ),
    );
    const block = el('div', { class: 'codeblock' });
    pre.replaceWith(block);
    block.append(bar, pre);
  }
}

/** Wide tables scroll sideways on their own instead of widening the page. */
function wrapTables(root) {
  for (const table of root.querySelectorAll('table')) {
    const wrap = el('div', { class: 'table-wrap' });
    table.replaceWith(wrap);
    wrap.append(table);
  }
}

function formatted(text, final) {
  const html = markdown.parse(text);
  const fragment = DOMPurify.sanitize(html, PURIFY);
  blockedImages(fragment);
  decorateCode(fragment, final);
  wrapTables(fragment);
  return fragment;
}

/** The text exactly as written, never parsed as HTML, with a note saying why it looks so. */
function plain(text) {
  const fragment = document.createDocumentFragment();
  fragment.append(
    el('p', { class: 'md-plain', text }),
    el('p', { class: 'md-plain-note muted small', text: 'Shown as plain text: this message could not be formatted.' }),
  );
  return fragment;
}

/**
 * Markdown text → a sanitised DocumentFragment, ready to insert. Never throws: the text is
 * untrusted, and a parser can fail on it (deep nesting of any kind overflows marked's stack
 * with a RangeError, and a thousand tokens from a model are enough). Any failure of the
 * formatting shows that one message as plain text, and the page around it still draws.
 */
function toFragment(text, final) {
  const source = typeof text === 'string' ? text : '';
  if (TOO_DEEP.test(source)) return plain(source);
  try {
    return formatted(source, final);
  } catch (error) {
    // Once, not at every repaint of a reply that is still streaming.
    if (final) console.warn('sotto: a message could not be formatted; it is shown as plain text.', error);
    return plain(source);
  }
}

/**
 * Text shown as one code block (highlighted, labelled, with its copy button), set as text:
 * nothing in it is parsed as markdown or HTML, so no fence or tag inside it can break out.
 */
function codeFragment(text, lang) {
  const fragment = document.createDocumentFragment();
  fragment.append(el('pre', {}, el('code', { class: `language-${lang}`, text })));
  decorateCode(fragment, true);
  return fragment;
}

hljs.configure({ ignoreUnescapedHTML: true });

export { toFragment, codeFragment, escapeHtml };
