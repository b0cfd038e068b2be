// The server, seen from the page: the model list and streamed chat completions.
//
// POST /ui/chat/completions speaks OpenAI's chat completions and is authorised by the session
// cookie (sent by the browser, same origin) plus the page's anti-CSRF token in X-CSRF-Token.
// Replies stream as server-sent events, parsed here from the fetch body (EventSource cannot
// POST). Aborting the fetch closes the connection, and the server then stops the generation.
// Every failure becomes a ChatError whose `kind` the conversation view turns into plain words.

class ChatError extends Error {
  /** kind: loading | busy | context | invalid | session | csrf | model | server | network | aborted */
  constructor(kind, message, extra) {
    super(message || kind);
    this.kind = kind;
    Object.assign(this, { status: 0, code: null, retryAfter: null }, extra || {});
  }
}

function csrfToken() {
  const meta = document.querySelector('meta[name="sotto-csrf"]');
  return meta ? meta.content : '';
}

async function getJson(url) {
  const response = await fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' } });
  if (!response.ok) throw new ChatError('server', `HTTP ${response.status}`, { status: response.status });
  return response.json();
}

/** The model ids the server offers (GET /v1/models is public). */
async function listModels() {
  const list = await getJson('/v1/models');
  return (list.data || []).map((m) => m.id).filter((id) => typeof id === 'string');
}

/** One model's details: context_length, chat_template, loaded. */
function modelInfo(id) {
  return getJson('/v1/models/' + encodeURIComponent(id));
}

/** The kind of an OpenAI-shaped error, by status first and `code` second. */
function kindOf(status, code) {
  if (status === 401) return 'session';
  if (status === 403) return code === 'csrf_token_invalid' ? 'csrf' : 'session';
  if (status === 404 && code === 'model_not_found') return 'model';
  if (status === 429) return 'busy';
  if (status === 503) return code === 'model_loading' ? 'loading' : 'busy';
  if (code === 'context_length_exceeded') return 'context';
  if (status >= 400 && status < 500) return 'invalid';
  return 'server';
}

function errorFrom(status, body, retryAfterHeader) {
  const error = (body && body.error) || {};
  const code = typeof error.code === 'string' ? error.code : null;
  const seconds = Number.parseInt(retryAfterHeader || '', 10);
  return new ChatError(kindOf(status, code), typeof error.message === 'string' ? error.message : `HTTP ${status}`, {
    status,
    code,
    param: error.param || null,
    retryAfter: Number.isFinite(seconds) ? seconds : null,
  });
}

async function errorFromResponse(response) {
  const body = await response.json().catch(() => null);
  return errorFrom(response.status, body, response.headers.get('retry-after'));
}

/**
 * Yields the `data:` payload of each server-sent event as it completes. Events end with a
 * blank line; a payload may span several `data:` lines.
 */
async function* events(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal.aborted) throw new ChatError('aborted');
        throw new ChatError('network', 'The connection broke while the answer was streaming.');
      }
      if (chunk.done) return;
      buffer += chunk.value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).replace(/^ /, ''));
        if (data.length) yield data.join('\n');
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

const str = (value) => (typeof value === 'string' ? value : '');

/** The pieces of tool calls in one delta, by index: { index, id, name, arguments } (text). */
function callPieces(calls) {
  if (!Array.isArray(calls)) return [];
  return calls
    .filter((c) => c && Number.isInteger(c.index) && c.index >= 0 && c.index < 64)
    .map((c) => ({
      index: c.index,
      id: str(c.id),
      name: str(c.function && c.function.name),
      arguments: str(c.function && c.function.arguments),
    }));
}

/** What one streamed delta adds: { content, reasoning, calls }, or null when nothing. */
function deltaOf(delta) {
  if (!delta || typeof delta !== 'object') return null;
  const piece = {
    content: str(delta.content),
    reasoning: str(delta.reasoning_content),
    calls: callPieces(delta.tool_calls),
  };
  return piece.content || piece.reasoning || piece.calls.length ? piece : null;
}

/**
 * Streams a chat completion. `onDelta({ content, reasoning, calls })` gets what each event
 * adds as it arrives: answer text, thinking text (`reasoning_content`), and pieces of tool
 * calls ({ index, id, name, arguments }: the name comes once, the arguments in fragments).
 * Resolves to { finish: 'stop'|'length'|'tool_calls', usage } or rejects with a ChatError.
 */
async function streamChat(body, { signal, onDelta }) {
  let response;
  try {
    response = await fetch('/ui/chat/completions', {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-csrf-token': csrfToken() },
      body: JSON.stringify(Object.assign({}, body, { stream: true, stream_options: { include_usage: true } })),
      signal,
    });
  } catch (error) {
    if (signal.aborted) throw new ChatError('aborted');
    throw new ChatError('network', 'The server could not be reached.');
  }
  if (!response.ok) throw await errorFromResponse(response);
  if (!(response.headers.get('content-type') || '').startsWith('text/event-stream')) {
    // Something between us and the server answered instead (a login page, a proxy).
    throw new ChatError('server', 'The server sent something other than a reply stream.', { status: response.status });
  }
  let finish = null;
  let usage = null;
  for await (const data of events(response.body, signal)) {
    if (data === '[DONE]') return { finish: finish || 'stop', usage };
    let chunk;
    try {
      chunk = JSON.parse(data);
    } catch (_) {
      continue;
    }
    if (chunk.error) throw errorFrom(chunk.error.code === 'context_length_exceeded' ? 400 : 500, chunk, null);
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices && chunk.choices[0];
    if (!choice) continue;
    const piece = deltaOf(choice.delta);
    if (piece) onDelta(piece);
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  if (signal.aborted) throw new ChatError('aborted');
  if (finish) return { finish, usage };
  throw new ChatError('network', 'The connection closed before the answer was complete.');
}

export { ChatError, listModels, modelInfo, streamChat };
