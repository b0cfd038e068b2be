//! The prompt (KV) cache: a finished sequence leaves its KV cells in its slot, tagged with the
//! caller that produced them, so the caller's next turn of the same conversation only has to
//! prefill its new tokens.
//!
//! It is private by construction: a slot's cells are reused only for the same owner (an API
//! key or a browser session), never across callers, because a faster answer would tell one
//! user what another had asked. It lives in the slots' KV memory, which is allocated anyway,
//! and in RAM for conversations whose slot another request took (`cache/spill.rs`), never on disk,
//! and is dropped on log-out, key revocation, when idle too long, or when the tokens it holds
//! pass `--cache-mb`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use llama_cpp_2::token::LlamaToken;

mod spill;

use spill::{SpillStore, Spilled};

/// Who a cached prefix belongs to: an opaque digest of an API key's or a session token's hash,
/// both random and never issued twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheOwner(pub [u8; 32]);

/// What a free slot's KV cells hold.
#[derive(Debug)]
struct Warm {
    owner: CacheOwner,
    /// The tokens in the slot's KV cells.
    tokens: Vec<LlamaToken>,
    /// Tokens the owner's next turn will most likely continue `tokens` with, not yet decoded.
    owed: Vec<LlamaToken>,
    last_used: Instant,
}

/// How a job should use the slot it is given. `S` is what a conversation set aside in RAM
/// holds (llama.cpp's serialized cells).
#[derive(Debug, PartialEq, Eq)]
pub struct Placement<S> {
    pub slot: usize,
    /// Leading prompt tokens already in the slot's KV cells.
    pub reuse: usize,
    /// Whether cells beyond `reuse` must be removed first.
    pub trim: bool,
    /// The owner's slot whose cells to copy into `slot` first (then trimmed to `reuse`): a
    /// new conversation sharing a long prefix (a system prompt) with a cached one gets the
    /// prefix without prefilling it or overwriting that conversation.
    pub copy_from: Option<usize>,
    /// The owner's conversation set aside in RAM whose cells to restore into `slot` first
    /// (then trimmed to `reuse`).
    pub restore: Option<S>,
    /// The cached conversation this placement overwrites in `slot`: the caller sets its cells
    /// aside (`spill`) before touching the slot.
    pub displaced: Option<Displaced>,
}

/// A slot's cached conversation that a placement overwrites.
#[derive(Debug, PartialEq, Eq)]
pub struct Displaced {
    owner: CacheOwner,
    tokens: Vec<LlamaToken>,
    last_used: Instant,
}

impl From<Warm> for Displaced {
    /// Tokens owed to it are not in its cells, so they do not go along.
    fn from(warm: Warm) -> Self {
        Self {
            owner: warm.owner,
            tokens: warm.tokens,
            last_used: warm.last_used,
        }
    }
}

pub struct PromptCache<S> {
    warm: Vec<Option<Warm>>,
    /// Conversations set aside in RAM when their slot was taken.
    spilled: SpillStore<S>,
    budget_tokens: usize,
    idle: Duration,
    /// Shortest shared prefix worth copying a whole slot's cells for.
    min_copy_tokens: usize,
    /// The model's attention window (0: none). A sequence's saved state holds only the last
    /// window of positions in its sliding-window layers.
    sliding_window: usize,
}

impl<S> PromptCache<S> {
    pub fn new(slots: usize, budget_tokens: usize, idle: Duration) -> Self {
        Self {
            warm: (0..slots).map(|_| None).collect(),
            spilled: SpillStore::default(),
            budget_tokens,
            idle,
            min_copy_tokens: usize::MAX,
            sliding_window: 0,
        }
    }

    /// Tells the cache the model attends only `window` positions back (0: the whole context).
    pub fn with_sliding_window(mut self, window: usize) -> Self {
        self.sliding_window = window;
        self
    }

    /// Lets `place` copy a shared prefix of at least `tokens` tokens from one slot to another.
    pub fn with_prefix_copy(mut self, tokens: usize) -> Self {
        self.min_copy_tokens = tokens.max(1);
        self
    }

