// Browser storage: conversations, personas and preferences in IndexedDB, never on the server.
//
// One database per account (named from a hash of the email, so two people sharing a browser
// profile do not see each other's list). Three object stores keyed by `id`:
// `conversations`, `personas` and `meta` (the lock parameters, and preferences).
// A record is { id, data } in the clear, or { id, iv, ct } while the lock is on: then every
// record but the lock's own parameters is ciphertext, titles and dates included.
//
// When the browser refuses storage (some private windows, site data blocked), open() throws
// and the page calls useMemory(): from then on nothing is read or written, and the page keeps
// what it has in memory, for this tab only.

import * as cipher from './crypto.js';
import { cleanConversation, cleanPersona } from './model.js';

const STORES = ['conversations', 'personas', 'meta'];
const LOCK_ID = 'lock';
const FORMAT = 'sotto-conversations';

let db = null;
let lock = null; // { id: 'lock', kdf: { name, hash, iterations, salt }, check: { iv, ct } }
let key = null; // the AES-GCM key while unlocked (non-extractable, memory only)
let queue = Promise.resolve();
let memory = false; // storage refused: nothing is read or written
// A browser that neither opens nor refuses would leave the page loading forever.
const OPEN_TIMEOUT_MS = 15000;
// Tells this account's other open tabs to reload after the lock changes or data is wiped,
// so none keeps writing with a key (or without one) that no longer applies.
const channel = 'BroadcastChannel' in window ? new BroadcastChannel('sotto-store') : null;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function finished(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
  });
}

/** Runs writes one after another: a re-keying never interleaves with a save. */
function serial(fn) {
  const run = queue.then(fn);
  queue = run.catch(() => {});
  return run;
}

/**
 * One database per user of this origin, named by a digest of the email rather than the
 * email. Pages over plain HTTP at a LAN name have no crypto.subtle (secure contexts only):
 * they use FNV-1a, which is enough to tell users apart, since an origin is one or the other.
 */
async function databaseName(user) {
  const bytes = new TextEncoder().encode(user.toLowerCase());
  let hex;
  if (crypto.subtle) {
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    hex = Array.from(new Uint8Array(digest).slice(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
  } else {
    let hash = 0xcbf29ce484222325n;
    for (const byte of bytes) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
    hex = hash.toString(16).padStart(16, '0');
  }
  return 'sotto-' + hex;
}

/** Opens the database; rejects with the browser's own error when it refuses (it may throw, too). */
function openDatabase(name) {
  return new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined' || !indexedDB) throw new Error('this browser offers no IndexedDB');
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      reject(new Error(`the browser did not open its storage within ${OPEN_TIMEOUT_MS / 1000} seconds`));
    }, OPEN_TIMEOUT_MS);
    const settle = (fn, value) => {
      clearTimeout(timer);
      fn(value);
    };
    try {
      const req = indexedDB.open(name, 1);
      req.onupgradeneeded = () => STORES.forEach((store) => req.result.createObjectStore(store, { keyPath: 'id' }));
      req.onsuccess = () => (late ? req.result.close() : settle(resolve, req.result));
      req.onerror = () => settle(reject, req.error);
      req.onblocked = () => settle(reject, new Error('the database is blocked by another tab'));
    } catch (error) {
      settle(reject, error);
    }
  });
}

async function open(user, onOutdated) {
  const name = await databaseName(user);
  db = await openDatabase(name);
  // Another tab deletes the database ("Delete all local data"): let it, then reload.
  db.onversionchange = () => {
    db.close();
    onOutdated();
  };
  if (channel)
    channel.onmessage = (event) => {
      if (event.data === 'reload') onOutdated();
    };
  lock = (await request(db.transaction('meta').objectStore('meta').get(LOCK_ID))) || null;
}

/** Storage was refused: keep nothing from now on (the page holds everything in memory). */
function useMemory() {
  memory = true;
  if (db) db.close();
  db = null;
  lock = null;
  key = null;
}

const lockEnabled = () => lock !== null;
const unlocked = () => lock === null || key !== null;

