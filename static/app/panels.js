// The two panels behind the sidebar's buttons: Personas, and "Lock & data" (passphrase lock,
// export and import, deleting everything this site keeps in the browser). Dialogs are
// interactions, not page state: they are drawn when opened, from the state as it is then.

import * as actions from './actions.js';
import { ITERATIONS } from './crypto.js';
import * as dialogs from './dialogs.js';
import { getState, personaList } from './state.js';
import * as store from './store.js';
import { el, uid } from './util.js';

const MIN_PASSPHRASE = 8;

function tell(title, text) {
  return dialogs.panel({ title, build: (body) => body.append(el('p', { text })) });
}

// ---- Personas -------------------------------------------------------------------------

async function editPersona(persona) {
  const values = await dialogs.form({
    title: persona ? 'Edit persona' : 'New persona',
    fields: [
      { name: 'name', label: 'Name', value: persona ? persona.name : '', required: true },
      {
        name: 'prompt',
        label: 'System prompt',
        type: 'textarea',
        value: persona ? persona.prompt : '',
        required: true,
      },
    ],
    ok: 'Save',
  });
  if (values) {
    await actions.savePersona(
      Object.assign(
        { id: persona ? persona.id : uid() },
        {
          name: values.name.trim(),
          prompt: values.prompt,
          updatedAt: Date.now(),
        },
      ),
    );
  }
  personas();
}

async function deletePersona(persona) {
  const ok = await dialogs.confirm({
    title: 'Delete this persona?',
    text: `“${persona.name}” will be gone. Chats that use it fall back to their own system prompt.`,
    ok: 'Delete',
    danger: true,
  });
  if (ok) await actions.deletePersona(persona.id);
  personas();
}

function personas() {
  return dialogs.panel({
    title: 'Personas',
    wide: true,
    build(body) {
      body.append(
        el('p', {
          class: 'muted',
          text: 'A persona is a named system prompt you can pick in any chat’s settings. Personas are kept in this browser, like conversations.',
        }),
      );
      const list = el('ul', { class: 'persona-list' });
      for (const p of personaList()) {
        list.append(
          el(
            'li',
            { class: 'persona' },
            el(
              'div',
              {},
              el('strong', { text: p.name }),
              el('p', { class: 'muted small persona-prompt', text: p.prompt }),
            ),
            el(
              'div',
              { class: 'row-actions' },
              el('button', { type: 'button', class: 'ghost', text: 'Edit', on: { click: () => editPersona(p) } }),
              el('button', {
                type: 'button',
                class: 'ghost danger-text',
                text: 'Delete',
                on: { click: () => deletePersona(p) },
              }),
            ),
          ),
        );
      }
      if (!list.children.length) list.append(el('li', { class: 'muted', text: 'No personas yet.' }));
      body.append(
        list,
        el('button', {
          type: 'button',
          id: 'new-persona',
          text: 'New persona',
          on: { click: () => editPersona(null) },
        }),
      );
    },
  });
}

// ---- Lock -----------------------------------------------------------------------------

const passphraseFields = (prefix) => [
  {
    name: 'next',
    label: prefix + 'passphrase',
    type: 'password',
    autocomplete: 'new-password',
    required: true,
    minlength: MIN_PASSPHRASE,
    hint: `At least ${MIN_PASSPHRASE} characters. It cannot be recovered: if it is lost, so are the conversations.`,
  },
  { name: 'again', label: 'The same again', type: 'password', autocomplete: 'new-password', required: true },
];

function checkNew(values) {
  if (values.next.length < MIN_PASSPHRASE)
    throw new Error(`The passphrase needs at least ${MIN_PASSPHRASE} characters.`);
  if (values.next !== values.again) throw new Error('The two passphrases differ.');
}

async function turnOnLock() {
  const done = await dialogs.form({
    title: 'Lock with a passphrase',
    text: 'Every conversation and persona is then stored encrypted in this browser, titles included. The page asks for the passphrase each time it loads.',
    fields: passphraseFields(''),
    ok: 'Turn on the lock',
    check: async (values) => {
      checkNew(values);
      await store.enableLock(values.next);
      return true;
    },
  });
  if (done) actions.lockChanged();
  data();
}

async function changePassphrase() {
  const done = await dialogs.form({
    title: 'Change the passphrase',
    fields: [
      {
        name: 'current',
        label: 'Current passphrase',
        type: 'password',
        autocomplete: 'current-password',
        required: true,
      },
    ].concat(passphraseFields('New ')),
    ok: 'Change',
    check: async (values) => {
      checkNew(values);
      if (!(await store.changePassphrase(values.current, values.next)))
        throw new Error('The current passphrase is wrong.');
      return true;
    },
  });
  if (done) actions.lockChanged();
  data();
}

async function removeLock() {
  const done = await dialogs.form({
    title: 'Remove the lock',
    text: 'Conversations and personas will be stored unencrypted in this browser again.',
    fields: [
      { name: 'current', label: 'Passphrase', type: 'password', autocomplete: 'current-password', required: true },
    ],
    ok: 'Remove the lock',
    danger: true,
    check: async (values) => {
      if (!(await store.removeLock(values.current))) throw new Error('The passphrase is wrong.');
      return true;
    },
  });
  if (done) actions.lockChanged();
  data();
}

