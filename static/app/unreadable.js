// Stored records the page could not read (store.loadAll: they do not decrypt, or are not the
// right shape) are left out of the list, so the user is told, in the sidebar, and can keep a
// copy (as stored, for a later version or by hand) or delete them.

import { holds } from './actions.js';
import * as dialogs from './dialogs.js';
import { dropNotice, notDeleted, showNotice } from './notices.js';
import * as store from './store.js';
import { download } from './util.js';

/** "1 conversation", "2 conversations and 1 persona": what a list of stored records holds. */
function describeRecords(items) {
  const count = (kind, one) => {
    const n = items.filter((item) => item.store === kind).length;
    return n ? `${n} ${one}${n === 1 ? '' : 's'}` : '';
  };
  return [count('conversations', 'conversation'), count('personas', 'persona')].filter(Boolean).join(' and ');
}

/** JSON of records as stored, whatever a damaged one holds (structured clone allows more than JSON). */
function rawJson(value) {
  const seen = new WeakSet();
  return JSON.stringify(
    value,
    (_, v) => {
      if (typeof v === 'bigint') return v.toString();
      if (v && typeof v === 'object') {
        if (seen.has(v)) return '[repeated]';
        seen.add(v);
      }
      return v;
    },
    2,
  );
}

function saveUnreadable(items) {
  const file = { format: 'sotto-unreadable-records', version: 1, savedAt: new Date().toISOString(), records: items };
  download(`sotto-unreadable-${new Date().toISOString().slice(0, 10)}.json`, rawJson(file));
}

async function deleteUnreadable(items, what) {
  const ok = await dialogs.confirm({
    title: 'Delete what could not be read?',
    ok: 'Delete',
    danger: true,
    text: `The ${what} that could not be read will be deleted from this browser. Save a copy first to keep ${items.length === 1 ? 'it' : 'them'}.`,
  });
  if (!ok) return;
  try {
    // A record imported since under the same id is readable now, not the one reported: keep it.
    for (const item of items) if (!holds(item.store, item.record.id)) await store.deleteUnreadable(item);
  } catch (error) {
    showNotice(notDeleted(`the ${what} that could not be read`, error, () => deleteUnreadable(items, what)));
    return;
  }
  dropNotice('not-deleted');
  dropNotice('unreadable');
}

/** The notice, shown in the sidebar above the list the records are missing from. */
export function unreadableNotice(items) {
  const what = describeRecords(items);
  return {
    id: 'unreadable',
    place: 'sidebar',
    title: `${what} stored in this browser could not be read, so ${items.length === 1 ? 'it is' : 'they are'} not listed.`,
    text: '',
    actions: [
      { id: 'unreadable-save', label: 'Save a copy', run: () => saveUnreadable(items) },
      { id: 'unreadable-delete', label: 'Delete', danger: true, run: () => deleteUnreadable(items, what) },
    ],
    dismissible: false,
  };
}
