//! The path both completion endpoints share once the prompt is known: fit it into the model's
//! context, submit it to the engine, then answer as one JSON object or as a server-sent event
//! stream. Only the JSON shapes differ between chat and text completions.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use llama_cpp_2::token::LlamaToken;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use super::error::{ApiError, ApiResult};
use super::request::Settings;
use crate::engine::{CacheOwner, Event, Finish, FinishReason, GenerationRequest};
use crate::models::LoadedModel;

/// Names `--max-tokens-default` on a reply whose request set no `max_tokens`, so a client
/// whose reply ends at `length` can tell the server chose that limit, not the model.
pub const MAX_TOKENS_DEFAULT_HEADER: &str = "x-sotto-max-tokens-default";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Text,
}

/// The identity of one response, repeated in every chunk.
struct Meta {
    kind: Kind,
    id: String,
    created: u64,
    model: String,
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

/// Runs the generation and answers in the requested form. `max_tokens_default` is the
/// completion budget of a request that sets none (`None`: the rest of the context).
pub async fn respond(
    kind: Kind,
    model: Arc<LoadedModel>,
    prompt: Vec<LlamaToken>,
    prompt_param: &str,
    settings: Settings,
    max_tokens_default: Option<u32>,
    cache_owner: CacheOwner,
) -> ApiResult<Response> {
    let budget = fit_context(
        model.engine.slot_context() as usize,
        prompt.len(),
        prompt_param,
        settings.max_tokens,
        max_tokens_default,
    )?;
    let request = GenerationRequest {
        prompt,
        sampling: settings.sampling_for(model.engine.model().n_vocab())?,
        max_tokens: budget.max_tokens,
        stop: settings.stop,
        cache_owner: Some(cache_owner),
        next_turn: match kind {
            Kind::Chat => model.turn_boundary.clone(),
            Kind::Text => None,
        },
        constraint: settings.constraint,
    };
    let events = model.engine.submit(request)?;
    let meta = Meta {
        kind,
        id: format!(
            "{}-{}",
            if kind == Kind::Chat {
                "chatcmpl"
            } else {
                "cmpl"
            },
            uuid::Uuid::new_v4().simple()
        ),
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        model: model.id.clone(),
    };
    let mut response = if settings.stream {
        stream(meta, events, settings.include_usage)
    } else {
        collect(meta, events).await?
    };
    if let Some(default) = budget.default {
        response
            .headers_mut()
            .insert(MAX_TOKENS_DEFAULT_HEADER, HeaderValue::from(default));
    }
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

async fn collect(meta: Meta, mut events: UnboundedReceiver<Event>) -> ApiResult<Response> {
    let mut text = String::new();
    while let Some(event) = events.recv().await {
        match event {
            Event::Text(piece) => text.push_str(&piece),
            Event::Done(finish) => {
                let choice = match meta.kind {
                    Kind::Chat => json!({
                        "index": 0,
                        "message": { "role": "assistant", "content": text },
                        "logprobs": null,
                        "finish_reason": finish_reason(finish.reason),
                    }),
                    Kind::Text => json!({
                        "index": 0,
                        "text": text,
                        "logprobs": null,
                        "finish_reason": finish_reason(finish.reason),
                    }),
                };
                let body = json!({
                    "id": meta.id,
                    "object": if meta.kind == Kind::Chat { "chat.completion" } else { "text_completion" },
                    "created": meta.created,
                    "model": meta.model,
                    "choices": [choice],
                    "usage": usage(&finish),
                });
                return Ok(axum::Json(body).into_response());
            }
            Event::Failed(reason) => return Err(ApiError::generation_failed(&reason)),
        }
    }
    Err(ApiError::generation_failed("the engine stopped"))
}

fn stream(meta: Meta, mut events: UnboundedReceiver<Event>, include_usage: bool) -> Response {
    let body = async_stream::stream! {
        if meta.kind == Kind::Chat {
            yield data(&chunk(&meta, json!({ "role": "assistant", "content": "" }), None, include_usage));
        }
        loop {
            match events.recv().await {
                Some(Event::Text(piece)) => {
                    let delta = match meta.kind {
                        Kind::Chat => json!({ "content": piece }),
                        Kind::Text => Value::String(piece),
                    };
                    yield data(&chunk(&meta, delta, None, include_usage));
                }
                Some(Event::Done(finish)) => {
                    let delta = match meta.kind {
                        Kind::Chat => json!({}),
                        Kind::Text => Value::String(String::new()),
                    };
                    yield data(&chunk(&meta, delta, Some(finish.reason), include_usage));
                    if include_usage {
                        let mut last = envelope(&meta, Vec::new());
                        last["usage"] = usage(&finish);
                        yield data(&last);
                    }
                    yield Ok(SseEvent::default().data("[DONE]"));
                    break;
                }
                Some(Event::Failed(reason)) => {
                    yield data(&ApiError::generation_failed(&reason).body());
                    break;
                }
                None => {
                    yield data(&ApiError::generation_failed("the engine stopped").body());
                    break;
                }
            }
        }
    };
    sse_response(body)
}

fn sse_response(
    body: impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static,
) -> Response {
    let mut response = Sse::new(body)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Tell reverse proxies such as nginx to pass each token on at once.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

fn data(value: &impl serde::Serialize) -> Result<SseEvent, Infallible> {
    let json = serde_json::to_string(value).unwrap_or_default();
    Ok(SseEvent::default().data(json))
}

/// One chunk with a single choice; chat puts the text under `delta`, text completions under
/// `text`.
fn chunk(meta: &Meta, delta: Value, finish: Option<FinishReason>, include_usage: bool) -> Value {
    let reason = finish.map(finish_reason);
    let choice = match meta.kind {
        Kind::Chat => {
            json!({ "index": 0, "delta": delta, "logprobs": null, "finish_reason": reason })
        }
        Kind::Text => {
            json!({ "index": 0, "text": delta, "logprobs": null, "finish_reason": reason })
        }
    };
    let mut chunk = envelope(meta, vec![choice]);
    if include_usage {
        chunk["usage"] = Value::Null;
    }
    chunk
}

fn envelope(meta: &Meta, choices: Vec<Value>) -> Value {
    json!({
        "id": meta.id,
        "object": if meta.kind == Kind::Chat { "chat.completion.chunk" } else { "text_completion" },
        "created": meta.created,
        "model": meta.model,
        "choices": choices,
    })
}

fn usage(finish: &Finish) -> Value {
    json!({
        "prompt_tokens": finish.prompt_tokens,
        "completion_tokens": finish.completion_tokens,
        "total_tokens": finish.prompt_tokens + finish.completion_tokens,
        "prompt_tokens_details": { "cached_tokens": finish.cached_tokens },
    })
}

fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
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
