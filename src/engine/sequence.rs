//! One generation holding a slot: its sampler, its position, and turning its sampled tokens
//! into text events.

use std::time::{Duration, Instant};

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::OwnedSemaphorePermit;

use super::admission::CallerPermit;
use super::guide::{Guide, Progress, BROKEN};
use super::logprobs;
use super::text::{StopMatcher, StopScan, Utf8Decoder};
use super::{Event, Finish, FinishReason, GenerationRequest};

pub(super) struct Job {
    pub request: GenerationRequest,
    pub events: UnboundedSender<Event>,
    /// Held until the job ends: the engine's admission (queue) capacity.
    pub _admission: OwnedSemaphorePermit,
    /// Held until the job ends: one of its caller's places (`CallerLimits`).
    pub _caller: CallerPermit,
    /// The request's other choices (`n`): same prompt, their own events. They take slots when
    /// this job does and start from its prompt's cells.
    pub followers: Vec<Job>,
    /// When the engine accepted it: its time to first token counts from here.
    pub submitted: Instant,
}

pub(super) struct Sequence {
    pub seq_id: i32,
    pub job: Job,
    sampler: LlamaSampler,
    /// The tokens in this sequence's KV cells, in order (the next position is their count).
    pub kv_tokens: Vec<LlamaToken>,
    /// Prompt tokens in the KV cells or sent to the batch.
    pub prompt_sent: usize,
    /// Prompt tokens found in the cache instead of being prefilled.
    cached: usize,
    /// The last sampled token, to be decoded next.
    pub next_token: Option<LlamaToken>,
    /// Batch index whose logits are this sequence's next distribution.
    pub logits_at: Option<i32>,
    /// Tokens generated so far (end-of-generation tokens are not counted).
    pub generated: u32,
    /// When its first token was sampled.
    first_token: Option<Instant>,
    /// Sampled but never decoded: tokens the next turn's prompt starts with, once finished.
    owed: Option<Owed>,
    decoder: Utf8Decoder,
    stop: StopMatcher,
    pub guide: Guide,
    /// A follower waits for the slot and admission serial of the choice that prefills its
    /// prompt; it then gets that one's cells and first distribution.
    pub awaits: Option<(usize, u64)>,
    /// When this sequence was admitted, unique per engine: tells a slot's new occupant from
    /// the one a follower waits for.
    pub serial: u64,
}

/// What sampling one token did to a sequence.
pub(super) enum Outcome {
    Going,
    Finished(Finish),
    /// The sequence cannot go on (its grammar broke); the reason is a fixed text.
    Failed(&'static str),
}

/// Why the slot's cells stop short of the conversation as the client will send it back.
#[derive(Clone, Copy)]
enum Owed {
    /// The model ended its turn: the template's turn boundary follows the reply.
    Boundary,
    /// `max_tokens` cut the reply: its last token, then the boundary.
    LastTokenAndBoundary(LlamaToken),
}

impl Sequence {
    /// A sequence whose slot already holds the first `reused` prompt tokens.
    pub fn new(seq_id: i32, job: Job, n_vocab: i32, reused: usize, serial: u64) -> Self {
        let sampler = job.request.sampling.build(n_vocab);
        let guide = Guide::new(job.request.constraint.as_ref());
        // Stop sequences never cut grammar-constrained text: that would end it unfinished.
        let stops = match guide {
            Guide::Active { .. } => Vec::new(),
            _ => job.request.stop.clone(),
        };
        let stop = StopMatcher::new(stops);
        let kv_tokens = job.request.prompt[..reused].to_vec();
        Self {
            seq_id,
            job,
            sampler,
            kv_tokens,
            prompt_sent: reused,
            cached: reused,
            next_token: None,
            logits_at: None,
            generated: 0,
            first_token: None,
            owed: None,
            decoder: Utf8Decoder::default(),
            stop,
            guide,
            awaits: None,
            serial,
        }
    }

    /// Another choice of `leader`'s request: it never prefills; its prompt's cells are copied
    /// from the leader's slot when the leader has decoded them.
    pub fn follower(seq_id: i32, job: Job, n_vocab: i32, leader: &Sequence, serial: u64) -> Self {
        let prompt = job.request.prompt.len();
        let mut follower = Self::new(seq_id, job, n_vocab, 0, serial);
        follower.kv_tokens = follower.job.request.prompt.clone();
        follower.prompt_sent = prompt;
        follower.cached = leader.cached;
        follower.awaits = Some((leader_slot(leader), leader.serial));
        follower
    }

    /// Whether the last prompt token went into the batch just decoded: its logits are the
    /// first distribution, which the request's followers share.
    pub fn prompt_just_decoded(&self) -> bool {
        self.generated == 0 && self.prompt_remaining().is_empty() && self.logits_at.is_some()
    }

    /// The position the next token goes to.
    pub fn position(&self) -> i32 {
        i32::try_from(self.kv_tokens.len()).unwrap_or(i32::MAX)
    }

    pub fn prompt_remaining(&self) -> &[LlamaToken] {
        &self.job.request.prompt[self.prompt_sent..]
    }

