//! A request's `n` choices: one prefill in the first choice's slot, its KV cells copied to
//! the others' slots, which then sample from the same first distribution.

use llama_cpp_2::context::LlamaContext;

use super::kv::{clear_cells, clear_slots, copy_cells};
use super::sequence::{Job, Sequence};
use super::worker::Scheduler;

impl Scheduler<'_> {
    /// Gives each of `leader`'s followers one of the `free` slots (empty ones first, then the
    /// least recently used cached ones, whose conversations are set aside in RAM).
    pub(super) fn place_followers(
        &mut self,
        free: &[usize],
        leader_slot: usize,
        leader: &Sequence,
        followers: Vec<Job>,
        context: &mut LlamaContext,
    ) {
        let mut slots: Vec<usize> = free
            .iter()
            .copied()
            .filter(|&slot| slot != leader_slot)
            .collect();
        slots.sort_by_key(|&slot| self.cache.last_used(slot));
        for (job, slot) in followers.into_iter().zip(slots) {
            if let Some(displaced) = self.cache.displace(slot) {
                self.set_aside(context, slot, displaced);
            }
            clear_slots(context, &[slot]);
            self.admitted += 1;
            let seq_id = i32::try_from(slot).unwrap_or(i32::MAX);
            let n_vocab = self.model.n_vocab();
            self.slots[slot] = Some(Sequence::follower(
                seq_id,
                job,
                n_vocab,
                leader,
                self.admitted,
            ));
        }
    }

    /// Once a leader has decoded its prompt, its followers get a copy of its cells (applied by
    /// llama.cpp before the next decode) and sample from its first distribution. A follower
    /// whose leader is gone (cancelled, failed) fails too.
    pub(super) fn fan_out(&mut self, context: &mut LlamaContext) {
        for slot in 0..self.slots.len() {
            let Some((leader_slot, serial)) = self.slots[slot].as_ref().and_then(|s| s.awaits)
            else {
                continue;
            };
            let leader = self
                .slots
                .get(leader_slot)
                .and_then(Option::as_ref)
                .filter(|leader| leader.serial == serial);
            match leader {
                Some(leader) if leader.prompt_just_decoded() => {
                    let Some(at) = leader.logits_at else {
                        continue;
                    };
                    let Some(follower) = self.slots[slot].as_mut() else {
                        continue;
                    };
                    let prompt = follower.kv_tokens.len();
                    if copy_cells(context, leader_slot, follower.seq_id, prompt) == prompt {
                        follower.start_from(at);
                    } else if let Some(follower) = self.slots[slot].take() {
                        follower.fail("the engine could not share the prompt between choices");
                    }
                }
                Some(_) => {}
                None => {
                    if let Some(follower) = self.slots[slot].take() {
                        clear_cells(context, follower.seq_id);
                        follower.fail("the request's first choice ended before the others began");
                    }
                }
            }
        }
    }
}
