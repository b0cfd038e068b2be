//! The path both completion endpoints share once the prompt is known: fit it into the model's
//! context, submit it to the engine, then answer (see [`reply`](super::reply)).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderValue;
use axum::response::Response;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::mpsc::UnboundedReceiver;

use super::error::{ApiError, ApiResult};
use super::reply::{self, Meta, Shape};
use super::request::Settings;
use super::stream;
use crate::engine::{CacheOwner, Constraint, Event, GenerationRequest};
use crate::models::LoadedModel;

/// Names `--max-tokens-default` on a reply whose request set no `max_tokens`, so a client
/// whose reply ends at `length` can tell the server chose that limit, not the model.
pub const MAX_TOKENS_DEFAULT_HEADER: &str = "x-sotto-max-tokens-default";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Text,
}

/// A prompt ready for the engine, with how its reply must be made and shaped.
pub struct Submission {
    pub kind: Kind,
    pub prompt: Vec<LlamaToken>,
    /// The request field the prompt came from, named in context errors.
    pub prompt_param: &'static str,
    pub settings: Settings,
    pub constraint: Option<Constraint>,
    pub shape: Shape,
}

/// Tokenizes off the async runtime (a prompt may be megabytes of text).
pub async fn tokenize(
    model: &Arc<LoadedModel>,
    text: String,
    add_bos: bool,
) -> ApiResult<Vec<LlamaToken>> {
    let model = Arc::clone(model);
    tokio::task::spawn_blocking(move || model.engine.tokenize(&text, &[], add_bos))
        .await
        .map_err(ApiError::internal)
}

/// A generation under way: its events, and what its reply needs to know.
pub struct Started {
    pub events: UnboundedReceiver<Event>,
    /// The other choices' events, when the request asked for `n` > 1.
    pub other_choices: Vec<UnboundedReceiver<Event>>,
    pub shape: Shape,
    /// The model's id, as replies name it.
    pub model: String,
    /// The request's settings; `stream` and `include_usage` shape the reply.
    pub stream: bool,
    pub include_usage: bool,
    /// The request asked for logprobs.
    pub logprobs: bool,
    /// `--max-tokens-default`, when it set the budget: [`name_default`] puts it on the reply.
    pub default_budget: Option<u32>,
}

/// Names the server's default completion budget on a reply, when it applied.
pub fn name_default(response: &mut Response, default_budget: Option<u32>) {
    if let Some(default) = default_budget {
        response
            .headers_mut()
            .insert(MAX_TOKENS_DEFAULT_HEADER, HeaderValue::from(default));
    }
}

/// Fits the prompt into the model's context and submits it to the engine. `max_tokens_default`
/// is the completion budget of a request that sets none (`None`: the rest of the context).
pub fn start(
    model: &LoadedModel,
    submission: Submission,
    max_tokens_default: Option<u32>,
    cache_owner: CacheOwner,
) -> ApiResult<Started> {
    let Submission {
        kind,
        prompt,
        prompt_param,
        settings,
        constraint,
        shape,
    } = submission;
    let budget = fit_context(
        model.engine.slot_context() as usize,
        prompt.len(),
        prompt_param,
        settings.max_tokens,
        max_tokens_default,
    )?;
    let max = model.engine.max_choices();
    if settings.n > max {
        return Err(ApiError::invalid_value(
            "n",
            format!("`n` must be at most {max} here: the choices start together, one per slot (`--parallel`), and each counts as a request of its caller (`--max-requests-per-caller`)."),
        ));
    }
    let logprobs = settings.logprobs;
    let request = GenerationRequest {
        logprobs,
        prompt,
        sampling: settings.sampling_for(model.engine.model().n_vocab())?,
        max_tokens: budget.max_tokens,
        stop: settings.stop,
        cache_owner: Some(cache_owner),
        next_turn: match kind {
            Kind::Chat => model.turn_boundary.clone(),
            Kind::Text => None,
        },
        constraint,
    };
    let mut choices = model
        .engine
        .submit_choices(request, settings.n)?
        .into_iter();
    let events = choices.next().ok_or_else(ApiError::engine_stopped)?;
    Ok(Started {
        events,
        other_choices: choices.collect(),
        shape,
        model: model.id.clone(),
        stream: settings.stream,
        include_usage: settings.include_usage,
        logprobs: logprobs.is_some(),
        default_budget: budget.default,
    })
}

