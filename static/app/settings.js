// The per-conversation settings panel: model, persona, system prompt, temperature, max tokens.
// Each change is saved with the conversation at once; the last choices become the defaults of
// the next new chat (the system prompt excepted: it belongs to its conversation).

import { changeSettings } from './actions.js';
import { cleanSettings } from './model.js';
import { currentConversation, effectiveModel, personaList } from './state.js';
import { el, icon, debounce } from './util.js';

const $ = (id) => document.getElementById(id);

function option(value, label) {
  const o = el('option', { text: label });
  o.value = value;
  return o;
}

function fillModels(models, chosen) {
  const select = $('setting-model');
  const options = [option('', models.length ? `Server default (${models[0]})` : 'Server default')];
  models.forEach((id) => options.push(option(id, id)));
  if (chosen && !models.includes(chosen)) options.push(option(chosen, `${chosen} (not on this server)`));
  select.replaceChildren(...options);
  select.value = chosen || '';
}

function fillPersonas(personas, chosen) {
  const select = $('setting-persona');
  const options = [option('', 'None: this chat’s system prompt')];
  personas.forEach((p) => options.push(option(p.id, p.name || 'Unnamed persona')));
  select.replaceChildren(...options);
  select.value = personas.some((p) => p.id === chosen) ? chosen : '';
}

/** Sets a field's value, except while the user is typing in it (that would undo their typing). */
function setValue(id, value, force) {
  const field = $(id);
  if (force || document.activeElement !== field) field.value = value;
}

/** One line about the chosen model, from GET /v1/models/{id}. */
function infoLine(info) {
  if (!info) return '';
  if (info.error) return 'Details of this model could not be loaded; it can still answer.';
  const parts = [];
  if (typeof info.alias_of === 'string') parts.push(`Another name for ${info.alias_of}.`);
  if (info.context_length)
    parts.push(`Context: ${info.context_length} tokens per request (prompt and reply together).`);
  if (info.state === 'loading') parts.push('Loading now: it answers in a few seconds.');
  else if (info.loaded === false) parts.push('Not loaded: the first message loads it (and may unload another model).');
  return parts.join(' ');
}

let shown = [];

/** The open conversation's settings, from the state. */
export function render(state) {
  const conv = currentConversation(state);
  const info = state.modelInfo.get(effectiveModel(conv, state));
  const key = [conv.id, conv.settings, state.models.list, state.personas, info];
  if (key.every((value, i) => value === shown[i])) return;
  const switched = conv.id !== shown[0];
  shown = key;

  const s = conv.settings;
  const personas = personaList(state);
  fillModels(state.models.list, s.model);
  fillPersonas(personas, s.personaId);
  const persona = personas.find((p) => p.id === s.personaId);
  const system = $('setting-system');
  setValue('setting-system', persona ? persona.prompt : s.system, switched || Boolean(persona));
  system.disabled = Boolean(persona);
  system.title = persona ? `From the persona “${persona.name}”: edit it under Personas` : '';
  setValue('setting-temperature', s.temperature === null ? '' : String(s.temperature), switched);
  setValue('setting-max-tokens', s.maxTokens === null ? '' : String(s.maxTokens), switched);
  $('settings-info').textContent = infoLine(info);
}

function read(conv) {
  const temperature = $('setting-temperature').value.trim();
  const maxTokens = $('setting-max-tokens').value.trim();
  const patch = {
    model: $('setting-model').value,
    personaId: $('setting-persona').value,
    temperature: temperature === '' ? null : Number(temperature),
    maxTokens: maxTokens === '' ? null : Number(maxTokens),
  };
  if (!$('setting-system').disabled) patch.system = $('setting-system').value;
  return cleanSettings({ ...conv.settings, ...patch });
}

/** The fields' values become the settings of the conversation they were typed for. */
function changed(convId) {
  const conv = currentConversation();
  if (conv.id === convId) changeSettings(conv.id, read(conv));
}

export function setOpen(open) {
  $('settings').hidden = !open;
  $('toggle-settings').setAttribute('aria-expanded', String(open));
}

export function init() {
  const toggle = $('toggle-settings');
  toggle.append(icon('sliders'), el('span', { text: 'Settings' }));
  toggle.addEventListener('click', () => setOpen($('settings').hidden));
  $('settings').addEventListener('submit', (e) => e.preventDefault());
  const now = () => changed(currentConversation().id);
  $('setting-model').addEventListener('change', now);
  $('setting-persona').addEventListener('change', now);
  const typed = debounce(changed, 300);
  for (const id of ['setting-system', 'setting-temperature', 'setting-max-tokens']) {
    $(id).addEventListener('input', () => typed(currentConversation().id));
    $(id).addEventListener('change', now);
  }
}
