//! The prompt (KV) cache: a finished sequence leaves its KV cells in its slot, tagged with the
//! caller that produced them, so the caller's next turn of the same conversation only has to
//! prefill its new tokens.
//!
//! It is private by construction: a slot's cells are reused only for the same owner (an API
//! key or a browser session), never across callers, because a faster answer would tell one
//! user what another had asked. It lives in the slots' KV memory, which is allocated anyway,
//! never on disk, and is dropped on log-out, key revocation, when idle too long, or when the
//! tokens it holds pass `--cache-mb`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use llama_cpp_2::token::LlamaToken;

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

/// How a job should use the slot it is given.
#[derive(Debug, PartialEq, Eq)]
pub struct Placement {
    pub slot: usize,
    /// Leading prompt tokens already in the slot's KV cells.
    pub reuse: usize,
    /// Whether cells beyond `reuse` must be removed first.
    pub trim: bool,
    /// The owner's slot whose cells to copy into `slot` first (then trimmed to `reuse`): a
    /// new conversation sharing a long prefix (a system prompt) with a cached one gets the
    /// prefix without prefilling it or overwriting that conversation.
    pub copy_from: Option<usize>,
}

pub struct PromptCache {
    warm: Vec<Option<Warm>>,
    budget_tokens: usize,
    idle: Duration,
    /// Shortest shared prefix worth copying a whole slot's cells for.
    min_copy_tokens: usize,
}

impl PromptCache {
    pub fn new(slots: usize, budget_tokens: usize, idle: Duration) -> Self {
        Self {
            warm: (0..slots).map(|_| None).collect(),
            budget_tokens,
            idle,
            min_copy_tokens: usize::MAX,
        }
    }

    /// Lets `place` copy a shared prefix of at least `tokens` tokens from one slot to another.
    pub fn with_prefix_copy(mut self, tokens: usize) -> Self {
        self.min_copy_tokens = tokens.max(1);
        self
    }

