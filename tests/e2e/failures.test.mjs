// Failures outside the chat itself are shown on the page, in plain words, with the way out:
// a browser that refuses storage (a private window), storage that fails to write (full) or to
// delete, and a model list that does not load. The chat goes on in each case. The browser's
// storage is made to fail by init scripts that replace IndexedDB's methods before the page runs.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import {
  closeClean,
  lastAssistant,
  launch,
  marker,
  openDataPanel,
  openPage,
  rawStorage,
  screenshotPath,
  send,
  setSettings,
  signUp,
  waitReady,
  waitReply,
} from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const notice = (page, id) => page.locator(`#notices [data-notice="${id}"]`);

/** Sends a message and checks that the model's reply arrived and is on the page. */
async function chatWorks(page, word) {
  await send(page, `${word} is my marker. Reply briefly.`);
  assert.match(await waitReply(page), /^(stop|length)$/);
  assert.ok((await lastAssistant(page).locator('.msg-body').innerText()).trim().length > 0, 'the model answered');
  assert.match(await page.locator('article.msg-user').last().innerText(), new RegExp(word));
}

test('a browser that refuses storage: the page says so, and the chat works in this tab', async () => {
  const { context, page, seen } = await openPage(browser);
  // As in a private window that refuses storage: opening a database throws.
  await page.addInitScript(() => {
    IDBFactory.prototype.open = function () {
      throw new DOMException('The user denied permission to access the database.', 'SecurityError');
    };
  });
  await signUp(page);
  const refused = notice(page, 'storage-refused');
  assert.ok(await refused.isVisible(), 'the page says so, not only the console');
  const text = await refused.innerText();
  assert.match(text, /This browser refuses to store data for this site/);
  assert.match(text, /kept in this tab only and are gone when it closes/);
  assert.match(text, /allow site data for this site or use a normal window/, 'and what to do about it');
  assert.match(await page.locator('#composer-hint').innerText(), /kept in this tab only/);

  await setSettings(page, { maxTokens: 16 });
  const word = marker('Memory');
  await chatWorks(page, word);
  assert.equal(await page.locator('.conversation-item').count(), 1, 'the conversation is listed');
  await page.click('#new-chat');
  await page.locator('.conversation-open').first().click();
  assert.match(await page.locator('article.msg-user').first().innerText(), new RegExp(word), 'and opens again');
  await page.screenshot({ path: screenshotPath('failure-storage-refused.png') });

  // The way out the notice offers: a copy of the conversations as a file.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    refused.getByRole('button', { name: 'Export a copy' }).click(),
  ]);
  const file = JSON.parse(await readFile(await download.path(), 'utf8'));
  assert.equal(file.conversations.length, 1);
  assert.ok(file.conversations[0].messages[0].content.includes(word));

  // No lock is offered: nothing is stored to encrypt, and the panel says why.
  await openDataPanel(page);
  assert.ok(await page.locator('#turn-on-lock').isDisabled());
  assert.match(await page.locator('#dialog-body').innerText(), /refuses to store data for this site/);
  await page.click('#dialog-cancel');

  // As the notice said, nothing outlives the page; the notice is back after a reload.
  await page.reload();
  await waitReady(page);
  assert.equal(await page.locator('.conversation-item').count(), 0);
  assert.ok(await refused.isVisible());
  await closeClean(context, seen);
});

test('a browser whose storage fails to open later (an error event, not a throw) is reported the same way', async () => {
  const { context, page, seen } = await openPage(browser);
  // Firefox's old private windows: the request fails with InvalidStateError.
  await page.addInitScript(() => {
    IDBFactory.prototype.open = function () {
      const request = { error: new DOMException('A mutation operation was attempted.', 'InvalidStateError') };
      setTimeout(() => request.onerror?.(new Event('error')));
      return request;
    };
  });
  await signUp(page);
  assert.match(await notice(page, 'storage-refused').innerText(), /refuses to store data[\s\S]*InvalidStateError/);
  await setSettings(page, { maxTokens: 16 });
  await chatWorks(page, marker('Later'));
  await closeClean(context, seen);
});

test('storage that fails to write (full) or to delete: told, kept in the tab, and Try again works', async () => {
  const { context, page, seen } = await openPage(browser);
  // While window.__storageFault names an error, IndexedDB refuses writes and deletes with it.
  await page.addInitScript(() => {
    for (const method of ['put', 'delete']) {
      const original = IDBObjectStore.prototype[method];
      IDBObjectStore.prototype[method] = function (...args) {
        if (window.__storageFault) throw new DOMException('The storage refused.', window.__storageFault);
        return original.apply(this, args);
      };
    }
  });
  const fault = (name) => page.evaluate((value) => (window.__storageFault = value), name);
  await signUp(page);
  await setSettings(page, { maxTokens: 16 });

  await fault('QuotaExceededError');
  const word = marker('Full');
  await chatWorks(page, word);
  const notSaved = notice(page, 'not-saved');
  assert.ok(await notSaved.isVisible());
  assert.match(await notSaved.innerText(), /Not saved: this browser’s storage for this site is full/);
  assert.match(await notSaved.innerText(), /kept in this tab until it closes. Free space by deleting conversations/);
  assert.ok(!(await rawStorage(page)).includes(word), 'nothing of it was stored');
  await page.screenshot({ path: screenshotPath('failure-storage-full.png') });

  // Space is back: Try again stores the latest version, and the notice goes.
  await fault('');
  await notSaved.getByRole('button', { name: 'Try again' }).click();
  await notSaved.waitFor({ state: 'detached' });
  assert.ok((await rawStorage(page)).includes(word), 'stored now');

  // A delete the browser refuses: told, and the conversation stays, listed and stored.
  await fault('UnknownError');
  await page.locator('.conversation-delete').first().click();
  await page.click('#dialog-ok');
  const notDeleted = notice(page, 'not-deleted');
  await notDeleted.waitFor();
  assert.match(await notDeleted.innerText(), /Not deleted: “[^”]+”[\s\S]*refused to delete it \(UnknownError/);
  assert.equal(await page.locator('.conversation-item').count(), 1, 'still listed');
  await fault('');
  await notDeleted.getByRole('button', { name: 'Try again' }).click();
  await notDeleted.waitFor({ state: 'detached' });
  assert.equal(await page.locator('.conversation-item').count(), 0);
  assert.ok(!(await rawStorage(page)).includes(word), 'deleted from storage too');
  await closeClean(context, seen);
});

test('a model list that does not load is reported, and Try again loads it', async () => {
  const { context, page, seen } = await openPage(browser);
  // Mocked: the real model list never fails (it reads the models directory), and Chromium
  // logs the refused request as a console error, which this scenario expects.
  seen.allowConsole.push(/Failed to load resource: the server responded with a status of 500/);
  await page.route('**/v1/models', (route) =>
    route.fulfill({
      status: 500,
      contentType: 'application/json',
      body: JSON.stringify({ error: { message: 'Internal error.', type: 'server_error', param: null, code: null } }),
    }),
  );
  await signUp(page);
  const failed = notice(page, 'models-failed');
  await failed.waitFor();
  assert.match(await failed.innerText(), /list of models could not be loaded[\s\S]*HTTP 500[\s\S]*default model/);
  assert.equal(await page.locator('#setting-model option').count(), 1, 'only "Server default" to choose');

  await page.unroute('**/v1/models');
  await failed.getByRole('button', { name: 'Try again' }).click();
  await failed.waitFor({ state: 'detached' });
  assert.ok((await page.locator('#setting-model option').count()) >= 2, 'the models are listed');
  await closeClean(context, seen);
});
