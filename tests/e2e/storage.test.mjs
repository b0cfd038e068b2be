// Browser-only storage: the passphrase lock (nothing readable at rest), unlocking after a
// reload, export and import (in the clear and encrypted), and deleting all local data.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import {
  launch,
  marker,
  openDataPanel,
  openPage,
  rawStorage,
  send,
  setSettings,
  signUp,
  submitDialog,
  turnOnLock,
  waitReady,
  waitReply,
  closeClean,
} from './helpers.mjs';

const PASSPHRASE = 'a long enough passphrase';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** A conversation and a persona that both carry `word` (in the title, a message, a prompt). */
async function conversationWith(page, word) {
  await setSettings(page, { maxTokens: 16, system: `You know about ${word}.` });
  await send(page, `${word} is my marker. Reply briefly.`);
  await waitReply(page);
  await page.click('#open-personas');
  await page.click('#new-persona');
  await submitDialog(page, { name: `Persona ${word}`, prompt: `Always mention ${word}.` });
  await page.waitForSelector(`#dialog[open] .persona:has-text("${word}")`);
  await page.click('#dialog-cancel');
}

/**
 * Every stored record as text, read by opening IndexedDB directly: its JSON, and each
 * ciphertext (`ct`, base64 or bytes) decoded as UTF-8, so a marker stored unencrypted inside
 * it, or bytes that JSON would show as `{}`, cannot hide. Returns [texts, ciphertexts seen].
 */