// ---- Export, import, wipe ---------------------------------------------------------------

async function importFile(file) {
  let payload;
  try {
    const parsed = store.parseExport(await file.text());
    payload = parsed;
    if (parsed.encrypted) {
      payload = await dialogs.form({
        title: 'Encrypted export',
        text: 'This file was exported while a lock was on. Enter the passphrase it was made with.',
        fields: [{ name: 'passphrase', label: 'Passphrase', type: 'password', autocomplete: 'off', required: true }],
        ok: 'Import',
        check: async (values) => {
          const opened = await store.decryptExport(parsed, values.passphrase);
          if (!opened) throw new Error('The passphrase is wrong (or the file is damaged).');
          return opened;
        },
      });
      if (!payload) return data();
    }
  } catch (error) {
    return tell('Import failed', error.message);
  }
  const counts = await actions.importPayload(payload);
  return tell(
    'Import finished',
    `Imported ${counts.conversations} conversation${counts.conversations === 1 ? '' : 's'} and ${counts.personas} persona${counts.personas === 1 ? '' : 's'}` +
      (counts.skipped ? `; ${counts.skipped} already here in the same or a newer version were kept.` : '.'),
  );
}

async function wipe() {
  const ok = await dialogs.confirm({
    title: 'Delete all local data?',
    text: 'This deletes every conversation, persona and setting this site keeps in this browser, for every account, and cannot be undone. Your account on the server stays.',
    ok: 'Delete everything',
    danger: true,
  });
  if (!ok) return;
  const failures = await store.wipeAll();
  if (!failures.length) {
    location.reload();
    return;
  }
  const reasons = failures.map((e) => (e && e.name ? `${e.name}: ${e.message}` : String(e))).join('; ');
  tell(
    'Not everything was deleted',
    `The browser refused to delete part of this site’s data (${reasons}). Close this site’s other tabs and try again, or clear the site’s data in the browser’s settings.`,
  );
}

function section(title, text, ...buttons) {
  return el(
    'section',
    { class: 'panel-section' },
    el('h3', { text: title }),
    el('p', { class: 'muted', text }),
    el('div', { class: 'row-actions' }, buttons),
  );
}

/** The lock's section: on, off, or not possible here (and why). */
function lockSection(button) {
  if (store.lockEnabled()) {
    return section(
      'Lock: on',
      `Conversations and personas are encrypted in this browser (AES-GCM; the key comes from your passphrase through PBKDF2-SHA-256, ${ITERATIONS.toLocaleString('en')} rounds). The page asks for the passphrase each time it loads.`,
      button('Lock now', actions.lockNow, { id: 'lock-now' }),
      button('Change passphrase', () => changePassphrase(), { class: 'ghost', id: 'change-passphrase' }),
      button('Remove the lock', () => removeLock(), { class: 'ghost', id: 'remove-lock' }),
    );
  }
  const off = (text, enabled) =>
    section(
      'Lock: off',
      text,
      button('Lock with a passphrase', turnOnLock, { id: 'turn-on-lock', disabled: !enabled }),
    );
  if (getState().storage === 'memory') {
    return off(
      'This browser refuses to store data for this site, so nothing is kept here to encrypt: conversations live in this tab only, until it closes. Export saves a copy as a file.',
      false,
    );
  }
  // Browsers offer encryption (crypto.subtle) only to pages over HTTPS or on localhost.
  if (!crypto.subtle) {
    return off(
      'Conversations are stored unencrypted in this browser’s storage. The lock needs a secure connection: this page came over plain HTTP, where the browser offers no encryption. Reach sotto over HTTPS to use it.',
      false,
    );
  }
  return off(
    'Conversations are stored unencrypted in this browser’s storage. With a lock, they are encrypted with a passphrase that only you know.',
    true,
  );
}

function data() {
  const locked = store.lockEnabled();
  const button = (text, click, extra) =>
    el('button', Object.assign({ type: 'button', text, on: { click } }, extra || {}));
  const fileInput = el('input', {
    type: 'file',
    id: 'import-file',
    accept: '.json,application/json',
    class: 'offscreen',
  });
  fileInput.addEventListener('change', () => {
    if (fileInput.files[0]) importFile(fileInput.files[0]);
  });
  return dialogs.panel({
    title: 'Lock & data',
    wide: true,
    build(body) {
      body.append(
        lockSection(button),
        section(
          'Export and import',
          locked
            ? 'A file with every conversation and persona, encrypted with your passphrase (the lock is on).'
            : 'A file with every conversation and persona, in the clear (turn on the lock to export it encrypted).',
          button('Export', actions.exportFile, { id: 'export' }),
          button('Import…', () => fileInput.click(), { class: 'ghost', id: 'import' }),
          fileInput,
        ),
        section(
          'Delete all local data',
          'Everything this site keeps in this browser: conversations, personas, settings and the lock. Nothing of it is on the server.',
          button('Delete all local data', wipe, { class: 'danger', id: 'wipe' }),
        ),
      );
    },
  });
}

export { personas, data, wipe };
