//! `POST /v1/responses`, OpenAI's Responses API, on chat's one path: the request becomes a
//! [`ChatJob`] (input items as messages, flat tools as chat's, `text.format` as the response
//! grammar), chat plans and submits it, and the parser's deltas come back as output items
//! and typed stream events. Nothing is stored: a response cannot be read back, and
//! `previous_response_id` is refused with the way to send the history instead.

mod events;
mod input;
mod job;
mod output;
mod request;

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use self::events::{Items, Sequenced, StreamEvent};
use self::output::{IncompleteDetails, Status, Usage};
pub(crate) use self::request::ResponsesBody;
use super::auth::Caller;
use super::chat;
use super::error::{ApiError, ApiResult};
use super::generate;
use super::json::ApiJson;
use super::reply::{self, ChatOutput, Shape};
use crate::engine::{Finish, FinishReason};
use crate::state::AppState;

pub async fn post(
    State(state): State<AppState>,
    Caller(owner): Caller,
    ApiJson(mut body, ignored): ApiJson<ResponsesBody>,
) -> ApiResult<Response> {
    let (mut echo, job, origins) = job::translate(&mut body)?;
    let named = |error: ApiError| error.renamed(|param| job::rename(&origins, param));
    let (model, submission) = chat::plan(&state, job).await.map_err(named)?;
    let started =
        generate::start(&model, submission, state.max_tokens_default, owner).map_err(named)?;
    let Shape::Chat(parser) = started.shape else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "a chat plan without a parser"
        )));
    };
    echo.model = started.model;
    let outputs = reply::chat_outputs(parser, started.events);
    let mut response = if started.stream {
        reply::sse_response(stream(echo, outputs))
    } else {
        axum::Json(collect(echo, outputs).await?).into_response()
    };
    generate::name_default(&mut response, started.default_budget);
    Ok(ignored.apply(response))
}

/// `GET` and `DELETE /v1/responses/{id}`, and its `input_items`: nothing is stored to answer.
pub async fn stored() -> ApiError {
    ApiError::response_not_stored()
}

/// The whole reply as one Response object.
async fn collect(
    mut response: output::Response,
    outputs: impl futures::Stream<Item = ChatOutput>,
) -> ApiResult<output::Response> {
    futures::pin_mut!(outputs);
    let mut items = Items::default();
    let mut ignored = Vec::new();
    while let Some(output) = outputs.next().await {
        match output {
            ChatOutput::Delta(delta) => items.push(delta, &mut ignored),
            // A Responses request never asks for logprobs (`include` refuses them).
            ChatOutput::Logprob(_) => {}
            ChatOutput::Failed(error) => return Err(error),
            ChatOutput::Done(finish) => {
                end(&mut response, items, &finish, &mut ignored);
                return Ok(response);
            }
        }
        ignored.clear();
    }
    Err(ApiError::engine_stopped())
}

/// Closes the output and dates, counts and marks the response by how generation ended.
fn end(
    response: &mut output::Response,
    mut items: Items,
    finish: &Finish,
    events: &mut Vec<StreamEvent>,
) {
    let cut = finish.reason == FinishReason::Length;
    let status = if cut {
        Status::Incomplete
    } else {
        Status::Completed
    };
    items.finish(status, events);
    response.status = status;
    response.incomplete_details = cut.then_some(IncompleteDetails {
        reason: "max_output_tokens",
    });
    response.output = items.into_output();
    response.usage = Some(Usage::from(finish));
}

/// The reply as OpenAI's typed events, each an SSE `event:` with its JSON `data`.
fn stream(
    mut response: output::Response,
    outputs: impl futures::Stream<Item = ChatOutput> + Send + 'static,
) -> impl futures::Stream<Item = Result<SseEvent, Infallible>> + Send + 'static {
    async_stream::stream! {
        let mut sequence = 0;
        let mut send = |event: &StreamEvent| {
            let data = serde_json::to_string(&Sequenced { event, sequence_number: sequence })
                .unwrap_or_default();
            sequence += 1;
            Ok(SseEvent::default().event(event.name()).data(data))
        };
        yield send(&StreamEvent::Created { response: response.clone() });
        yield send(&StreamEvent::InProgress { response: response.clone() });
        futures::pin_mut!(outputs);
        let mut items = Items::default();
        let mut events = Vec::new();
        while let Some(output) = outputs.next().await {
            match output {
                ChatOutput::Delta(delta) => items.push(delta, &mut events),
                ChatOutput::Logprob(_) => {}
                ChatOutput::Failed(error) => {
                    response.status = Status::Failed;
                    response.error = Some((&error).into());
                    yield send(&StreamEvent::Failed { response });
                    return;
                }
                ChatOutput::Done(finish) => {
                    end(&mut response, items, &finish, &mut events);
                    for event in events.drain(..) {
                        yield send(&event);
                    }
                    let last = match response.status {
                        Status::Incomplete => StreamEvent::Incomplete { response },
                        _ => StreamEvent::Completed { response },
                    };
                    yield send(&last);
                    return;
                }
            }
            for event in events.drain(..) {
                yield send(&event);
            }
        }
    }
}
