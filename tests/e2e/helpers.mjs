// Shared steps of the browser tests: a real Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) against the real server that tests/browser.rs starts with the real model.
// Tests assert structure (a reply appeared, grew, finished), never the tiny model's wording.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach } from 'node:test';
import { chromium } from 'playwright-core';

export const BASE = process.env.SOTTO_BASE_URL;
assert.ok(BASE, 'SOTTO_BASE_URL must name the server under test (tests/browser.rs sets it)');
// A second server, allowing one request at a time per caller, whose spare models (copies of
// the default one under other names) load on their first chat.
export const LIMITS = process.env.SOTTO_LIMITS_URL;
assert.ok(LIMITS, 'SOTTO_LIMITS_URL must name the second server (tests/browser.rs sets it)');
// A third server whose chat template makes the default model think first (reasoning_content).
export const THINKING = process.env.SOTTO_THINKING_URL;
assert.ok(THINKING, 'SOTTO_THINKING_URL must name the third server (tests/browser.rs sets it)');
export const [LOADING_MODEL, SECOND_MODEL] = (process.env.SOTTO_SPARE_MODELS || '').split(',');
export const SHOTS = process.env.SOTTO_SCREENSHOTS || path.resolve('target/screenshots');
export const PASSWORD = 'correct horse battery';
// The machine is shared and slow at times: generous limits, no performance assertions.
export const REPLY_TIMEOUT = 180_000;

/** Debian's Chromium, headless; `extraArgs` for a scenario's own flags (a host resolver rule). */
export function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.SOTTO_CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
}

let counter = 0;
export function uniqueEmail() {
  counter += 1;
  return `e2e-${process.pid}-${Date.now()}-${counter}@example.com`;
}

export function marker(name) {
  return `${name}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`.toUpperCase();
}

/**
 * A fresh browser context and page that record what they do (on every page of the context):
 * every request URL, every JavaScript dialog (dismissed), every uncaught page error, every
 * console message. `seen.allowConsole` takes patterns of console errors the scenario expects
 * (a failed request is logged as one); any other console error, and any page error, fails the
 * scenario when it ends (see afterEach below), whether or not it calls closeClean.
 */
export async function openPage(browser, options = {}) {
  const context = await browser.newContext({
    acceptDownloads: true,
    viewport: { width: 1280, height: 800 },
    ...options,
  });
  const seen = { requests: [], dialogs: [], errors: [], console: [], allowConsole: [] };
  context.on('page', (page) => {
    page.on('request', (request) => seen.requests.push(request.url()));
    page.on('console', (message) => seen.console.push(`${message.type()}: ${message.text()}`));
    page.on('dialog', (dialog) => {
      seen.dialogs.push(dialog.message());
      dialog.dismiss().catch(() => {});
    });
    page.on('pageerror', (error) => seen.errors.push(error.message));
  });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  opened.push({ context, seen });
  return { context, page, seen };
}

/** The contexts the running scenario opened; each is checked, and closed, when it ends. */
const opened = [];

/** Nothing threw in the page, and the console shows no error the scenario did not expect. */
export function assertNoPageErrors(seen) {
  assert.deepEqual(seen.errors, [], 'uncaught errors in the page');
  const unexpected = seen.console.filter(
    (line) => line.startsWith('error: ') && !seen.allowConsole.some((pattern) => pattern.test(line)),
  );
  assert.deepEqual(unexpected, [], 'console errors in the page');
}

afterEach(async () => {
  const contexts = opened.splice(0);
  for (const { context } of contexts) await context.close().catch(() => {});
  for (const { seen } of contexts) assertNoPageErrors(seen);
});

/** Every request stayed on the server's origin (or was inline data). */
export function assertSameOrigin(requests, base = BASE) {
  const origin = new URL(base).origin;
  const outside = requests.filter(
    (url) => !(url.startsWith(origin + '/') || url.startsWith('data:') || url.startsWith('blob:' + origin + '/')),
  );
  assert.deepEqual(outside, [], 'requests left the origin');
}

/** Ends a scenario: the page threw nothing, nothing left the origin; closes its context. */
export async function closeClean(context, seen, base = BASE) {
  assertNoPageErrors(seen);
  assertSameOrigin(seen.requests, base);
  await context.close();
}

/** Signs up through the form, as a person would, and waits for the chat to be ready. */
export async function signUp(page, email = uniqueEmail(), base = BASE) {
  await page.goto(base + '/signup');
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', PASSWORD);
  await Promise.all([page.waitForURL(base + '/'), page.click('form[action="/signup"] button[type=submit]')]);
  await waitReady(page);
  return email;
}

export async function logIn(page, email) {
  await page.goto(BASE + '/login');
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', PASSWORD);
  await Promise.all([page.waitForURL(BASE + '/'), page.click('form[action="/login"] button[type=submit]')]);
  await waitReady(page);
}

