// The Vercel AI SDK (`ai` with `@ai-sdk/openai-compatible`), pointed at sotto's /v1/embeddings:
// `embed` for one value and `embedMany` for several, their vectors compared with the SDK's own
// `cosineSimilarity`.
//
// Run by tests/agent_clients.rs as `node tests/e2e/ai-sdk-embed-check.mjs` with SOTTO_BASE_URL
// (ending in /v1), SOTTO_API_KEY and SOTTO_MODEL set. Exits non-zero at the first failed check,
// naming it; prints "N passed, 0 failed" when all pass (see client-check.mjs).
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { cosineSimilarity, embed, embedMany } from 'ai';
import { check, report, server } from './client-check.mjs';

const { baseURL, apiKey, model: modelId } = server();
const provider = createOpenAICompatible({ name: 'sotto', baseURL, apiKey });
const model = provider.embeddingModel(modelId);

const norm = (vector) => Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));

const query = await embed({ model, value: 'How can I change my password?', maxRetries: 0 });
check(Array.isArray(query.embedding) && query.embedding.length > 0, 'embed: a vector');
check(Math.abs(norm(query.embedding) - 1) < 1e-3, 'embed: unit length');
check(query.usage?.tokens > 0, `embed: usage counts tokens (${query.usage?.tokens})`);

const documents = ['How do I reset my password?', 'The recipe needs two cups of flour.'];
const many = await embedMany({ model, values: documents, maxRetries: 0 });
check(many.embeddings.length === 2, 'embedMany: one vector per value');
check(
  many.embeddings.every((vector) => vector.length === query.embedding.length),
  'embedMany: vectors of one length',
);
const [close, far] = many.embeddings.map((vector) => cosineSimilarity(query.embedding, vector));
check(close > far, `embedMany: the paraphrase is closer (${close} vs ${far})`);

report();