    /// Chooses a free slot for a prompt: the owner's slot sharing the longest prefix, else an
    /// empty slot, else the least recently used one (whose conversation is then set aside in
    /// RAM). When another of the owner's slots, cached or `running` now, shares a prefix
    /// longer by at least the copy threshold (a system prompt, the same document), the chosen
    /// slot gets a copy of it instead of prefilling it again; when one of the owner's
    /// conversations in RAM shares a longer prefix still, its cells are restored instead.
    /// `running` lists busy slots, their owners and the tokens in their cells.
    pub fn place(
        &mut self,
        free: &[usize],
        owner: Option<CacheOwner>,
        prompt: &[LlamaToken],
        running: &[(usize, Option<CacheOwner>, &[LlamaToken])],
    ) -> Option<Placement<S>> {
        // At least one prompt token must be decoded to get the next distribution.
        let shared = |tokens: &[LlamaToken]| {
            common_prefix(tokens, prompt).min(prompt.len().saturating_sub(1))
        };
        // The owner's free slots and the prefix each shares with the prompt.
        let cached: Vec<(usize, usize)> = free
            .iter()
            .filter_map(|&slot| Some((slot, shared(self.cached_for(slot, owner)?))))
            .collect();
        // Between slots that save about as much prefill, the one that keeps the running
        // slots in fewest runs of consecutive ids: llama.cpp decodes per-slot KV streams one
        // run per pass, so a scattered slot costs a pass at every step of every stream.
        let busy = busy_slots(self.warm.len(), running);
        let runs = |slot: usize| runs_with(&busy, slot);
        let most_reuse = cached.iter().map(|&(_, reuse)| reuse).max().unwrap_or(0);
        let best_match = cached
            .iter()
            .copied()
            .filter(|&(_, reuse)| reuse > 0 && reuse + CONTIGUITY_TOKENS >= most_reuse)
            .min_by_key(|&(slot, reuse)| (runs(slot), std::cmp::Reverse(reuse), slot));
        let empty = free
            .iter()
            .copied()
            .filter(|&slot| self.warm[slot].is_none())
            .min_by_key(|&slot| (runs(slot), slot));
        let (slot, own_reuse) = match best_match {
            // A match that would throw away most of a cached conversation (typically only
            // the model's default system prompt is shared) is a different conversation: keep
            // it, and use an empty slot instead if there is one.
            Some((slot, reuse))
                if empty.is_none()
                    || !mostly_lost(
                        reuse,
                        self.warm[slot].as_ref().map_or(0, |w| w.tokens.len()),
                    ) =>
            {
                (slot, reuse)
            }
            _ => {
                let slot = empty.or_else(|| {
                    free.iter()
                        .copied()
                        .min_by_key(|&slot| self.warm[slot].as_ref().map(|w| w.last_used))
                })?;
                (slot, 0)
            }
        };
        // A longer prefix elsewhere: in another slot (copied whole, so only when it saves
        // enough), or in RAM (restored at the cost of its own bytes, so whenever it is longer;
        // preferred between equals).
        let cached_sources = cached
            .into_iter()
            .filter(|&(cached_slot, _)| cached_slot != slot);
        let running_sources = running
            .iter()
            .filter(|(_, running_owner, _)| owner.is_some() && *running_owner == owner)
            .map(|&(source, _, tokens)| (source, shared(tokens)));
        let copy = cached_sources
            .chain(running_sources)
            .max_by_key(|&(_, reuse)| reuse)
            .filter(|&(_, reuse)| reuse >= own_reuse.saturating_add(self.min_copy_tokens));
        // With a sliding window, a saved conversation cut back to a shorter prefix lacks the
        // positions that prefix's end attends to (the restore would be undone at once), so
        // only one continued whole, or no longer than the window, is worth restoring.
        let window = self.sliding_window;
        let restorable = |tokens: &[LlamaToken]| {
            let reuse = shared(tokens);
            let intact = window == 0 || tokens.len() <= window || reuse == tokens.len();
            if intact {
                reuse
            } else {
                0
            }
        };
        let restore = owner
            .and_then(|owner| self.spilled.best(owner, restorable))
            .filter(|&(_, reuse)| {
                reuse > own_reuse && copy.is_none_or(|(_, copied)| reuse >= copied)
            });
        let warm = self.warm[slot].take();
        let mut placement = Placement {
            slot,
            reuse: own_reuse,
            trim: warm.as_ref().is_some_and(|w| w.tokens.len() > own_reuse),
            copy_from: None,
            restore: None,
            displaced: None,
        };
        if let Some((index, reuse)) = restore {
            let entry = self.spilled.take(index);
            placement.trim = entry.tokens.len() > reuse;
            placement.reuse = reuse;
            placement.restore = Some(entry.state);
        } else if let Some((source, reuse)) = copy {
            self.touch(source);
            placement.reuse = reuse;
            placement.trim = true;
            placement.copy_from = Some(source);
        }
        // Whatever the slot held is overwritten by a copy or a restore, or mostly cut away by
        // a different conversation: set it aside.
        let overwritten = placement.copy_from.is_some() || placement.restore.is_some();
        placement.displaced = warm
            .filter(|w| overwritten || mostly_lost(own_reuse, w.tokens.len()))
            .map(Displaced::from);
        Some(placement)
    }