function storedTexts(page) {
  return page.evaluate(async () => {
    const request = (r) =>
      new Promise((resolve, reject) => {
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
    const decode = (value) => {
      if (typeof value === 'string') {
        try {
          return new TextDecoder().decode(Uint8Array.from(atob(value), (c) => c.charCodeAt(0)));
        } catch {
          return value;
        }
      }
      if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return new TextDecoder().decode(value);
      return '';
    };
    const texts = [];
    let ciphertexts = 0;
    const visit = (value) => {
      if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) texts.push(decode(value));
      else if (value && typeof value === 'object') {
        for (const [key, inner] of Object.entries(value)) {
          if (key === 'ct') {
            ciphertexts += 1;
            texts.push(decode(inner));
          }
          visit(inner);
        }
      }
    };
    for (const { name } of await indexedDB.databases()) {
      const db = await request(indexedDB.open(name));
      for (const store of db.objectStoreNames) {
        for (const record of await request(db.transaction(store).objectStore(store).getAll())) {
          texts.push(JSON.stringify(record));
          visit(record);
        }
      }
      db.close();
    }
    return [texts, ciphertexts];
  });
}

async function exportFile(page) {
  await openDataPanel(page);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  const text = await readFile(await download.path(), 'utf8');
  await page.click('#dialog-cancel');
  return text;
}

async function wipe(page) {
  await openDataPanel(page);
  await page.click('#wipe');
  await page.waitForSelector('#dialog[open] #dialog-ok.danger');
  await Promise.all([page.waitForEvent('load'), page.click('#dialog-ok')]);
  await waitReady(page);
}

async function importFile(page, text) {
  await openDataPanel(page);
  await page.setInputFiles('#import-file', {
    name: 'export.json',
    mimeType: 'application/json',
    buffer: Buffer.from(text),
  });
}

test('the lock leaves nothing readable at rest, and unlocks after a reload', async () => {
  const { context, page, seen } = await openPage(browser);
  await signUp(page);
  const word = marker('Lockmark');
  await conversationWith(page, word);
  assert.ok(
    (await rawStorage(page)).includes(word),
    'without the lock the records are readable (the check below means something)',
  );

  await turnOnLock(page, PASSPHRASE);
  assert.match(await page.locator('#lock-state').innerText(), /Locked/);
  const raw = await rawStorage(page);
  assert.ok(!raw.includes(word), 'no plaintext marker in IndexedDB or Web Storage once locked');
  assert.ok(!raw.includes('Persona'), 'persona names are encrypted too');
  assert.match(raw, /"ct":"/, 'records are ciphertext');
  const [texts, ciphertexts] = await storedTexts(page);
  assert.ok(ciphertexts >= 2, `the conversation and the persona are ciphertext (${ciphertexts} found)`);
  assert.deepEqual(
    texts.filter((text) => text.includes(word) || text.includes('Persona')),
    [],
    'no record, nor any ciphertext decoded as UTF-8, holds the marker',
  );
  const stored = JSON.parse(raw).indexedDB;
  const lock = Object.values(stored)[0].meta.find((r) => r.id === 'lock');
  assert.ok(lock.kdf.iterations >= 600000, 'PBKDF2 with at least 600,000 iterations');
  assert.ok(lock.kdf.salt.length >= 20, 'a random salt is stored');

  // A reload asks for the passphrase; a wrong one is refused.
  await page.reload();
  await page.waitForSelector('#app[data-state="locked"] #unlock:not([hidden])');
  const hidden = async (when) => {
    assert.equal(await page.locator('.conversation-item').count(), 0, `no conversation is listed ${when}`);
    assert.equal(await page.locator('article.msg').count(), 0, `no message is shown ${when}`);
    assert.ok(!(await page.locator('body').innerText()).includes(word), `the marker is nowhere on the page ${when}`);
  };
  await hidden('before unlocking');
  await page.fill('#unlock-passphrase', 'not the passphrase');
  await page.click('#unlock-submit');
  await page.waitForSelector('#unlock-error:not([hidden])', { timeout: 60_000 });
  assert.equal(await page.locator('#app').getAttribute('data-state'), 'locked', 'a wrong passphrase is refused');
  await hidden('after a wrong passphrase');
  await page.fill('#unlock-passphrase', PASSPHRASE);
  await page.click('#unlock-submit');
  await waitReady(page);
  assert.match(await page.locator('article.msg-user').first().innerText(), new RegExp(word));

  // Change the passphrase, then remove the lock: the records are readable again.
  await openDataPanel(page);
  await page.click('#change-passphrase');
  await submitDialog(page, { current: PASSPHRASE, next: 'another passphrase', again: 'another passphrase' });
  await page.waitForSelector('#dialog[open] #remove-lock', { timeout: 60_000 });
  assert.ok(!(await rawStorage(page)).includes(word));
  await page.click('#remove-lock');
  await submitDialog(page, { current: PASSPHRASE });
  await page.waitForSelector('#dialog-error:not([hidden])', { timeout: 60_000 }); // the old one no longer works
  await submitDialog(page, { current: 'another passphrase' });
  await page.waitForSelector('#dialog[open] #turn-on-lock', { timeout: 60_000 });
  assert.ok((await rawStorage(page)).includes(word), 'removing the lock stores plaintext again');
  await page.reload();
  await waitReady(page);
  await closeClean(context, seen);
});

test('export and import, in the clear and encrypted; delete all local data', async () => {
  const { context, page, seen } = await openPage(browser);
  await signUp(page);
  const word = marker('Exportmark');
  await conversationWith(page, word);

  const plain = await exportFile(page);
  const file = JSON.parse(plain);
  assert.equal(file.encrypted, false);
  assert.equal(file.conversations.length, 1);
  assert.ok(plain.includes(word));

  await wipe(page);
  assert.equal(await page.locator('.conversation-item').count(), 0, 'nothing left after deleting all local data');
  assert.ok(!(await rawStorage(page)).includes(word), 'no trace in storage');

  await importFile(page, plain);
  await page.waitForSelector('#dialog[open]:has-text("Import finished")');
  assert.match(await page.locator('#dialog-body').innerText(), /1 conversation and 1 persona/);
  await page.click('#dialog-cancel');
  assert.equal(await page.locator('.conversation-item').count(), 1);
  assert.match(await page.locator('article.msg-user').first().innerText(), new RegExp(word));

  // Importing the same file again keeps what is here.
  await importFile(page, plain);
  await page.waitForSelector('#dialog[open]:has-text("already here")');
  await page.click('#dialog-cancel');

  // Locked: the export is encrypted with the passphrase.
  await turnOnLock(page, PASSPHRASE);
  const sealed = await exportFile(page);
  assert.ok(!sealed.includes(word), 'an encrypted export holds no plaintext');
  const sealedFile = JSON.parse(sealed);
  assert.equal(sealedFile.encrypted, true);
  assert.ok(sealedFile.kdf.iterations >= 600000 && sealedFile.kdf.salt && sealedFile.iv && sealedFile.ct);

  await wipe(page);
  assert.equal(await page.locator('#unlock').isHidden(), true, 'the lock went with the data');
  await importFile(page, sealed);
  await page.waitForSelector('#dialog[open]:has-text("Encrypted export")');
  await submitDialog(page, { passphrase: 'wrong passphrase' });
  await page.waitForSelector('#dialog-error:not([hidden])', { timeout: 60_000 });
  await submitDialog(page, { passphrase: PASSPHRASE });
  await page.waitForSelector('#dialog[open]:has-text("Import finished")', { timeout: 60_000 });
  await page.click('#dialog-cancel');
  assert.match(await page.locator('article.msg-user').first().innerText(), new RegExp(word));
  await page.click('#open-personas');
  await page.waitForSelector(`#dialog[open] .persona:has-text("${word}")`);
  await page.click('#dialog-cancel');

  // A file that is not an export is refused in plain words.
  await importFile(page, '{"hello": "world"}');
  await page.waitForSelector('#dialog[open]:has-text("not a sotto export")');
  await page.click('#dialog-cancel');

  // Deleting all local data asks first; cancelling keeps everything.
  await openDataPanel(page);
  await page.click('#wipe');
  await page.click('#dialog-cancel');
  assert.equal(await page.locator('.conversation-item').count(), 1);
  await wipe(page);
  const raw = JSON.parse(await rawStorage(page));
  assert.deepEqual(raw.localStorage, {});
  assert.ok(!JSON.stringify(raw).includes(word));
  await closeClean(context, seen);
});
