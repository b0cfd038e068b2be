//! Which inputs the embeddings thread decodes next. Each decode takes whole inputs (llama.cpp
//! pools a sequence over the tokens of one decode only), in turns across callers: one input of
//! each caller per round, until the decode's token budget is spent. A caller's 2,048-input
//! request is thus processed in pieces, and another caller's request arriving meanwhile shares
//! the next decode instead of waiting behind all of it.

use std::collections::VecDeque;

use super::cache::CacheOwner;

/// A request's inputs by token count, and how many of them are planned.
struct Pending {
    id: u64,
    lengths: Vec<usize>,
    next: usize,
}

/// One caller's requests, oldest first.
struct CallerJobs {
    owner: Option<CacheOwner>,
    jobs: VecDeque<Pending>,
}

/// The requests waiting, by caller, in the order the callers take their turns.
#[derive(Default)]
pub(super) struct EmbedQueue {
    callers: VecDeque<CallerJobs>,
}

impl EmbedQueue {
    pub fn push(&mut self, owner: Option<CacheOwner>, id: u64, lengths: Vec<usize>) {
        let pending = Pending {
            id,
            lengths,
            next: 0,
        };
        match self.callers.iter_mut().find(|caller| caller.owner == owner) {
            Some(caller) => caller.jobs.push_back(pending),
            None => self.callers.push_back(CallerJobs {
                owner,
                jobs: VecDeque::from([pending]),
            }),
        }
    }

    /// Forgets a request (finished, failed or cancelled).
    pub fn remove(&mut self, id: u64) {
        for caller in &mut self.callers {
            caller.jobs.retain(|job| job.id != id);
        }
        self.callers.retain(|caller| !caller.jobs.is_empty());
    }

    pub fn is_empty(&self) -> bool {
        self.callers.is_empty()
    }

    /// The inputs of the next decode, as (request id, input index): whole inputs of at most
    /// `max_tokens` tokens and `max_seqs` sequences in all, one per caller per round. An input
    /// longer than `max_tokens` (up to the context, checked on submission) goes alone. The
    /// next decode starts its rounds with the next caller.
    pub fn plan(&mut self, max_tokens: usize, max_seqs: usize) -> Vec<(u64, usize)> {
        let mut planned = Vec::new();
        let mut tokens = 0;
        let mut done = vec![false; self.callers.len()];
        loop {
            let mut progressed = false;
            for (caller, done) in self.callers.iter_mut().zip(done.iter_mut()) {
                if *done || planned.len() >= max_seqs {
                    continue;
                }
                let Some(job) = caller.jobs.iter_mut().find(|j| j.next < j.lengths.len()) else {
                    *done = true;
                    continue;
                };
                let length = job.lengths[job.next];
                if !planned.is_empty() && tokens + length > max_tokens {
                    // This caller's next input waits for the next decode; the others may
                    // still have shorter ones that fit.
                    *done = true;
                    continue;
                }
                planned.push((job.id, job.next));
                job.next += 1;
                tokens += length;
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        self.callers.rotate_left(1.min(self.callers.len()));
        planned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(n: u8) -> Option<CacheOwner> {
        Some(CacheOwner([n; 32]))
    }

    #[test]
    fn callers_take_turns_within_a_decode_and_lead_in_turn() {
        let mut queue = EmbedQueue::default();
        queue.push(owner(1), 10, vec![4; 100]);
        queue.push(owner(2), 20, vec![4; 3]);
        // 12 tokens: three inputs, alternating from the first caller.
        assert_eq!(queue.plan(12, 64), [(10, 0), (20, 0), (10, 1)]);
        // The second caller leads the next decode.
        assert_eq!(queue.plan(12, 64), [(20, 1), (10, 2), (20, 2)]);
        // Its inputs are all planned: the first caller has the decode to itself.
        assert_eq!(queue.plan(8, 64), [(10, 3), (10, 4)]);
        queue.remove(20);
        assert_eq!(queue.plan(8, 1), [(10, 5)]);
        queue.remove(10);
        assert!(queue.is_empty());
    }

    #[test]
    fn a_callers_requests_run_in_order_and_count_as_one_caller() {
        let mut queue = EmbedQueue::default();
        queue.push(owner(1), 1, vec![2]);
        queue.push(owner(1), 2, vec![2, 2]);
        queue.push(None, 3, vec![2, 2]);
        assert_eq!(queue.plan(8, 64), [(1, 0), (3, 0), (2, 0), (3, 1)]);
    }

    #[test]
    fn a_long_input_goes_alone_and_short_ones_fill_the_gaps() {
        let mut queue = EmbedQueue::default();
        queue.push(owner(1), 1, vec![900, 5]);
        queue.push(owner(2), 2, vec![300, 5]);
        assert_eq!(queue.plan(512, 64), [(1, 0)]);
        // 300 + 5 fit; the first caller's 5 too.
        assert_eq!(queue.plan(512, 64), [(2, 0), (1, 1), (2, 1)]);
        assert!(queue.plan(512, 64).is_empty());
    }
}