async function keyFor(passphrase, kdf) {
  return cipher.deriveKey(passphrase, kdf.salt, kdf.iterations);
}

/** Checks the passphrase and keeps the key; false when it is wrong. */
async function unlock(passphrase) {
  const candidate = await keyFor(passphrase, lock.kdf);
  if (!(await cipher.verify(candidate, lock.check))) return false;
  key = candidate;
  return true;
}

async function checkPassphrase(passphrase) {
  return lock !== null && cipher.verify(await keyFor(passphrase, lock.kdf), lock.check);
}

async function encode(store, id, value, withKey) {
  if (!withKey) return { id, data: value };
  return Object.assign({ id }, await cipher.seal(withKey, value, store + ':' + id));
}

async function decode(store, record) {
  if (record.ct === undefined) return record.data;
  if (!key) throw new Error('locked');
  return cipher.open(key, record, store + ':' + record.id);
}

async function readAll(store) {
  return request(db.transaction(store).objectStore(store).getAll());
}

/**
 * One record's value, cleaned by `clean`; null when it cannot be read: it does not decrypt,
 * is not the right shape, or is not stored under its own id (a moved or damaged record).
 */
async function readRecord(store, record, clean) {
  try {
    const value = clean(await decode(store, record));
    return value && value.id === record.id ? value : null;
  } catch (_) {
    return null;
  }
}

/**
 * Everything, decrypted. A record that cannot be read does not stop the page: it is left
 * out, and listed in `unreadable` ({ store, record } as stored) for the page to report and
 * offer to save or delete.
 */
async function loadAll() {
  const out = { conversations: [], personas: [], prefs: {}, unreadable: [] };
  if (memory) return out;
  const kinds = [
    ['conversations', cleanConversation],
    ['personas', cleanPersona],
  ];
  for (const [store, clean] of kinds) {
    for (const record of await readAll(store)) {
      const value = await readRecord(store, record, clean);
      if (value) out[store].push(value);
      else out.unreadable.push({ store, record });
    }
  }
  const prefs = (await readAll('meta')).find((r) => r.id === 'prefs');
  if (prefs) {
    const value = await decode('meta', prefs).catch(() => null);
    out.prefs = value && typeof value === 'object' && !Array.isArray(value) ? value : {};
  }
  if (out.unreadable.length) console.warn(`sotto: ${out.unreadable.length} stored record(s) could not be read`);
  return out;
}

function put(store, id, value) {
  if (memory) return Promise.resolve();
  return serial(async () => {
    const record = await encode(store, id, value, key);
    const tx = db.transaction(store, 'readwrite');
    tx.objectStore(store).put(record);
    await finished(tx);
  });
}

function remove(store, id) {
  if (memory) return Promise.resolve();
  return serial(async () => {
    const tx = db.transaction(store, 'readwrite');
    tx.objectStore(store).delete(id);
    await finished(tx);
  });
}

/**
 * Re-stores every record under `newKey` (null: in the clear) in ONE transaction, so an
 * interruption leaves either the old state or the new one, never a mix. Encryption is done
 * before the transaction opens, because IndexedDB commits a transaction that waits on
 * anything else.
 */
function rekey(newKey, newLock) {
  if (memory) return Promise.reject(new Error('Nothing is stored in this browser, so there is nothing to lock.'));
  return serial(async () => {
    const encoded = {};
    for (const store of STORES) {
      encoded[store] = [];
      for (const record of await readAll(store)) {
        if (store === 'meta' && record.id === LOCK_ID) continue;
        encoded[store].push(await encode(store, record.id, await decode(store, record), newKey));
      }
    }
    const tx = db.transaction(STORES, 'readwrite');
    for (const store of STORES) {
      const objects = tx.objectStore(store);
      objects.clear();
      encoded[store].forEach((record) => objects.put(record));
    }
    if (newLock) tx.objectStore('meta').put(newLock);
    await finished(tx);
    key = newKey;
    lock = newLock;
    if (channel) channel.postMessage('reload');
  });
}

