// The two panels behind the sidebar's buttons: Personas, and "Lock & data" (passphrase lock,
// export and import, deleting everything this site keeps in the browser); and the notice about
// stored records that could not be read, with saving and deleting them.
// `app` is main.js's small interface to the conversations in memory.

import { el, uid, download } from './util.js';
import * as dialogs from './dialogs.js';
import * as store from './store.js';
import * as sidebar from './sidebar.js';
import { ITERATIONS } from './crypto.js';

const MIN_PASSPHRASE = 8;

function tell(title, text) {
  return dialogs.panel({ title, build: (body) => body.append(el('p', { text })) });
}

// ---- Personas -------------------------------------------------------------------------

async function editPersona(app, persona) {
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
    await app.savePersona(
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
  personas(app);
}

async function deletePersona(app, persona) {
  const ok = await dialogs.confirm({
    title: 'Delete this persona?',
    text: `“${persona.name}” will be gone. Chats that use it fall back to their own system prompt.`,
    ok: 'Delete',
    danger: true,
  });
  if (ok) await app.deletePersona(persona.id);
  personas(app);
}

function personas(app) {
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
      for (const p of app.personas()) {
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
              el('button', { type: 'button', class: 'ghost', text: 'Edit', on: { click: () => editPersona(app, p) } }),
              el('button', {
                type: 'button',
                class: 'ghost danger-text',
                text: 'Delete',
                on: { click: () => deletePersona(app, p) },
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
          on: { click: () => editPersona(app, null) },
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

async function turnOnLock(app) {
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
  if (done) app.lockChanged();
  data(app);
}

async function changePassphrase(app) {
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
  if (done) app.lockChanged();
  data(app);
}

async function removeLock(app) {
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
  if (done) app.lockChanged();
  data(app);
}

// ---- Export, import, wipe ---------------------------------------------------------------

async function importFile(app, file) {
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
      if (!payload) return data(app);
    }
  } catch (error) {
    return tell('Import failed', error.message);
  }
  const counts = await app.importPayload(payload);
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
  await store.wipeAll();
  location.reload();
}

// ---- Records that could not be read -----------------------------------------------------

/** "1 conversation", "2 conversations and 1 persona": what a list of stored records holds. */
function describeRecords(items) {
  const count = (kind, one) => {
    const n = items.filter((item) => item.store === kind).length;
    return n ? `${n} ${one}${n === 1 ? '' : 's'}` : '';
  };
  return [count('conversations', 'conversation'), count('personas', 'persona')].filter(Boolean).join(' and ');
}

/** JSON of records as stored, whatever a damaged one holds (structured clone allows more than JSON). */
function rawJson(value) {
  const seen = new WeakSet();
  return JSON.stringify(
    value,
    (_, v) => {
      if (typeof v === 'bigint') return v.toString();
      if (v && typeof v === 'object') {
        if (seen.has(v)) return '[repeated]';
        seen.add(v);
      }
      return v;
    },
    2,
  );
}

function saveUnreadable(items) {
  const file = { format: 'sotto-unreadable-records', version: 1, savedAt: new Date().toISOString(), records: items };
  download(`sotto-unreadable-${new Date().toISOString().slice(0, 10)}.json`, rawJson(file));
}

async function deleteUnreadable(app, items, what) {
  const ok = await dialogs.confirm({
    title: 'Delete what could not be read?',
    ok: 'Delete',
    danger: true,
    text: `The ${what} that could not be read will be deleted from this browser. Save a copy first to keep ${items.length === 1 ? 'it' : 'them'}.`,
  });
  if (!ok) return;
  try {
    // A record imported since under the same id is readable now, not the one reported: keep it.
    for (const item of items) if (!app.holds(item.store, item.record.id)) await store.deleteUnreadable(item);
  } catch (error) {
    tell(
      'Not deleted',
      `The browser refused to delete it (${error.message}). “Delete all local data” in Lock & data removes everything.`,
    );
    return;
  }
  sidebar.notice(null);
}

/**
 * Stored records the page could not read (store.loadAll) are left out of the list, so the
 * user is told, in the sidebar, and can keep a copy (as stored, for a later version or by
 * hand) or delete them.
 */
function unreadable(app, items) {
  const what = describeRecords(items);
  sidebar.notice(
    `${what} stored in this browser could not be read, so ${items.length === 1 ? 'it is' : 'they are'} not listed.`,
    [
      { id: 'unreadable-save', text: 'Save a copy', click: () => saveUnreadable(items) },
      { id: 'unreadable-delete', text: 'Delete', danger: true, click: () => deleteUnreadable(app, items, what) },
    ],
  );
  // On a phone the list is a shut drawer: open it, or the notice would go unseen.
  if (sidebar.isNarrow()) sidebar.setOpen(true);
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

function data(app) {
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
    if (fileInput.files[0]) importFile(app, fileInput.files[0]);
  });
  return dialogs.panel({
    title: 'Lock & data',
    wide: true,
    build(body) {
      body.append(
        locked
          ? section(
              'Lock: on',
              `Conversations and personas are encrypted in this browser (AES-GCM; the key comes from your passphrase through PBKDF2-SHA-256, ${ITERATIONS.toLocaleString('en')} rounds). The page asks for the passphrase each time it loads.`,
              button('Lock now', () => app.lockNow(), { id: 'lock-now' }),
              button('Change passphrase', () => changePassphrase(app), { class: 'ghost', id: 'change-passphrase' }),
              button('Remove the lock', () => removeLock(app), { class: 'ghost', id: 'remove-lock' }),
            )
          : crypto.subtle
            ? section(
                'Lock: off',
                'Conversations are stored unencrypted in this browser’s storage. With a lock, they are encrypted with a passphrase that only you know.',
                button('Lock with a passphrase', () => turnOnLock(app), { id: 'turn-on-lock' }),
              )
            : // Browsers offer encryption (crypto.subtle) only to pages over HTTPS or on localhost.
              section(
                'Lock: off',
                'Conversations are stored unencrypted in this browser’s storage. The lock needs a secure connection: this page came over plain HTTP, where the browser offers no encryption. Reach sotto over HTTPS to use it.',
                button('Lock with a passphrase', () => {}, { id: 'turn-on-lock', disabled: true }),
              ),
        section(
          'Export and import',
          locked
            ? 'A file with every conversation and persona, encrypted with your passphrase (the lock is on).'
            : 'A file with every conversation and persona, in the clear (turn on the lock to export it encrypted).',
          button('Export', () => app.exportFile(), { id: 'export' }),
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

export { personas, data, wipe, unreadable };
