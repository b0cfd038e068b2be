// The per-conversation settings panel: model, persona, system prompt, temperature, max tokens.
// Each change is saved with the conversation at once; the last choices become the defaults of
// the next new chat (the system prompt excepted: it belongs to its conversation).

import { el, icon, debounce } from './util.js';
import { cleanSettings } from './model.js';

const $ = (id) => document.getElementById(id);

let handlers = null;
let shown = null; // the conversation whose settings are displayed

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

/** Shows a conversation's settings. context: { models, personas (array), info } */
function show(conv, context) {
  shown = conv;
  const s = conv.settings;
  fillModels(context.models, s.model);
  fillPersonas(context.personas, s.personaId);
  const persona = context.personas.find((p) => p.id === s.personaId);
  const system = $('setting-system');
  system.value = persona ? persona.prompt : s.system;
  system.disabled = !!persona;
  system.title = persona ? `From the persona “${persona.name}”: edit it under Personas` : '';
  $('setting-temperature').value = s.temperature === null ? '' : String(s.temperature);
  $('setting-max-tokens').value = s.maxTokens === null ? '' : String(s.maxTokens);
  showInfo(context.info);
}

/** One line about the chosen model, from GET /v1/models/{id}. */
function showInfo(info) {
  const line = $('settings-info');
  if (!info) {
    line.textContent = '';
    return;
  }
  const parts = [];
  if (info.context_length)
    parts.push(`Context: ${info.context_length} tokens per request (prompt and reply together).`);
  if (info.loaded === false) parts.push('Not loaded yet: the first message loads it.');
  line.textContent = parts.join(' ');
}

function read() {
  const temperature = $('setting-temperature').value.trim();
  const maxTokens = $('setting-max-tokens').value.trim();
  const patch = {
    model: $('setting-model').value,
    personaId: $('setting-persona').value,
    temperature: temperature === '' ? null : Number(temperature),
    maxTokens: maxTokens === '' ? null : Number(maxTokens),
  };
  if (!$('setting-system').disabled) patch.system = $('setting-system').value;
  return cleanSettings(Object.assign({}, shown.settings, patch));
}

function changed() {
  if (shown) handlers.onChange(shown, read());
}

function setOpen(open) {
  $('settings').hidden = !open;
  $('toggle-settings').setAttribute('aria-expanded', String(open));
}

function init(h) {
  handlers = h;
  const toggle = $('toggle-settings');
  toggle.append(icon('sliders'), el('span', { text: 'Settings' }));
  toggle.addEventListener('click', () => setOpen($('settings').hidden));
  $('settings').addEventListener('submit', (e) => e.preventDefault());
  $('setting-model').addEventListener('change', changed);
  $('setting-persona').addEventListener('change', changed);
  const typed = debounce(changed, 300);
  for (const id of ['setting-system', 'setting-temperature', 'setting-max-tokens']) {
    $(id).addEventListener('input', typed);
    $(id).addEventListener('change', changed);
  }
}

export { init, show, showInfo, setOpen };