    /// Once the sequence is over: the job, the tokens left in the slot's KV cells, and the
    /// tokens the next turn's prompt should continue them with (empty if unknown, e.g. after a
    /// stop sequence, whose text the client does not send back).
    pub fn into_parts(self) -> (Job, Vec<LlamaToken>, Vec<LlamaToken>) {
        let boundary = self.job.request.next_turn.as_deref().unwrap_or_default();
        let owed = match self.owed {
            // Without a known boundary, the last token alone would rarely match.
            _ if boundary.is_empty() => Vec::new(),
            Some(Owed::Boundary) => boundary.to_vec(),
            Some(Owed::LastTokenAndBoundary(last)) => std::iter::once(last)
                .chain(boundary.iter().copied())
                .collect(),
            None => Vec::new(),
        };
        (self.job, self.kv_tokens, owed)
    }

    /// Takes the leader's prompt cells (already copied into this slot) and its logits.
    pub fn start_from(&mut self, logits_at: i32) {
        self.awaits = None;
        self.logits_at = Some(logits_at);
    }

    /// Called before each sampling: the first time, how long the request waited for its
    /// first token since it was submitted.
    pub fn first_token(&mut self) -> Option<Duration> {
        if self.first_token.is_some() {
            return None;
        }
        let now = Instant::now();
        self.first_token = Some(now);
        Some(now.saturating_duration_since(self.job.submitted))
    }

    /// Tokens per second after the first one: how fast the reply streamed once it started,
    /// without its queueing and prefill. `None` below two tokens, which measure no interval.
    pub fn decode_rate(&self) -> Option<f64> {
        let since_first = self.first_token?.elapsed().as_secs_f64();
        let after_first = self.generated.checked_sub(1).filter(|&n| n > 0)?;
        (since_first > 0.0).then(|| f64::from(after_first) / since_first)
    }

    pub fn is_cancelled(&self) -> bool {
        self.job.events.is_closed()
    }

    pub fn fail(&self, reason: &str) {
        let _ = self.job.events.send(Event::Failed(reason.to_owned()));
    }

    /// Samples from this sequence's logits and handles the token.
    pub fn sample(
        &mut self,
        context: &llama_cpp_2::context::LlamaContext,
        index: i32,
        model: &LlamaModel,
        piece: &mut Vec<u8>,
    ) -> Outcome {
        let Some(token) = self.guide.pick(&mut self.sampler, context, index) else {
            return Outcome::Failed(BROKEN);
        };
        let vocab = model.vocab();
        if let (Some(top), false) = (self.job.request.logprobs, vocab.is_eog(token)) {
            let logprob = logprobs::of(context.get_logits_ith(index), token, top.into(), model);
            let _ = self.job.events.send(Event::Logprob(logprob));
        }
        let reason = if vocab.is_eog(token) {
            self.owed = Some(Owed::Boundary);
            Some(FinishReason::Stop)
        } else {
            self.generated += 1;
            piece.clear();
            vocab.token_to_piece_into(token, piece, false, None);
            let was_waiting = matches!(self.guide, Guide::Waiting { .. });
            let progress = self.guide.advance(token, piece);
            let text = self.decoder.push(piece);
            match self.stop.push(&text) {
                StopScan::Stopped(text) => {
                    self.emit(text);
                    return Outcome::Finished(self.finish(FinishReason::Stop));
                }
                StopScan::Continue(text) => self.emit(text),
            }
            if was_waiting && matches!(self.guide, Guide::Active { .. }) {
                // The trigger was generated: from here on, stop sequences no longer apply
                // (see `new`), and text they held back is released.
                let held = self.stop.finish();
                self.emit(held);
                self.stop = StopMatcher::new(Vec::new());
            }
            match progress {
                Progress::Broken(reason) => return Outcome::Failed(reason),
                // The grammar allows nothing more: the reply is complete, its last token is
                // owed to the cache like a cut one's.
                Progress::Complete => {
                    self.owed = Some(Owed::LastTokenAndBoundary(token));
                    Some(FinishReason::Stop)
                }
                Progress::Going => {
                    let at_limit = self.generated >= self.job.request.max_tokens;
                    if at_limit {
                        self.owed = Some(Owed::LastTokenAndBoundary(token));
                    }
                    at_limit.then_some(FinishReason::Length)
                }
            }
        };
        match reason {
            Some(reason) => {
                // Text held back was not part of a stop sequence after all.
                self.decoder.finish();
                let held = self.stop.finish();
                self.emit(held);
                Outcome::Finished(self.finish(reason))
            }
            None => {
                self.next_token = Some(token);
                Outcome::Going
            }
        }
    }

    fn emit(&self, text: String) {
        if !text.is_empty() {
            let _ = self.job.events.send(Event::Text(text));
        }
    }

    fn finish(&self, reason: FinishReason) -> Finish {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Finish {
            reason,
            prompt_tokens: count(self.job.request.prompt.len()),
            completion_tokens: self.generated,
            cached_tokens: count(self.cached),
            stop_sequence: self.stop.matched(),
        }
    }
}

/// A sequence's slot is its sequence id.
fn leader_slot(leader: &Sequence) -> usize {
    usize::try_from(leader.seq_id).unwrap_or(usize::MAX)
}
