// Shared steps of the browser tests: a real Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) against the real server that tests/browser.rs starts with the real model.
// Tests assert structure (a reply appeared, grew, finished), never the tiny model's wording.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const BASE = process.env.SOTTO_BASE_URL;
assert.ok(BASE, 'SOTTO_BASE_URL must name the server under test (tests/browser.rs sets it)');
export const SHOTS = process.env.SOTTO_SCREENSHOTS || path.resolve('target/screenshots');
export const PASSWORD = 'correct horse battery';
// The machine is shared and slow at times: generous limits, no performance assertions.
export const REPLY_TIMEOUT = 180_000;

export function launch() {
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
 * A fresh browser context and page that record what they do: every request URL, every
 * JavaScript dialog (dismissed), every uncaught page error.
 */
export async function openPage(browser, options = {}) {
  const context = await browser.newContext({
    acceptDownloads: true,
    viewport: { width: 1280, height: 800 },
    ...options,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const seen = { requests: [], dialogs: [], errors: [], console: [] };
  page.on('request', (request) => seen.requests.push(request.url()));
  page.on('console', (message) => seen.console.push(`${message.type()}: ${message.text()}`));
  page.on('dialog', (dialog) => {
    seen.dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => seen.errors.push(error.message));
  return { context, page, seen };
}

/** Every request stayed on the server's origin (or was inline data). */
export function assertSameOrigin(requests) {
  const origin = new URL(BASE).origin;
  const outside = requests.filter(
    (url) => !(url.startsWith(origin + '/') || url.startsWith('data:') || url.startsWith('blob:' + origin + '/')),
  );
  assert.deepEqual(outside, [], 'requests left the origin');
}

/** Ends a scenario: the page threw nothing, nothing left the origin; closes its context. */
export async function closeClean(context, seen) {
  assert.deepEqual(seen.errors, []);
  assertSameOrigin(seen.requests);
  await context.close();
}

/** Signs up through the form, as a person would, and waits for the chat to be ready. */
export async function signUp(page, email = uniqueEmail()) {
  await page.goto(BASE + '/signup');
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', PASSWORD);
  await Promise.all([page.waitForURL(BASE + '/'), page.click('form[action="/signup"] button[type=submit]')]);
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
export async function setSettings(page, { maxTokens, temperature, system } = {}) {
  if (await page.locator('#settings').isHidden()) await page.click('#toggle-settings');
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

/** The model's counters from GET /health. */
export async function health() {
  const body = await (await fetch(BASE + '/health')).json();
  return body.models[0];
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