export async function waitReady(page) {
  await page.waitForSelector('#app[data-state="ready"]');
}

/** Sets the open conversation's settings through the settings panel. */
export async function setSettings(page, { model, maxTokens, temperature, system } = {}) {
  if (await page.locator('#settings').isHidden()) await page.click('#toggle-settings');
  if (model !== undefined) await page.selectOption('#setting-model', model);
  if (maxTokens !== undefined) await page.fill('#setting-max-tokens', String(maxTokens));
  if (temperature !== undefined) await page.fill('#setting-temperature', String(temperature));
  if (system !== undefined) await page.fill('#setting-system', system);
  await page.keyboard.press('Tab'); // a change event applies it at once (typing is debounced)
  await page.click('#toggle-settings');
}

/** Types a message and sends it with Enter. */
export async function send(page, text) {
  await page.fill('#prompt', text);
  await page.press('#prompt', 'Enter');
}

export const lastAssistant = (page) => page.locator('article.msg-assistant').last();

/** Waits until the last reply has finished by itself (stop or length); returns its state. */
export async function waitReply(page) {
  await page.waitForFunction(
    () => {
      const all = document.querySelectorAll('article.msg-assistant');
      const last = all[all.length - 1];
      return last && ['stop', 'length'].includes(last.dataset.state) && document.querySelector('#stop').hidden;
    },
    null,
    { timeout: REPLY_TIMEOUT },
  );
  return lastAssistant(page).getAttribute('data-state');
}

/** The model's counters from GET /health (of the first model, or of the one named). */
export async function health(base = BASE, id = null) {
  const body = await (await fetch(base + '/health')).json();
  return id ? body.models.find((model) => model.id === id) : body.models[0];
}

export async function waitFor(check, what, timeout = 60_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every record of every IndexedDB database of the page's origin, as raw JSON text. */
export function rawStorage(page) {
  return page.evaluate(async () => {
    const request = (r) =>
      new Promise((resolve, reject) => {
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
    const out = { indexedDB: {}, localStorage: { ...localStorage }, sessionStorage: { ...sessionStorage } };
    for (const { name } of await indexedDB.databases()) {
      const db = await request(indexedDB.open(name));
      out.indexedDB[name] = {};
      for (const store of db.objectStoreNames) {
        out.indexedDB[name][store] = await request(db.transaction(store).objectStore(store).getAll());
      }
      db.close();
    }
    return JSON.stringify(out);
  });
}

/** On a phone the sidebar is a drawer: opens it when it is shut. */
export async function openDrawerIfShut(page) {
  const shut = await page.locator('#sidebar').evaluate((el) => el.getBoundingClientRect().right <= 0);
  if (!shut) return;
  await page.click('#toggle-sidebar');
  await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().left >= 0);
}

/** Opens the "Lock & data" panel. */
export async function openDataPanel(page) {
  await openDrawerIfShut(page);
  await page.click('#open-data');
  await page.waitForSelector('#dialog[open] .panel');
}

/** Fills the open dialog's fields by name and presses its OK button. */
export async function submitDialog(page, values) {
  for (const [name, value] of Object.entries(values)) await page.fill(`#dialog [name="${name}"]`, value);
  await page.click('#dialog-ok');
}

export async function turnOnLock(page, passphrase) {
  await openDataPanel(page);
  await page.click('#turn-on-lock');
  await submitDialog(page, { next: passphrase, again: passphrase });
  await page.waitForSelector('#dialog[open] #lock-now', { timeout: 60_000 });
  await page.click('#dialog-cancel');
}

export function screenshotPath(name) {
  mkdirSync(SHOTS, { recursive: true });
  return path.join(SHOTS, name);
}

/** Imports conversations (and personas) through the UI, as an export file would bring them. */
export async function importConversations(page, conversations, personas = []) {
  const file = { format: 'sotto-conversations', version: 1, encrypted: false, conversations, personas };
  await openDataPanel(page);
  await page.setInputFiles('#import-file', {
    name: 'crafted.json',
    mimeType: 'application/json',
    buffer: Buffer.from(JSON.stringify(file)),
  });
  await page.waitForSelector('#dialog[open]:has-text("Import finished")');
  await page.click('#dialog-cancel');
}

/** A conversation in the export format. */
export function conversation(id, title, turns, settings = {}) {
  const now = Date.now();
  return {
    id,
    title,
    createdAt: now,
    updatedAt: now,
    settings,
    messages: turns.map(([role, content], i) => ({
      id: `${id}-${i}`,
      role,
      content,
      createdAt: now + i,
      finish: role === 'assistant' ? 'stop' : undefined,
    })),
  };
}
