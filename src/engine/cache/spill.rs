//! The prompt cache's second tier: a cached conversation whose slot a new request takes is
//! set aside in RAM (its KV cells, serialized by llama.cpp) instead of being thrown away, and
//! comes back into whichever slot its owner's next request gets.
//!
//! Eight slots hold eight conversations; a server with more callers than slots, or one caller
//! switching between conversations, would otherwise prefill each again whenever another took
//! its slot. Restoring cells costs a copy of their bytes, prefilling them the model's whole
//! compute per token. The entries follow the slots' rules: only their owner's requests use
//! them, and they count towards the same `--cache-mb`, idle time and revocation.

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use super::CacheOwner;

/// One conversation set aside: the tokens its cells hold and the cells themselves (`S`:
/// llama.cpp's serialized sequence state in the engine, anything in unit tests).
#[derive(Debug)]
pub(super) struct Spilled<S> {
    pub owner: CacheOwner,
    pub tokens: Vec<LlamaToken>,
    pub state: S,
    pub last_used: Instant,
}

#[derive(Debug)]
pub(super) struct SpillStore<S> {
    entries: Vec<Spilled<S>>,
}

impl<S> Default for SpillStore<S> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<S> SpillStore<S> {
    /// The owner's entry sharing the longest prefix, as measured by `shared`, if any shares
    /// one: `(index, tokens shared)`.
    pub fn best(
        &self,
        owner: CacheOwner,
        shared: impl Fn(&[LlamaToken]) -> usize,
    ) -> Option<(usize, usize)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| entry.owner == owner)
            .map(|(index, entry)| (index, shared(&entry.tokens)))
            .filter(|&(_, reuse)| reuse > 0)
            .max_by_key(|&(index, reuse)| (reuse, std::cmp::Reverse(index)))
    }

    /// Removes and returns an entry (its cells go back into a slot).
    pub fn take(&mut self, index: usize) -> Spilled<S> {
        self.entries.swap_remove(index)
    }

    /// Whether the owner has an entry that starts with all of `tokens`.
    pub fn holds(&self, owner: CacheOwner, tokens: &[LlamaToken]) -> bool {
        self.entries
            .iter()
            .any(|entry| entry.owner == owner && entry.tokens.starts_with(tokens))
    }

    /// Sets a conversation aside, unless the owner already holds all of it; one of theirs
    /// that it extends is replaced.
    pub fn insert(&mut self, entry: Spilled<S>) {
        if self.holds(entry.owner, &entry.tokens) {
            return;
        }
        self.entries.retain(|other| {
            !(other.owner == entry.owner && entry.tokens.starts_with(&other.tokens))
        });
        self.entries.push(entry);
    }

    /// The least recently used entry: `(index, when)`.
    pub fn oldest(&self) -> Option<(usize, Instant)> {
        self.entries
            .iter()
            .enumerate()
            .map(|(index, entry)| (index, entry.last_used))
            .min_by_key(|&(_, when)| when)
    }

    /// Drops every entry for which `condition` holds.
    pub fn drop_where(&mut self, mut condition: impl FnMut(CacheOwner, Instant) -> bool) {
        self.entries
            .retain(|entry| !condition(entry.owner, entry.last_used));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Tokens held in all entries: what counts towards the cache's budget.
    pub fn tokens(&self) -> usize {
        self.entries.iter().map(|entry| entry.tokens.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: CacheOwner = CacheOwner([1; 32]);
    const BOB: CacheOwner = CacheOwner([2; 32]);

    fn entry(owner: CacheOwner, ids: &[i32], state: u32) -> Spilled<u32> {
        Spilled {
            owner,
            tokens: ids.iter().map(|&id| LlamaToken(id)).collect(),
            state,
            last_used: Instant::now(),
        }
    }

    fn prefix_of(prompt: &[i32]) -> impl Fn(&[LlamaToken]) -> usize {
        let prompt: Vec<LlamaToken> = prompt.iter().map(|&id| LlamaToken(id)).collect();
        move |tokens| super::super::common_prefix(tokens, &prompt)
    }

    #[test]
    fn only_the_owner_finds_an_entry_and_the_longest_prefix_wins() {
        let mut store = SpillStore::default();
        store.insert(entry(ALICE, &[1, 2, 3], 10));
        store.insert(entry(ALICE, &[1, 2, 9, 9], 11));
        store.insert(entry(BOB, &[1, 2, 3, 4], 12));
        assert_eq!(store.best(ALICE, prefix_of(&[1, 2, 3, 4])), Some((0, 3)));
        assert_eq!(store.best(BOB, prefix_of(&[1, 2, 3, 4])), Some((2, 4)));
        assert_eq!(store.best(BOB, prefix_of(&[7])), None);
        assert_eq!(store.take(0).state, 10);
        assert_eq!(store.len(), 2);
        assert_eq!(store.tokens(), 8);
    }

    #[test]
    fn a_conversation_already_held_is_not_stored_twice() {
        let mut store = SpillStore::default();
        store.insert(entry(ALICE, &[1, 2, 3, 4], 10));
        // A prefix of what is held: nothing new.
        store.insert(entry(ALICE, &[1, 2], 11));
        assert_eq!(store.len(), 1);
        // The same conversation, longer: replaces it.
        store.insert(entry(ALICE, &[1, 2, 3, 4, 5], 12));
        assert_eq!(store.len(), 1);
        assert_eq!(
            store.best(ALICE, prefix_of(&[1, 2, 3, 4, 5, 6])),
            Some((0, 5))
        );
        // Another owner's copy of the same tokens is theirs alone.
        store.insert(entry(BOB, &[1, 2], 13));
        assert_eq!(store.len(), 2);
        store.drop_where(|owner, _| owner == ALICE);
        assert_eq!(store.len(), 1);
        assert!(store.best(ALICE, prefix_of(&[1, 2])).is_none());
    }
}
