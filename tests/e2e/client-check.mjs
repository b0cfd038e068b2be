// What every Node client script (the *-check.mjs files) shares, as tests/sdk/clientcheck.py is
// for the Python ones: the server it is pointed at, and its checks. tests/agent_clients.rs runs
// each script with SOTTO_BASE_URL (ending in /v1), SOTTO_API_KEY and SOTTO_MODEL set. A script
// stops at its first failed check with a non-zero exit and the check's name on stderr; when all
// pass it prints "N passed, 0 failed" (the line the Rust harness looks for).

/** The server's base URL, API key and model, or exit 2 naming what is not set. */
export function server() {
  const missing = ['SOTTO_BASE_URL', 'SOTTO_API_KEY', 'SOTTO_MODEL'].filter((name) => !process.env[name]);
  if (missing.length > 0) {
    console.error(`set ${missing.join(', ')} (tests/agent_clients.rs does)`);
    process.exit(2);
  }
  return {
    baseURL: process.env.SOTTO_BASE_URL,
    apiKey: process.env.SOTTO_API_KEY,
    model: process.env.SOTTO_MODEL,
  };
}

let passed = 0;

/** Exits 1 naming `what` unless `condition` holds. */
export function check(condition, what) {
  if (!condition) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
  passed += 1;
}

/** Prints the line the Rust harness reads. */
export function report() {
  console.log(`${passed} passed, 0 failed`);
}
