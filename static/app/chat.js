// Asking the model: send, the reply streaming in, Stop, Regenerate and Retry, edit and resend.
//
// One reply streams at a time; its AbortController is the Stop button (and Esc). Its text grows
// in state.generation, repainted at most every PAINT_MS (only the streaming message's node is
// redrawn: messages.js keeps the others), and goes into its conversation when the reply ends.
// What has arrived is saved every SAVE_MS meanwhile, in case the tab is closed mid-reply.

import * as api from './api.js';
import { persist, putConversation } from './actions.js';
import { emptyReply, growReply, newMessage, replyIsEmpty, requestBody, titleFrom, withReply } from './model.js';
import { currentConversation, effectiveModel, getState, setState, withEntry, withoutEntry } from './state.js';

const PAINT_MS = 50;
const SAVE_MS = 3000;

/** Sends a message from the open conversation; false when nothing was sent. */
export function send(text) {
  const s = getState();
  if (s.generation || !text.trim()) return false;
  const conv = currentConversation(s);
  if (s.draft && s.draft.id === conv.id) setState({ draft: null }); // stored from now on
  putConversation({
    ...conv,
    title: conv.title || titleFrom(text),
    messages: [...conv.messages, newMessage('user', text)],
  });
  generate(conv.id);
  return true;
}

/** Regenerate and Retry: drop the last answer (if any) and ask again. */
export function again(onlyFailed) {
  const s = getState();
  const conv = currentConversation(s);
  if (s.generation || !s.conversations.has(conv.id)) return;
  const last = conv.messages[conv.messages.length - 1];
  if (last && last.role === 'assistant' && (!onlyFailed || last.finish === 'error')) {
    setState({ conversations: withEntry(s.conversations, conv.id, { ...conv, messages: conv.messages.slice(0, -1) }) });
  }
  generate(conv.id);
}

export function startEdit(id) {
  if (!getState().generation) setState({ editing: id });
}

export function cancelEdit() {
  setState({ editing: '' });
}

/** Replaces a message of the open conversation, drops everything after it, and asks again. */
export function editAndResend(id, text) {
  const s = getState();
  const conv = currentConversation(s);
  const index = conv.messages.findIndex((m) => m.id === id);
  if (s.generation || index < 0 || !s.conversations.has(conv.id)) return;
  const messages = conv.messages.slice(0, index + 1);
  messages[index] = { ...messages[index], content: text };
  putConversation({ ...conv, messages });
  generate(conv.id);
}

export function stop() {
  const gen = getState().generation;
  if (gen) gen.controller.abort();
}

async function generate(convId) {
  const s = getState();
  const conv = s.conversations.get(convId);
  if (s.generation || !conv) return;
  const body = requestBody(conv, s.personas);
  const message = newMessage('assistant', '', { model: effectiveModel(conv, s) });
  const controller = new AbortController();
  setState({
    conversations: withEntry(s.conversations, convId, { ...conv, messages: [...conv.messages, message] }),
    generation: { convId, messageId: message.id, reply: emptyReply(), controller },
    chatErrors: withoutEntry(s.chatErrors, convId),
    editing: '',
  });

  let reply = emptyReply();
  let timer = 0;
  let savedAt = Date.now();
  const paint = () => {
    timer = 0;
    setState((st) => ({ generation: { ...st.generation, reply } }));
  };
  let finish;
  let failure = null;
  try {
    const result = await api.streamChat(body, {
      signal: controller.signal,
      onDelta(piece) {
        reply = growReply(reply, piece);
        if (!timer) timer = setTimeout(paint, PAINT_MS);
        if (Date.now() - savedAt > SAVE_MS) {
          savedAt = Date.now();
          persist('conversations', convId);
        }
      },
    });
    finish = result.finish;
  } catch (error) {
    finish = error.kind === 'aborted' ? 'stopped' : 'error';
    if (error.kind !== 'aborted') failure = error;
  }
  clearTimeout(timer);
  endReply(convId, message.id, reply, finish, failure);
}

/** The reply goes into its conversation (an empty one is dropped), unless it was deleted meanwhile. */
function endReply(convId, messageId, reply, finish, failure) {
  const conv = getState().conversations.get(convId);
  if (!conv) {
    setState({ generation: null });
    return;
  }
  const messages = replyIsEmpty(reply)
    ? conv.messages.filter((m) => m.id !== messageId)
    : conv.messages.map((m) => (m.id === messageId ? { ...withReply(m, reply), finish } : m));
  setState((st) => ({
    generation: null,
    chatErrors: failure ? withEntry(st.chatErrors, convId, failure) : st.chatErrors,
  }));
  putConversation({ ...conv, messages });
}