/// Seconds since the epoch, as replies date themselves.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs the generation and answers in chat's or legacy completions' form.
pub async fn respond(
    model: Arc<LoadedModel>,
    submission: Submission,
    max_tokens_default: Option<u32>,
    cache_owner: CacheOwner,
) -> ApiResult<Response> {
    let prefix = match submission.kind {
        Kind::Chat => "chatcmpl",
        Kind::Text => "cmpl",
    };
    let started = start(&model, submission, max_tokens_default, cache_owner)?;
    let meta = Meta {
        id: format!("{prefix}-{}", uuid::Uuid::new_v4().simple()),
        created: now(),
        model: started.model.clone(),
        logprobs: started.logprobs,
    };
    let default_budget = started.default_budget;
    let mut choices = vec![started.events];
    choices.extend(started.other_choices);
    let mut response = if started.stream {
        stream::stream(meta, started.shape, choices, started.include_usage)
    } else {
        reply::collect(meta, started.shape, choices).await?
    };
    name_default(&mut response, default_budget);
    Ok(response)
}

/// How many tokens a completion may have.
#[derive(Debug, PartialEq, Eq)]
struct Budget {
    max_tokens: u32,
    /// `--max-tokens-default`, when it applied: the request set no `max_tokens`.
    default: Option<u32>,
}

/// The completion budget: what the client asked for, else the server's default, never more
/// than the rest of the slot's `context`. A request that cannot fit is refused; nothing is
/// ever cut off silently (a default that applied is named in the response's headers).
fn fit_context(
    context: usize,
    prompt_len: usize,
    prompt_param: &str,
    requested: Option<u32>,
    default: Option<u32>,
) -> ApiResult<Budget> {
    if prompt_len == 0 {
        return Err(ApiError::invalid_value(
            prompt_param,
            format!("`{prompt_param}` is empty after tokenization."),
        ));
    }
    if prompt_len >= context {
        return Err(ApiError::context_length_exceeded(
            prompt_param,
            format!("This model's context holds {context} tokens per request, and the prompt alone is {prompt_len} tokens. Shorten it."),
        ));
    }
    let room = context - prompt_len;
    match requested {
        Some(max) if max as usize > room => Err(ApiError::context_length_exceeded(
            "max_tokens",
            format!(
                "This model's context holds {context} tokens per request: {prompt_len} in the prompt plus {max} requested for the completion do not fit. Lower `max_tokens` to at most {room} or shorten the prompt."
            ),
        )),
        Some(max) => Ok(Budget {
            max_tokens: max,
            default: None,
        }),
        None => {
            let room = u32::try_from(room).unwrap_or(u32::MAX);
            Ok(Budget {
                max_tokens: default.map_or(room, |default| default.min(room)),
                default,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(requested: Option<u32>, default: Option<u32>) -> Option<Budget> {
        fit_context(100, 40, "messages", requested, default).ok()
    }

    fn tokens(max_tokens: u32, default: Option<u32>) -> Option<Budget> {
        Some(Budget {
            max_tokens,
            default,
        })
    }

    #[test]
    fn the_default_applies_only_without_max_tokens_and_within_the_context() {
        assert_eq!(budget(Some(8), Some(5)), tokens(8, None));
        assert_eq!(budget(None, Some(5)), tokens(5, Some(5)));
        // 60 tokens of room left: the default cannot give more.
        assert_eq!(budget(None, Some(2048)), tokens(60, Some(2048)));
        assert_eq!(budget(None, None), tokens(60, None));
    }

    #[test]
    fn what_cannot_fit_is_refused() {
        assert_eq!(budget(Some(61), Some(5)), None);
        assert!(fit_context(100, 100, "prompt", None, Some(5)).is_err());
        assert!(fit_context(100, 0, "prompt", None, Some(5)).is_err());
    }
}