    /// Takes `slot`'s cached conversation out of it, for a request that overwrites the slot
    /// whole (another choice of an `n` request); the caller sets it aside (`spill`).
    pub fn displace(&mut self, slot: usize) -> Option<Displaced> {
        self.warm[slot].take().map(Displaced::from)
    }

    /// Sets aside in RAM a conversation a placement displaced, with its cells as `save`
    /// copies them; `save` is not called when the owner already holds all of it, in a slot or
    /// in RAM. Returns the slots whose cells must be cleared to stay within the budget.
    pub fn spill(&mut self, displaced: Displaced, save: impl FnOnce() -> Option<S>) -> Vec<usize> {
        let held_in_slot = self.warm.iter().flatten().any(|warm| {
            warm.owner == displaced.owner && warm.tokens.starts_with(&displaced.tokens)
        });
        if held_in_slot || self.spilled.holds(displaced.owner, &displaced.tokens) {
            return Vec::new();
        }
        let Some(state) = save() else {
            return Vec::new();
        };
        self.spilled.insert(Spilled {
            owner: displaced.owner,
            tokens: displaced.tokens,
            state,
            last_used: displaced.last_used,
        });
        self.enforce_budget()
    }

    /// The tokens `slot` holds for `owner`, if it holds that owner's conversation.
    fn cached_for(&self, slot: usize, owner: Option<CacheOwner>) -> Option<&[LlamaToken]> {
        let warm = self.warm[slot].as_ref()?;
        (Some(warm.owner) == owner).then_some(warm.tokens.as_slice())
    }

    /// Marks a slot's cached prefix as just used, so it is not the next one evicted.
    fn touch(&mut self, slot: usize) {
        if let Some(warm) = self.warm[slot].as_mut() {
            warm.last_used = Instant::now();
        }
    }

    /// Records what a slot's cells hold after a sequence finished. Returns the slots whose
    /// cells must be cleared to stay within the budget.
    pub fn keep(
        &mut self,
        slot: usize,
        owner: Option<CacheOwner>,
        tokens: Vec<LlamaToken>,
        owed: Vec<LlamaToken>,
    ) -> Vec<usize> {
        let Some(owner) = owner else {
            return vec![slot];
        };
        if self.budget_tokens == 0 {
            return vec![slot];
        }
        self.warm[slot] = Some(Warm {
            owner,
            tokens,
            owed,
            last_used: Instant::now(),
        });
        self.enforce_budget()
    }

    /// Drops the least recently used conversations, in slots or in RAM, until the tokens
    /// held fit the budget; returns the slots whose cells must be cleared.
    fn enforce_budget(&mut self) -> Vec<usize> {
        let mut evicted = Vec::new();
        while self.cached_tokens() > self.budget_tokens {
            let oldest_slot = (0..self.warm.len())
                .filter_map(|slot| Some((slot, self.warm[slot].as_ref()?.last_used)))
                .min_by_key(|&(_, when)| when);
            match (oldest_slot, self.spilled.oldest()) {
                (Some((slot, when)), spilled) if spilled.is_none_or(|(_, other)| when < other) => {
                    self.warm[slot] = None;
                    evicted.push(slot);
                }
                (_, Some((index, _))) => {
                    self.spilled.take(index);
                }
                (_, None) => break,
            }
        }
        evicted
    }

    /// Whether a cached slot has tokens to decode ahead of its owner's next turn.
    pub fn has_owed(&self) -> bool {
        self.warm.iter().flatten().any(|warm| !warm.owed.is_empty())
    }

