// The official OpenAI Node SDK (`openai` from npm), pointed at sotto with baseURL: one forced tool
// call and one json_schema reply, both validated against their schemas.
//
// Run by tests/agent_clients.rs as `node tests/e2e/openai-sdk-check.mjs` with SOTTO_BASE_URL (ending
// in /v1), SOTTO_API_KEY and SOTTO_MODEL set. Not a browser test (its name does not end in
// .test.mjs): it lives here to share the lock file, ESLint and Prettier. Exits non-zero at the first
// failed check, naming it; prints "N passed, 0 failed" when all pass.
import OpenAI from 'openai';
import { check, report, server } from './client-check.mjs';

const { baseURL, apiKey, model } = server();
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
// A 135M model answers poorly: check structure (types, names, bounds), never wording.
const common = { model, temperature: 0, seed: 7, max_tokens: 200 };

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (error) {
    check(false, `${what}: parses as JSON (${error.message})`);
  }
}

const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);
const onlyKeys = (value, keys) => Object.keys(value).every((key) => keys.includes(key));

// A forced call to a named function, its arguments checked against its parameters schema.
const weather = {
  type: 'object',
  properties: {
    city: { type: 'string', maxLength: 40 },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer', minimum: 1, maximum: 7 },
  },
  required: ['city', 'unit', 'days'],
  additionalProperties: false,
};
const called = await client.chat.completions.create({
  ...common,
  messages: [{ role: 'user', content: 'What is the weather in Paris for 3 days, in celsius?' }],
  tools: [{ type: 'function', function: { name: 'get_weather', description: 'Forecast.', parameters: weather } }],
  tool_choice: { type: 'function', function: { name: 'get_weather' } },
});
const choice = called.choices[0];
const calls = choice.message.tool_calls ?? [];
check(calls.length >= 1, 'tool call: message.tool_calls is not empty');
check(choice.finish_reason === 'tool_calls', `tool call: finish_reason tool_calls (${choice.finish_reason})`);
for (const call of calls) {
  check(typeof call.id === 'string' && call.id.startsWith('call_'), 'tool call: id starts with call_');
  check(call.type === 'function' && call.function.name === 'get_weather', 'tool call: get_weather is called');
  const args = parseJson(call.function.arguments, 'tool call arguments');
  check(isObject(args) && onlyKeys(args, ['city', 'unit', 'days']), 'tool call: arguments have no extra keys');
  check(typeof args.city === 'string' && args.city.length <= 40, 'tool call: city is a string of <= 40');
  check(['celsius', 'fahrenheit'].includes(args.unit), 'tool call: unit is one of the enum');
  check(Number.isInteger(args.days) && args.days >= 1 && args.days <= 7, 'tool call: days is an integer in 1..7');
}

// A json_schema reply (strict), checked against the schema.
const city = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 40 },
    population_millions: { type: 'integer', minimum: 0, maximum: 100 },
    landmarks: { type: 'array', items: { type: 'string', maxLength: 40 }, maxItems: 3 },
  },
  required: ['name', 'population_millions', 'landmarks'],
  additionalProperties: false,
};
const described = await client.chat.completions.create({
  ...common,
  messages: [{ role: 'user', content: 'Describe Paris as a city record.' }],
  response_format: { type: 'json_schema', json_schema: { name: 'city', schema: city, strict: true } },
});
const reply = described.choices[0];
check(reply.finish_reason === 'stop', `json_schema: finish_reason stop (${reply.finish_reason})`);
check(!reply.message.tool_calls?.length, 'json_schema: no tool calls');
const record = parseJson(reply.message.content ?? '', 'json_schema reply');
check(isObject(record) && onlyKeys(record, Object.keys(city.properties)), 'json_schema: no extra keys');
check(typeof record.name === 'string' && record.name.length <= 40, 'json_schema: name is a string of <= 40');
check(
  Number.isInteger(record.population_millions) && record.population_millions >= 0 && record.population_millions <= 100,
  'json_schema: population_millions is an integer in 0..100',
);
check(
  Array.isArray(record.landmarks) &&
    record.landmarks.length <= 3 &&
    record.landmarks.every((item) => typeof item === 'string' && item.length <= 40),
  'json_schema: landmarks is a list of <= 3 strings',
);

report();
