//! The load generator: N client tasks sending streaming chat requests back to back.

use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use serde_json::{json, Map, Value};
use tokio::task::JoinSet;

/// Varied prompts: short and long, prose, code and lists. Client `i` starts at prompt `i`.
pub const PROMPTS: &[&str] = &[
    "Tell me a story about a lighthouse keeper who finds a message in a bottle.",
    "Explain how a hash map works, step by step, for a beginner programmer.",
    "Write a Python function that returns the n-th Fibonacci number, with comments.",
    "What are the main causes of the seasons on Earth?",
    "List ten ideas for a rainy weekend with children, with one sentence each.",
    "Describe the water cycle as if you were a raindrop.",
    "Give me a recipe for a simple vegetable soup and explain each step.",
    "Compare trains and planes for a 600 km trip: cost, time, comfort and emissions.",
];

/// What every request of a run looks like, apart from its prompt.
#[derive(Debug, Clone)]
pub struct Plan {
    pub model: String,
    pub max_tokens: u32,
    pub temperature: f64,
    pub seed: u64,
    pub ban_tokens: Vec<u32>,
}

impl Plan {
    pub fn body(&self, prompt: &str, max_tokens: u32) -> Value {
        self.chat_body(&json!([{ "role": "user", "content": prompt }]), max_tokens)
    }

    /// A request continuing a conversation: `messages` is the OpenAI list.
    pub fn chat_body(&self, messages: &Value, max_tokens: u32) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
            "stream": true,
            "stream_options": { "include_usage": true },
        });
        if !self.ban_tokens.is_empty() {
            let bias: Map<String, Value> = self
                .ban_tokens
                .iter()
                .map(|id| (id.to_string(), json!(-100)))
                .collect();
            body["logit_bias"] = Value::Object(bias);
        }
        body
    }
}

/// Where requests go.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub api_key: Option<String>,
}

/// One request, timed.
#[derive(Debug, Clone)]
pub struct Sample {
    pub started: Instant,
    /// Arrival of each chunk carrying text.
    pub token_times: Vec<Instant>,
    /// `usage.completion_tokens`, else the number of text chunks.
    pub completion_tokens: u64,
    /// `usage.prompt_tokens` and `usage.prompt_tokens_details.cached_tokens`, when given.
    pub prompt_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
    /// The text of the reply, for conversations that send it back.
    pub reply: String,
    /// The last `finish_reason` the stream gave (`stop`, `length`...).
    pub finish_reason: Option<String>,
    /// The HTTP status of a refused request (not 2xx), to tell a 4xx from a 5xx.
    pub status: Option<u16>,
    pub error: Option<String>,
}

impl Sample {
    /// An empty sample started now.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            token_times: Vec::new(),
            completion_tokens: 0,
            prompt_tokens: None,
            cached_tokens: None,
            reply: String::new(),
            finish_reason: None,
            status: None,
            error: None,
        }
    }

    pub fn first_token(&self) -> Option<Instant> {
        self.token_times.first().copied()
    }

    pub fn last_token(&self) -> Option<Instant> {
        self.token_times.last().copied()
    }
}

/// Every request of one level on one server.
#[derive(Debug)]
pub struct LevelRun {
    pub clients: u32,
    pub start: Instant,
    /// No request starts after this; tokens after it are not counted.
    pub deadline: Instant,
    pub samples: Vec<Sample>,
}