async function enableLock(passphrase) {
  const kdf = cipher.newKdf();
  const newKey = await keyFor(passphrase, kdf);
  await rekey(newKey, { id: LOCK_ID, kdf, check: await cipher.makeCheck(newKey) });
}

/** New salt and key for a new passphrase; false when the current one is wrong. */
async function changePassphrase(current, next) {
  if (!(await checkPassphrase(current))) return false;
  await enableLock(next);
  return true;
}

async function removeLock(current) {
  if (!(await checkPassphrase(current))) return false;
  await rekey(null, null);
  return true;
}

/** The export file's content: in the clear, or sealed with the lock's key and parameters. */
async function exportData(conversations, personas) {
  const head = { format: FORMAT, version: 1, exportedAt: new Date().toISOString() };
  const payload = { conversations, personas };
  if (!lock) return Object.assign(head, { encrypted: false }, payload);
  const box = await cipher.seal(key, payload, 'export');
  return Object.assign(head, { encrypted: true, kdf: lock.kdf, check: lock.check }, box);
}

/** Parses an export file; throws an Error with a readable message when it is not one. */
function parseExport(text) {
  let file;
  try {
    file = JSON.parse(text);
  } catch (error) {
    throw new Error('This file is not a sotto export (it is not JSON).', { cause: error });
  }
  if (!file || file.format !== FORMAT) throw new Error('This file is not a sotto export.');
  if (file.encrypted && !(file.kdf && typeof file.kdf.salt === 'string' && file.iv && file.ct)) {
    throw new Error('This encrypted export is incomplete.');
  }
  return file;
}

/** The conversations and personas of an encrypted export, or null for a wrong passphrase. */
async function decryptExport(file, passphrase) {
  const fileKey = await keyFor(passphrase, file.kdf);
  try {
    return await cipher.open(fileKey, file, 'export');
  } catch (_) {
    return null;
  }
}

/** Deletes one database; resolves with the browser's error when it refuses, else null. */
function deleteDatabase(name) {
  return new Promise((resolve) => {
    try {
      const req = indexedDB.deleteDatabase(name);
      req.onsuccess = () => resolve(null);
      req.onerror = () => resolve(req.error || new Error('the database could not be deleted'));
      // onblocked: other tabs get `versionchange`, close the database and reload; it then goes on.
    } catch (error) {
      resolve(error);
    }
  });
}

/**
 * Deletes every database, storage area and cache of this origin, for every account. Resolves
 * with the errors of what the browser refused to delete (none: everything is gone).
 */
async function wipeAll() {
  await queue;
  if (db) db.close();
  db = null;
  key = null;
  const failures = [];
  let names = [];
  try {
    names = indexedDB.databases ? (await indexedDB.databases()).map((d) => d.name) : [];
  } catch (error) {
    if (!memory) failures.push(error); // refused storage holds no database to delete
  }
  for (const error of await Promise.all(names.map(deleteDatabase))) if (error) failures.push(error);
  try {
    localStorage.clear();
    sessionStorage.clear();
  } catch (_) {
    /* Web Storage disabled: it holds nothing of ours either */
  }
  try {
    if (window.caches) for (const name of await caches.keys()) await caches.delete(name);
  } catch (error) {
    failures.push(error);
  }
  if (channel) channel.postMessage('reload');
  return failures;
}

const saveConversation = (c) => put('conversations', c.id, c);
const deleteConversation = (id) => remove('conversations', id);
const savePersona = (p) => put('personas', p.id, p);
const deletePersona = (id) => remove('personas', id);
const deleteUnreadable = ({ store, record }) => remove(store, record.id);
const savePrefs = (prefs) => put('meta', 'prefs', prefs);
const forgetKey = () => {
  key = null;
};

export {
  open,
  useMemory,
  lockEnabled,
  unlocked,
  unlock,
  loadAll,
  saveConversation,
  deleteConversation,
  savePersona,
  deletePersona,
  deleteUnreadable,
  savePrefs,
  enableLock,
  changePassphrase,
  removeLock,
  forgetKey,
  exportData,
  parseExport,
  decryptExport,
  wipeAll,
};
