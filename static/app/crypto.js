// Encryption of what the chat keeps in this browser, with WebCrypto only.
//
// A passphrase becomes an AES-GCM-256 key through PBKDF2-SHA-256 with a random 16-byte salt and
// 600,000 iterations (OWASP's 2023 figure for PBKDF2-HMAC-SHA256). The key is created
// non-extractable: script can use it but never read it, and it lives in memory only.
// Each record gets a fresh 96-bit IV, and its store and id are bound in as additional data, so
// a ciphertext moved onto another record fails to decrypt instead of showing up there.

const ITERATIONS = 600000;
// Accepted from an imported file: enough to stop a crafted file from asking for a weak key or
// from freezing the tab with billions of rounds.
const MIN_ITERATIONS = 100000;
const MAX_ITERATIONS = 10000000;
const CHECK_TEXT = 'sotto-lock-v1';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function toBase64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function randomBytes(n) {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** PBKDF2 → AES-GCM key. `salt` is base64. Slow on purpose (about a second). */
async function deriveKey(passphrase, salt, iterations) {
  if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw new Error('unsupported key derivation settings');
  }
  const material = await crypto.subtle.importKey('raw', encoder.encode(passphrase), 'PBKDF2', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt: fromBase64(salt), iterations },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/** A new lock's parameters: a random salt and the iteration count. */
function newKdf() {
  return { name: 'PBKDF2', hash: 'SHA-256', iterations: ITERATIONS, salt: toBase64(randomBytes(16)) };
}

/** Encrypts a JSON value; `context` (store and id) is authenticated, not stored. */
async function seal(key, value, context) {
  const iv = randomBytes(12);
  const data = encoder.encode(JSON.stringify(value));
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: encoder.encode(context) }, key, data);
  return { iv: toBase64(iv), ct: toBase64(new Uint8Array(ct)) };
}

/** Decrypts what seal() made; throws when the key or the context is wrong. */
async function open(key, box, context) {
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: fromBase64(box.iv), additionalData: encoder.encode(context) },
    key,
    fromBase64(box.ct),
  );
  return JSON.parse(decoder.decode(plain));
}

/** A known value sealed with the key: lets a passphrase be checked before anything else. */
function makeCheck(key) {
  return seal(key, CHECK_TEXT, 'check');
}

async function verify(key, check) {
  try {
    return (await open(key, check, 'check')) === CHECK_TEXT;
  } catch (_) {
    return false;
  }
}

export { deriveKey, newKdf, seal, open, makeCheck, verify, ITERATIONS };