    /// Takes the tokens owed to cached slots: `(slot, position of the first, tokens)`. The
    /// caller decodes them and hands the decoded ones back through `extend`.
    pub fn take_owed(&mut self) -> Vec<(usize, usize, Vec<LlamaToken>)> {
        let mut owed = Vec::new();
        for (slot, warm) in self.warm.iter_mut().enumerate() {
            if let Some(warm) = warm.as_mut().filter(|w| !w.owed.is_empty()) {
                owed.push((slot, warm.tokens.len(), std::mem::take(&mut warm.owed)));
            }
        }
        owed
    }

    /// Records tokens just decoded after a slot's cached ones.
    pub fn extend(&mut self, slot: usize, tokens: &[LlamaToken]) {
        if let Some(warm) = self.warm[slot].as_mut() {
            warm.tokens.extend_from_slice(tokens);
        }
    }

    /// Drops a slot's cached prefix (its cells are no longer what the cache says).
    /// When `slot`'s cached conversation was last used; `None` (first) if it holds none.
    pub fn last_used(&self, slot: usize) -> Option<Instant> {
        self.warm.get(slot)?.as_ref().map(|warm| warm.last_used)
    }

    pub fn discard(&mut self, slot: usize) {
        self.warm[slot] = None;
    }

    /// Drops everything an owner left behind; returns the slots to clear.
    pub fn forget(&mut self, owner: CacheOwner) -> Vec<usize> {
        self.drop_where(|cached, _| cached == owner)
    }

    /// Drops everything whose owner is not in `live`; returns the slots to clear.
    pub fn keep_only(&mut self, live: &HashSet<CacheOwner>) -> Vec<usize> {
        self.drop_where(|cached, _| !live.contains(&cached))
    }

    /// Drops what has been idle too long; returns the slots to clear.
    pub fn expire(&mut self, now: Instant) -> Vec<usize> {
        let idle = self.idle;
        self.drop_where(|_, last_used| now.duration_since(last_used) >= idle)
    }

    pub fn idle_timeout(&self) -> Duration {
        self.idle
    }

    /// Drops the conversations, in slots and in RAM, whose owner and last use meet
    /// `condition`; returns the slots to clear.
    fn drop_where(&mut self, mut condition: impl FnMut(CacheOwner, Instant) -> bool) -> Vec<usize> {
        let mut dropped = Vec::new();
        for (slot, warm) in self.warm.iter_mut().enumerate() {
            if warm
                .as_ref()
                .is_some_and(|warm| condition(warm.owner, warm.last_used))
            {
                *warm = None;
                dropped.push(slot);
            }
        }
        self.spilled.drop_where(condition);
        dropped
    }

    /// Slots holding a cached conversation.
    pub fn cached_slots(&self) -> usize {
        self.warm.iter().flatten().count()
    }

    /// Conversations set aside in RAM.
    pub fn spilled_conversations(&self) -> usize {
        self.spilled.len()
    }

    /// Tokens held in slots (with those owed to them) and in RAM: what the budget bounds.
    fn cached_tokens(&self) -> usize {
        let in_slots: usize = self
            .warm
            .iter()
            .flatten()
            .map(|w| w.tokens.len() + w.owed.len())
            .sum();
        in_slots + self.spilled.tokens()
    }
}

/// Prompt tokens of re-use worth giving up to keep the running slots contiguous. An extra
/// pass costs every running stream about 5 ms per step for as long as the request runs (a
/// 128-token reply: 0.6 s); prefilling 32 more tokens costs one step some tens of ms.
const CONTIGUITY_TOKENS: usize = 32;

/// Which of `slots` slots are serving a request.
fn busy_slots(slots: usize, running: &[(usize, Option<CacheOwner>, &[LlamaToken])]) -> Vec<bool> {
    let mut busy = vec![false; slots];
    for &(slot, _, _) in running {
        if let Some(busy) = busy.get_mut(slot) {
            *busy = true;
        }
    }
    busy
}

/// Runs of consecutive busy slots once `slot` is busy too: the passes one decode step takes.
fn runs_with(busy: &[bool], slot: usize) -> usize {
    let on = |index: usize| index == slot || busy.get(index).copied().unwrap_or(false);
    (0..busy.len())
        .filter(|&index| on(index) && (index == 0 || !on(index - 1)))
        .count()
}

/// Whether re-using `reuse` tokens of a cached conversation of `cached` tokens throws most of
/// it away: then it is a different conversation (typically sharing only a system prompt).
fn mostly_lost(reuse: usize, cached: usize) -> bool {
    2 * reuse < cached
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests;