    /// Chooses a free slot for a prompt: the owner's slot sharing the longest prefix, else an
    /// empty slot, else the least recently used one (whose cells are then discarded). When
    /// another of the owner's slots, cached or `running` now, shares a prefix longer by at
    /// least the copy threshold (a system prompt, the same document), the chosen slot gets a
    /// copy of it instead of prefilling it again. `running` lists busy slots, their owners
    /// and the tokens in their cells.
    pub fn place(
        &mut self,
        free: &[usize],
        owner: Option<CacheOwner>,
        prompt: &[LlamaToken],
        running: &[(usize, Option<CacheOwner>, &[LlamaToken])],
    ) -> Option<Placement> {
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
        let mut placement = match best_match {
            // A match that would throw away most of a cached conversation (typically only
            // the model's default system prompt is shared) is a different conversation: keep
            // it, and use an empty slot instead if there is one.
            Some((slot, reuse))
                if empty.is_none()
                    || 2 * reuse >= self.warm[slot].as_ref().map_or(0, |w| w.tokens.len()) =>
            {
                let cached = self.warm[slot].take().map_or(0, |w| w.tokens.len());
                Placement {
                    slot,
                    reuse,
                    trim: cached > reuse,
                    copy_from: None,
                }
            }
            _ => {
                let slot = empty.or_else(|| {
                    free.iter()
                        .copied()
                        .min_by_key(|&slot| self.warm[slot].as_ref().map(|w| w.last_used))
                })?;
                Placement {
                    slot,
                    reuse: 0,
                    trim: self.warm[slot].take().is_some(),
                    copy_from: None,
                }
            }
        };
        let cached_sources = cached
            .into_iter()
            .filter(|&(slot, _)| slot != placement.slot);
        let running_sources = running
            .iter()
            .filter(|(_, running_owner, _)| owner.is_some() && *running_owner == owner)
            .map(|&(slot, _, tokens)| (slot, shared(tokens)));
        let longer = cached_sources
            .chain(running_sources)
            .max_by_key(|&(_, reuse)| reuse)
            .filter(|&(_, reuse)| reuse >= placement.reuse.saturating_add(self.min_copy_tokens));
        if let Some((source, reuse)) = longer {
            self.touch(source);
            placement = Placement {
                reuse,
                trim: true,
                copy_from: Some(source),
                ..placement
            };
        }
        Some(placement)
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
        let mut evicted = Vec::new();
        while self.warm_tokens() > self.budget_tokens {
            let oldest = (0..self.warm.len())
                .filter(|&s| self.warm[s].is_some())
                .min_by_key(|&s| self.warm[s].as_ref().map(|w| w.last_used));
            let Some(oldest) = oldest else { break };
            self.warm[oldest] = None;
            evicted.push(oldest);
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
        self.drop_where(|warm| warm.owner == owner)
    }

    /// Drops everything whose owner is not in `live`; returns the slots to clear.
    pub fn keep_only(&mut self, live: &HashSet<CacheOwner>) -> Vec<usize> {
        self.drop_where(|warm| !live.contains(&warm.owner))
    }

    /// Drops what has been idle too long; returns the slots to clear.
    pub fn expire(&mut self, now: Instant) -> Vec<usize> {
        let idle = self.idle;
        self.drop_where(|warm| now.duration_since(warm.last_used) >= idle)
    }

    pub fn idle_timeout(&self) -> Duration {
        self.idle
    }

    fn drop_where(&mut self, mut condition: impl FnMut(&Warm) -> bool) -> Vec<usize> {
        let mut dropped = Vec::new();
        for (slot, warm) in self.warm.iter_mut().enumerate() {
            if warm.as_ref().is_some_and(&mut condition) {
                *warm = None;
                dropped.push(slot);
            }
        }
        dropped
    }

    /// Slots holding a cached conversation.
    pub fn cached_slots(&self) -> usize {
        self.warm.iter().flatten().count()
    }

    fn warm_tokens(&self) -> usize {
        self.warm
            .iter()
            .flatten()
            .map(|w| w.tokens.len() + w.owed.len())
            .sum()
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

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(ids: &[i32]) -> Vec<LlamaToken> {
        ids.iter().map(|&id| LlamaToken(id)).collect()
    }

    /// A placement that copies nothing from another slot.
    fn in_place(slot: usize, reuse: usize, trim: bool) -> Option<Placement> {
        Some(Placement {
            slot,
            reuse,
            trim,
            copy_from: None,
        })
    }

    const ALICE: CacheOwner = CacheOwner([1; 32]);
    const BOB: CacheOwner = CacheOwner([2; 32]);

    #[test]
    fn the_owner_gets_their_prefix_back_and_nobody_else_does() {
        let mut cache = PromptCache::new(2, 1000, Duration::from_secs(60));
        assert!(cache
            .keep(0, Some(ALICE), tokens(&[1, 2, 3, 4]), Vec::new())
            .is_empty());
        let bob = cache.place(&[0, 1], Some(BOB), &tokens(&[1, 2, 3, 4, 5]), &[]);
        assert_eq!(bob, in_place(1, 0, false));
        let alice = cache.place(&[0], Some(ALICE), &tokens(&[1, 2, 3, 4, 5]), &[]);
        assert_eq!(alice, in_place(0, 4, false));
    }

    #[test]
    fn a_diverging_prompt_trims_and_an_identical_one_keeps_a_token_to_decode() {
        let mut cache = PromptCache::new(1, 1000, Duration::from_secs(60));
        cache.keep(0, Some(ALICE), tokens(&[1, 2, 3, 4]), Vec::new());
        assert_eq!(
            cache.place(&[0], Some(ALICE), &tokens(&[1, 2, 9]), &[]),
            in_place(0, 2, true)
        );
        cache.keep(0, Some(ALICE), tokens(&[1, 2, 3]), Vec::new());
        assert_eq!(
            cache.place(&[0], Some(ALICE), &tokens(&[1, 2, 3]), &[]),
            in_place(0, 2, true)
        );
    }

    #[test]
    fn a_different_conversation_goes_to_an_empty_slot_instead_of_overwriting_one() {
        let mut cache = PromptCache::new(2, 1000, Duration::from_secs(60));
        cache.keep(0, Some(ALICE), tokens(&[1, 2, 3, 4, 5, 6]), Vec::new());
        // Shares only the first two tokens (say, a default system prompt).
        let other = cache.place(&[0, 1], Some(ALICE), &tokens(&[1, 2, 9, 9]), &[]);
        assert_eq!(other, in_place(1, 0, false));
        // With no empty slot left, the partial match is still better than nothing.
        let again = cache.place(&[0], Some(ALICE), &tokens(&[1, 2, 8]), &[]);
        assert_eq!(again, in_place(0, 2, true));
    }

    #[test]
    fn a_long_shared_prefix_is_copied_into_an_empty_slot() {
        let mut cache = PromptCache::new(2, 1000, Duration::from_secs(60)).with_prefix_copy(3);
        cache.keep(
            0,
            Some(ALICE),
            tokens(&[1, 2, 3, 4, 5, 6, 7, 8]),
            Vec::new(),
        );
        // Three shared tokens (a system prompt) of an eight-token conversation: copied.
        assert_eq!(
            cache.place(&[0, 1], Some(ALICE), &tokens(&[1, 2, 3, 9, 9]), &[]),
            Some(Placement {
                slot: 1,
                reuse: 3,
                trim: true,
                copy_from: Some(0)
            })
        );
        // The source keeps its conversation; nobody else gets a copy of it.
        assert_eq!(cache.cached_slots(), 1);
        let bob = cache.place(&[0], Some(BOB), &tokens(&[1, 2, 3, 9, 9]), &[]);
        assert_eq!(bob.map(|p| (p.reuse, p.copy_from)), Some((0, None)));
    }

    #[test]
    fn a_running_request_of_the_same_owner_lends_its_prefix() {
        let mut cache = PromptCache::new(3, 1000, Duration::from_secs(60)).with_prefix_copy(3);
        cache.keep(0, Some(ALICE), tokens(&[1, 2, 9]), Vec::new());
        let alice_running = tokens(&[1, 2, 3, 4, 5, 6]);
        let bob_running = tokens(&[1, 2, 3, 4, 5, 7]);
        let running = [
            (1, Some(ALICE), &alice_running[..]),
            (2, Some(BOB), &bob_running[..]),
        ];
        // Alice's cached slot shares two tokens; her running request five: it is copied.
        assert_eq!(
            cache.place(&[0], Some(ALICE), &tokens(&[1, 2, 3, 4, 5, 8]), &running),
            Some(Placement {
                slot: 0,
                reuse: 5,
                trim: true,
                copy_from: Some(1)
            })
        );
        // Bob's running request shares as much, but is never a source for anyone else, nor
        // for callers without an owner.
        cache.keep(0, Some(ALICE), tokens(&[1, 9]), Vec::new());
        let only_bob = [(2, Some(BOB), &bob_running[..])];
        let alice = cache.place(&[0], Some(ALICE), &tokens(&[1, 2, 3, 4, 5, 7]), &only_bob);
        assert_eq!(alice, in_place(0, 1, true));
        let nobody = cache.place(&[0], None, &tokens(&[1, 2, 3, 4, 5, 7]), &only_bob);
        assert_eq!(nobody.map(|p| (p.reuse, p.copy_from)), Some((0, None)));
    }

    #[test]
    fn a_new_request_joins_the_running_slots_rather_than_scatter_them() {
        let running_tokens = tokens(&[7]);
        let running = |slots: &[usize]| -> Vec<(usize, Option<CacheOwner>, &[LlamaToken])> {
            slots
                .iter()
                .map(|&slot| (slot, Some(BOB), &running_tokens[..]))
                .collect()
        };
        // Empty slots: one next to the running ones, not the first.
        let mut cache = PromptCache::new(6, 1000, Duration::from_secs(60));
        let prompt = tokens(&[1, 2]);
        let placed = cache.place(&[0, 1, 4, 5], Some(ALICE), &prompt, &running(&[2, 3]));
        assert_eq!(placed, in_place(1, 0, false));
        let placed = cache.place(&[0, 5], Some(ALICE), &prompt, &running(&[2, 3, 4]));
        assert_eq!(placed, in_place(5, 0, false));
        assert_eq!(runs_with(&[false, false, true, true, false, false], 0), 2);
        assert_eq!(runs_with(&[false, false, true, true, false, false], 1), 1);

        // Cached slots sharing about as much (a system prompt, one more token in slot 5):
        // the contiguous one. A conversation of the owner's wins wherever it is.
        let mut cache = PromptCache::new(6, 1000, Duration::from_secs(60));
        for slot in [0, 4, 5] {
            let extra = if slot == 5 { 3 } else { 9 };
            cache.keep(
                slot,
                Some(ALICE),
                tokens(&[1, 2, extra, 9, 9, 9]),
                Vec::new(),
            );
        }
        let placed = cache.place(
            &[0, 4, 5],
            Some(ALICE),
            &tokens(&[1, 2, 3, 8]),
            &running(&[2, 3]),
        );
        assert_eq!(placed, in_place(4, 2, true));
        let long: Vec<i32> = (0..100).collect();
        cache.keep(5, Some(ALICE), tokens(&long), Vec::new());
        let mut next_turn = long.clone();
        next_turn.push(5);
        let placed = cache.place(
            &[0, 4, 5],
            Some(ALICE),
            &tokens(&next_turn),
            &running(&[2, 3]),
        );
        assert_eq!(placed, in_place(5, 100, false));
    }

    #[test]
    fn budget_forget_and_expiry_evict() {
        let mut cache = PromptCache::new(3, 5, Duration::from_millis(0));
        cache.keep(0, Some(ALICE), tokens(&[1, 2, 3]), Vec::new());
        assert_eq!(
            cache.keep(1, Some(BOB), tokens(&[4, 5, 6]), Vec::new()),
            vec![0]
        );
        assert_eq!(cache.forget(BOB), vec![1]);
        cache.keep(2, Some(ALICE), tokens(&[7]), Vec::new());
        assert_eq!(cache.expire(Instant::now()), vec![2]);
        assert_eq!(cache.keep(0, None, tokens(&[1]), Vec::new()), vec![0]);
    }
}
