// Modal dialogs on the page's one <dialog> element: confirm, a small form, or a panel.
//
// window.confirm/prompt are not used: they cannot ask for a password without echoing it, cannot
// show why a passphrase was refused, and browsers let pages suppress them.

import { el } from './util.js';

const $ = (id) => document.getElementById(id);

let current = null; // { resolve, submit } of the open dialog

function setError(message) {
  const error = $('dialog-error');
  error.textContent = message || '';
  error.hidden = !message;
}

function close(value) {
  const dialog = $('dialog');
  const open = current;
  current = null;
  if (dialog.open) dialog.close();
  if (open) open.resolve(value);
}

/**
 * Opens the dialog. `body` is a node; `submit()` returns the value to resolve with, or
 * throws an Error whose message is shown (the dialog then stays open). `ok: null` hides the
 * OK button (panels close with Cancel, labelled "Close").
 */
function show({ title, body, ok, cancel, danger, submit, wide }) {
  if (current) close(null);
  const dialog = $('dialog');
  $('dialog-title').textContent = title;
  $('dialog-body').replaceChildren(body);
  setError('');
  const okButton = $('dialog-ok');
  okButton.hidden = ok === null;
  okButton.textContent = ok || 'OK';
  okButton.disabled = false;
  okButton.classList.toggle('danger', !!danger);
  $('dialog-cancel').textContent = cancel || 'Cancel';
  dialog.classList.toggle('wide', !!wide);
  return new Promise((resolve) => {
    current = { resolve, submit: submit || (() => true) };
    dialog.showModal();
    const first = dialog.querySelector('#dialog-body input, #dialog-body textarea, #dialog-body select');
    (first || (ok === null ? $('dialog-cancel') : okButton)).focus();
  });
}

async function onSubmit(event) {
  event.preventDefault();
  if (!current) return;
  const open = current;
  const okButton = $('dialog-ok');
  const label = okButton.textContent;
  okButton.disabled = true;
  okButton.textContent = 'Working…';
  try {
    const value = await open.submit();
    if (current === open) close(value);
  } catch (error) {
    setError(error.message);
  } finally {
    okButton.disabled = false;
    okButton.textContent = label;
  }
}

function init() {
  $('dialog-form').addEventListener('submit', onSubmit);
  $('dialog-cancel').addEventListener('click', () => close(null));
  // Esc closes a dialog natively; resolve its promise as a cancel.
  $('dialog').addEventListener('cancel', (event) => {
    event.preventDefault();
    close(null);
  });
}

/** Resolves true when confirmed. */
async function confirm({ title, text, ok, danger }) {
  return (await show({ title, body: el('p', { text }), ok, danger, submit: () => true })) === true;
}

/**
 * A small form. fields: [{ name, label, type ('text'|'password'|'textarea'), value,
 * autocomplete, required, minlength, hint }]. `check(values)` may throw to refuse, or
 * return a value to resolve with (default: the values). Resolves null when cancelled.
 */
function form({ title, text, fields, ok, danger, check }) {
  const inputs = {};
  const body = el('div', { class: 'dialog-fields' }, text ? el('p', { class: 'muted', text }) : null);
  for (const f of fields) {
    const input =
      f.type === 'textarea'
        ? el('textarea', { rows: 6, name: f.name })
        : el('input', {
            type: f.type || 'text',
            name: f.name,
            autocomplete: f.autocomplete || 'off',
            minlength: f.minlength,
          });
    input.value = f.value || '';
    if (f.required) input.required = true;
    inputs[f.name] = input;
    body.append(
      el('label', {}, f.label, input, f.hint ? el('span', { class: 'muted small hint', text: f.hint }) : null),
    );
  }
  return show({
    title,
    body,
    ok,
    danger,
    submit: async () => {
      const values = {};
      for (const [name, input] of Object.entries(inputs)) values[name] = input.value;
      const result = check ? await check(values) : undefined;
      return result === undefined ? values : result;
    },
  });
}

/** A panel of actions, closed with "Close". `build(body)` fills it. */
function panel({ title, build, wide }) {
  const body = el('div', { class: 'panel' });
  build(body);
  return show({ title, body, ok: null, cancel: 'Close', wide });
}

const closeDialog = () => close(null);
const isOpen = () => $('dialog').open;

export { init, confirm, form, panel, closeDialog as close, isOpen };
