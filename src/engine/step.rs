//! One engine step: plans the prompt chunks the pacer allows, fills the batch in slot order,
//! decodes it while grammar masks are computed beside it, and samples every sequence the
//! decode gave logits for.

use std::sync::atomic::Ordering;
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;

use super::kv::{clear_cells, clear_slots};
use super::sequence::Outcome;
use super::worker::Scheduler;
use super::Event;

impl Scheduler<'_> {
    /// One decode: every generating sequence's next token plus prompt chunks, paced so the
    /// generating ones are not held up for long, shortest prompt first so that short prompts
    /// get their first token without waiting behind a long one.
    pub(super) fn step(&mut self, context: &mut LlamaContext) {
        let started = Instant::now();
        let generating = self
            .slots
            .iter()
            .flatten()
            .filter(|seq| seq.next_token.is_some())
            .count();
        let capacity = usize::try_from(context.n_batch()).unwrap_or(usize::MAX);
        let prompt_tokens = self.plan_prompt_chunks(self.pacer.budget(generating, capacity));
        self.fill_batch();
        if self.batch.n_tokens() == 0 {
            return;
        }
        if let Err(error) = self.decode_and_mask(context) {
            tracing::error!(%error, tokens = self.batch.n_tokens(), "decode failed");
            self.fail_all(context);
            return;
        }
        self.fan_out(context);
        self.sample_all(context);
        let took = started.elapsed();
        tracing::trace!(
            generating,
            prompt_tokens,
            took_ms = took.as_millis() as u64,
            "decode step"
        );
        self.pacer.record(generating, prompt_tokens, took);
    }

    /// Decodes the batch while another thread computes the grammar masks constrained
    /// sequences will sample with next: a mask depends only on the tokens already chosen, so
    /// it need not wait for the logits, and the step waits for masks only when they take
    /// longer than the decode itself.
    fn decode_and_mask(
        &mut self,
        context: &mut LlamaContext,
    ) -> Result<(), llama_cpp_2::DecodeError> {
        let mut guides: Vec<_> = self
            .slots
            .iter_mut()
            .flatten()
            .map(|seq| &mut seq.guide)
            .filter(|guide| guide.needs_mask())
            .collect();
        if guides.is_empty() {
            return context.decode(&mut self.batch);
        }
        let batch = &mut self.batch;
        std::thread::scope(|scope| {
            let masks = scope.spawn(move || guides.iter_mut().for_each(|g| g.prepare_mask()));
            let decoded = context.decode(batch);
            // A panic in llguidance only loses the masks: `pick` computes them again.
            let _ = masks.join();
            decoded
        })
    }

    /// Shares `budget` prompt tokens among the prefilling sequences, shortest remaining prompt
    /// first, into `self.chunks` (by slot); returns how many.
    fn plan_prompt_chunks(&mut self, budget: usize) -> usize {
        let slots = &self.slots;
        self.prefilling.clear();
        self.prefilling.extend((0..slots.len()).filter(|&i| {
            slots[i]
                .as_ref()
                .is_some_and(|seq| !seq.prompt_remaining().is_empty())
        }));
        self.prefilling.sort_by_key(|&i| {
            slots[i]
                .as_ref()
                .map_or(usize::MAX, |seq| seq.prompt_remaining().len())
        });
        self.chunks.fill(0);
        let mut planned = 0;
        for &index in &self.prefilling {
            let remaining = slots[index]
                .as_ref()
                .map_or(0, |seq| seq.prompt_remaining().len());
            self.chunks[index] = remaining.min(budget - planned);
            planned += self.chunks[index];
            if planned == budget {
                break;
            }
        }
        planned
    }

    /// Fills the batch in slot order: each generating sequence's last sampled token, each
    /// prefilling one's planned chunk. llama.cpp splits a batch over per-slot KV streams into
    /// passes of consecutive sequence ids taking equally many tokens each, so slot order is
    /// what lets every sequence's first token share one pass.
    fn fill_batch(&mut self) {
        self.batch.clear();
        for (slot, &chunk) in self.slots.iter_mut().zip(&self.chunks) {
            let Some(seq) = slot.as_mut() else {
                continue;
            };
            if let Some(token) = seq.next_token {
                if self
                    .batch
                    .add(token, seq.position(), &[seq.seq_id], true)
                    .is_ok()
                {
                    seq.next_token = None;
                    seq.kv_tokens.push(token);
                    seq.logits_at = Some(self.batch.n_tokens() - 1);
                }
                continue;
            }
            // Indices, not a copied chunk: this runs for every sequence at every step.
            let ends_prompt = chunk == seq.prompt_remaining().len();
            for offset in 0..chunk {
                let token = seq.prompt_remaining()[0];
                let last = ends_prompt && offset + 1 == chunk;
                if self
                    .batch
                    .add(token, seq.position(), &[seq.seq_id], last)
                    .is_err()
                {
                    break;
                }
                seq.kv_tokens.push(token);
                seq.prompt_sent += 1;
                self.stats.prefilled_tokens.fetch_add(1, Ordering::Relaxed);
                if last {
                    seq.logits_at = Some(self.batch.n_tokens() - 1);
                }
            }
        }
    }

    /// Samples every sequence whose logits the last decode produced; hands finished ones'
    /// cells to the prompt cache and tells their clients.
    fn sample_all(&mut self, context: &mut LlamaContext) {
        for index in 0..self.slots.len() {
            let Some(seq) = self.slots[index].as_mut() else {
                continue;
            };
            let Some(at) = seq.logits_at.take() else {
                continue;
            };
            let (waited, generated) = (seq.first_token(), seq.generated);
            let outcome = seq.sample(context, at, self.model, &mut self.piece);
            self.stats
                .metrics
                .sampled(waited, seq.generated - generated);
            let finish = match outcome {
                Outcome::Going => continue,
                Outcome::Finished(finish) => finish,
                Outcome::Failed(reason) => {
                    // Its cells hold text the grammar refused: nothing worth caching.
                    if let Some(seq) = self.slots[index].take() {
                        tracing::debug!(seq = seq.seq_id, reason, "sequence failed");
                        clear_cells(context, seq.seq_id);
                        seq.fail(reason);
                    }
                    self.publish();
                    continue;
                }
            };
            let Some(seq) = self.slots[index].take() else {
                continue;
            };
            self.stats.metrics.finished(seq.decode_rate());
            // Slot, cache and admission are settled before the client hears it is done, so
            // whatever it does next sees them free.
            let (job, kv_tokens, owed) = seq.into_parts();
            let evicted = self
                .cache
                .keep(index, job.request.cache_owner, kv_tokens, owed);
            clear_slots(context, &evicted);
            self.publish();
            let events = job.events.clone();
            drop(job);
            let _ = events.send(Event::Done(finish));
        }
    }

    /// After a failed decode the batch's sequences are in an unknown state: end them all.
    fn fail_all(&mut self, context: &mut LlamaContext) {
        for slot in &mut self.slots {
            if let Some(seq) = slot.take() {
                seq.fail("the engine could not decode this batch");
                clear_cells(context, seq.seq_id);
            }
        }
    }
}