/// Runs `clients` tasks for `duration`; each loops requests back to back, and finishes the
/// one it is in at the deadline so the server is idle when this returns.
pub async fn run_level(
    client: &reqwest::Client,
    target: &Target,
    plan: &Arc<Plan>,
    clients: u32,
    duration: Duration,
) -> anyhow::Result<LevelRun> {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = JoinSet::new();
    for index in 0..clients {
        let (client, target, plan) = (client.clone(), target.clone(), Arc::clone(plan));
        tasks.spawn(async move {
            let mut samples = Vec::new();
            let mut next = index as usize;
            while Instant::now() < deadline {
                let body = plan.body(PROMPTS[next % PROMPTS.len()], plan.max_tokens);
                let sample = request(&client, &target, &body).await;
                if sample.error.is_some() {
                    // Do not spin on a server that refuses (429, 503...).
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                samples.push(sample);
                next += 1;
            }
            samples
        });
    }
    let mut samples = Vec::new();
    while let Some(done) = tasks.join_next().await {
        samples.extend(done?);
    }
    Ok(LevelRun {
        clients,
        start,
        deadline,
        samples,
    })
}

/// One short request, so that nothing measured pays for first-use costs.
pub async fn warm_up(client: &reqwest::Client, target: &Target, plan: &Plan) -> anyhow::Result<()> {
    let sample = request(client, target, &plan.body(PROMPTS[0], 8)).await;
    match sample.error {
        Some(error) => anyhow::bail!("warm-up request to {} failed: {error}", target.url),
        None => Ok(()),
    }
}

/// Sends one streaming chat request and reads it to the end.
pub async fn request(client: &reqwest::Client, target: &Target, body: &Value) -> Sample {
    request_until(client, target, body, |_| {}, std::future::pending()).await
}

/// Like [`request`], but calls `on_token` with the number of text chunks so far after each
/// one, and hangs up when `stop` completes first (which cancels the request on the server).
/// A stopped request has no error; it just has fewer tokens.
pub async fn request_until(
    client: &reqwest::Client,
    target: &Target,
    body: &Value,
    on_token: impl FnMut(usize),
    stop: impl std::future::Future<Output = ()>,
) -> Sample {
    let mut sample = Sample::new();
    let outcome = tokio::select! {
        outcome = read_stream(client, target, body, &mut sample, on_token) => Some(outcome),
        () = stop => None,
    };
    if let Some(Err(error)) = outcome {
        sample.error = Some(format!("{error:#}"));
    }
    sample
}

async fn read_stream(
    client: &reqwest::Client,
    target: &Target,
    body: &Value,
    sample: &mut Sample,
    on_token: impl FnMut(usize),
) -> anyhow::Result<()> {
    let mut request = client
        .post(format!("{}/v1/chat/completions", target.url))
        .json(body);
    if let Some(key) = &target.api_key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await?;
    let status = response.status();
    if !status.is_success() {
        sample.status = Some(status.as_u16());
        // OpenAI-shaped servers say why in error.message.
        let body: Value = response.json().await.unwrap_or_default();
        match body["error"]["message"].as_str() {
            Some(message) => anyhow::bail!("HTTP {status}: {message}"),
            None => anyhow::bail!("HTTP {status}"),
        }
    }
    read_events(response.bytes_stream(), sample, on_token).await
}

/// Reads a streamed chat completion up to its `[DONE]` event: the arrival of each chunk
/// carrying text, the reply, and the counts of the `usage` chunk.
async fn read_events<B, E>(
    bytes: impl Stream<Item = Result<B, E>>,
    sample: &mut Sample,
    mut on_token: impl FnMut(usize),
) -> anyhow::Result<()>
where
    B: AsRef<[u8]>,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut events = pin!(bytes.eventsource());
    let mut usage = None;
    while let Some(event) = events.next().await {
        let now = Instant::now();
        let payload = match event {
            Ok(event) => event.data,
            // The connection's own error, with its causes.
            Err(EventStreamError::Transport(error)) => return Err(error.into()),
            Err(error) => anyhow::bail!("not an event stream: {error}"),
        };
        if payload == "[DONE]" {
            sample.completion_tokens = usage.unwrap_or(sample.token_times.len() as u64);
            return Ok(());
        }
        let chunk: Value = serde_json::from_str(&payload)?;
        if let Some(error) = chunk.get("error") {
            anyhow::bail!("error event: {}", error["message"]);
        }
        let text = chunk["choices"][0]["delta"]["content"].as_str();
        if let Some(text) = text.filter(|t| !t.is_empty()) {
            sample.token_times.push(now);
            sample.reply.push_str(text);
            on_token(sample.token_times.len());
        }
        if let Some(reason) = chunk["choices"][0]["finish_reason"].as_str() {
            sample.finish_reason = Some(reason.to_owned());
        }
        let counts = &chunk["usage"];
        if let Some(tokens) = counts["completion_tokens"].as_u64() {
            usage = Some(tokens);
            sample.prompt_tokens = counts["prompt_tokens"].as_u64();
            sample.cached_tokens = counts["prompt_tokens_details"]["cached_tokens"].as_u64();
        }
    }
    anyhow::bail!("the stream ended without [DONE]")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event of a streamed chat completion whose delta is `delta`.
    fn event(delta: Value) -> String {
        format!("data: {}\n\n", json!({ "choices": [{ "delta": delta }] }))
    }

    /// Reads `body` as a response arriving `read_size` bytes at a time.
    async fn read(body: &str, read_size: usize) -> (Sample, Vec<usize>, anyhow::Result<()>) {
        let reads: Vec<Result<&[u8], std::io::Error>> =
            body.as_bytes().chunks(read_size).map(Ok).collect();
        let (mut sample, mut counts) = (Sample::new(), Vec::new());
        let on_token = |count| counts.push(count);
        let result = read_events(futures::stream::iter(reads), &mut sample, on_token).await;
        (sample, counts, result)
    }

    #[tokio::test]
    async fn a_stream_is_read_to_done_however_it_is_cut() {
        let usage = json!({ "choices": [], "usage": {
            "prompt_tokens": 12, "completion_tokens": 3,
            "prompt_tokens_details": { "cached_tokens": 8 },
        }});
        let body = [
            ": keep-alive\r\n\r\n".to_owned(),
            // The role comes first, with no text: it is not the first token.
            event(json!({ "role": "assistant", "content": "" })).replace('\n', "\r\n"),
            event(json!({ "content": "Hé" })),
            event(json!({ "content": "llo" })),
            format!(
                "data: {}\n\n",
                json!({ "choices": [{ "delta": {}, "finish_reason": "stop" }] })
            ),
            format!("data: {usage}\n\n"),
            "data:[DONE]\n\n".to_owned(),
        ]
        .concat();
        // One byte at a time cuts `é` in two.
        for read_size in [1, 7, body.len()] {
            let (sample, counts, result) = read(&body, read_size).await;
            result.expect("a complete stream");
            assert_eq!(counts, [1, 2]);
            assert_eq!(sample.token_times.len(), 2);
            assert_eq!(sample.reply, "Héllo");
            assert_eq!(sample.finish_reason.as_deref(), Some("stop"));
            assert_eq!(sample.completion_tokens, 3);
            assert_eq!(
                (sample.prompt_tokens, sample.cached_tokens),
                (Some(12), Some(8))
            );
        }
    }

    #[tokio::test]
    async fn without_usage_the_text_chunks_are_counted() {
        let body = [
            event(json!({ "content": "a" })),
            event(json!({ "content": "b" })),
            "data: [DONE]\n\n".to_owned(),
        ]
        .concat();
        let (sample, _, result) = read(&body, body.len()).await;
        result.expect("a complete stream");
        assert_eq!(sample.completion_tokens, 2);
        assert_eq!(sample.prompt_tokens, None);
    }

    #[tokio::test]
    async fn error_events_and_cut_streams_are_errors() {
        let body = format!(
            "data: {}\n\n",
            json!({ "error": { "message": "engine failed" } })
        );
        let (_, _, result) = read(&body, body.len()).await;
        let error = result.expect_err("an error event").to_string();
        assert!(error.contains("engine failed"), "{error}");

        let body = event(json!({ "content": "a" }));
        let (sample, _, result) = read(&body, body.len()).await;
        let error = result.expect_err("no [DONE]").to_string();
        assert!(error.contains("without [DONE]"), "{error}");
        assert_eq!(sample.reply, "a");
    }

    #[test]
    fn banned_tokens_become_a_logit_bias() {
        let plan = Plan {
            model: "m".into(),
            max_tokens: 16,
            temperature: 0.0,
            seed: 1,
            ban_tokens: vec![0, 2],
        };
        let body = plan.body("hi", 16);
        assert_eq!(body["logit_bias"], json!({ "0": -100, "2": -100 }));
        assert_eq!(body["stream_options"]["include_usage"], true);
    }
}
