//! The conversation scenario: one client holds a multi-turn chat, sending back each reply it
//! gets. With a prompt cache, a follow-up's time to first token depends on its new tokens only,
//! so the last turn's should be close to the first's although its prompt is many times longer.

use std::time::Duration;

use serde_json::{json, Value};

use crate::load::{self, Plan, Target};
use crate::stats::{median, ms};

/// First messages; conversation `i` opens with `OPENERS[i]`, so no two share more than the
/// template's preamble and one cannot warm the cache for the next.
const OPENERS: &[&str] = &[
    "I want to plan a vegetable garden on a small balcony. Where do I start?",
    "Can you help me understand how compound interest works?",
    "I'm learning to cook. What should I know about kitchen knives?",
    "Tell me about the history of the bicycle.",
    "How do I prepare for a job interview as a junior developer?",
];

/// Follow-ups, sent in order after the opener.
const FOLLOW_UPS: &[&str] = &[
    "Interesting. Can you go into more detail on the first point?",
    "What mistakes do beginners usually make there?",
    "Give me a short checklist I can print.",
    "How much time should I expect this to take each week?",
    "What would you do differently if the budget were tight?",
    "Can you summarise what we discussed so far?",
    "Which of these points matters most, and why?",
    "Suggest one thing I could try this weekend.",
    "Thanks. Any last advice?",
];

/// What the scenario runs.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    pub turns: usize,
    pub conversations: usize,
    /// Pause before every turn but the very first (reading and typing).
    pub think: Duration,
}

/// Times to first token by turn, over several conversations.
#[derive(Debug, Clone, Default)]
pub struct ConversationStats {
    pub shape: Shape,
    /// Median over conversations of each turn's time to first token, in ms.
    pub ttft_ms: Vec<f64>,
    /// The very first turn's, when nothing was cached yet. Later conversations' first turns
    /// may find the chat template's preamble (a default system prompt) cached.
    pub cold_ttft_ms: Option<f64>,
    /// The last turn's prompt tokens and cached prompt tokens (medians), when the server says.
    pub last_prompt_tokens: Option<f64>,
    pub last_cached_tokens: Option<f64>,
    pub errors: usize,
    pub first_error: Option<String>,
}

impl ConversationStats {
    /// Last turn's time to first token over the first's.
    pub fn growth(&self) -> Option<f64> {
        let (first, last) = (self.ttft_ms.first()?, self.ttft_ms.last()?);
        (*first > 0.0).then(|| last / first)
    }

    /// Last turn's time to first token over the cold first turn's.
    pub fn growth_from_cold(&self) -> Option<f64> {
        let (cold, last) = (self.cold_ttft_ms?, self.ttft_ms.last()?);
        (cold > 0.0).then(|| last / cold)
    }
}

/// Runs `shape.conversations` conversations of `shape.turns` turns one after the other.
pub async fn run(
    client: &reqwest::Client,
    target: &Target,
    plan: &Plan,
    shape: &Shape,
) -> ConversationStats {
    let turns = shape.turns;
    let mut by_turn: Vec<Vec<f64>> = vec![Vec::new(); turns];
    let (mut prompts, mut cached) = (Vec::new(), Vec::new());
    let mut stats = ConversationStats {
        shape: shape.clone(),
        ..ConversationStats::default()
    };
    for index in 0..shape.conversations {
        let mut messages = Vec::new();
        for (turn, ttfts) in by_turn.iter_mut().enumerate() {
            if index > 0 || turn > 0 {
                tokio::time::sleep(shape.think).await;
            }
            let user = match turn {
                0 => OPENERS[index % OPENERS.len()],
                n => FOLLOW_UPS[(n - 1) % FOLLOW_UPS.len()],
            };
            messages.push(json!({ "role": "user", "content": user }));
            let body = plan.chat_body(&Value::Array(messages.clone()), plan.max_tokens);
            let sample = load::request(client, target, &body).await;
            let first = sample.first_token();
            if let (None, Some(first)) = (&sample.error, first) {
                let ttft = ms(first.duration_since(sample.started));
                if index == 0 && turn == 0 {
                    stats.cold_ttft_ms = Some(ttft);
                }
                ttfts.push(ttft);
                if turn + 1 == turns {
                    prompts.extend(sample.prompt_tokens.map(|t| t as f64));
                    cached.extend(sample.cached_tokens.map(|t| t as f64));
                }
                messages.push(json!({ "role": "assistant", "content": sample.reply }));
                continue;
            }
            stats.errors += 1;
            stats.first_error = stats.first_error.or(sample.error);
            break;
        }
    }
    stats.ttft_ms = by_turn.iter_mut().filter_map(|t| median(t)).collect();
    if stats.ttft_ms.len() < turns {
        // A turn no conversation reached: its figures would describe another turn.
        stats.ttft_ms.clear();
    }
    stats.last_prompt_tokens = median(&mut prompts);
    stats.last_cached_tokens = median(&mut cached);
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_compares_the_last_turn_with_the_first() {
        let stats = ConversationStats {
            ttft_ms: vec![20.0, 25.0, 30.0],
            ..ConversationStats::default()
        };
        assert_eq!(stats.growth(), Some(1.5));
        assert_eq!(ConversationStats::default().growth(), None);
    }
}
