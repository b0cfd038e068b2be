//! The load generator: N client tasks sending streaming chat requests back to back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
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
    pub error: Option<String>,
}

impl Sample {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            token_times: Vec::new(),
            completion_tokens: 0,
            prompt_tokens: None,
            cached_tokens: None,
            reply: String::new(),
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
    mut on_token: impl FnMut(usize),
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
        // OpenAI-shaped servers say why in error.message.
        let body: Value = response.json().await.unwrap_or_default();
        match body["error"]["message"].as_str() {
            Some(message) => anyhow::bail!("HTTP {status}: {message}"),
            None => anyhow::bail!("HTTP {status}"),
        }
    }
    let mut stream = response.bytes_stream();
    let mut events = SseBuffer::default();
    let mut usage = None;
    while let Some(bytes) = stream.next().await {
        let bytes = bytes?;
        let now = Instant::now();
        for payload in events.push(&bytes) {
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
            let counts = &chunk["usage"];
            if let Some(tokens) = counts["completion_tokens"].as_u64() {
                usage = Some(tokens);
                sample.prompt_tokens = counts["prompt_tokens"].as_u64();
                sample.cached_tokens = counts["prompt_tokens_details"]["cached_tokens"].as_u64();
            }
        }
    }
    anyhow::bail!("the stream ended without [DONE]")
}

/// Splits a server-sent event stream into its `data:` payloads.
#[derive(Debug, Default)]
pub struct SseBuffer {
    pending: Vec<u8>,
}

impl SseBuffer {
    /// Adds received bytes; returns the payloads of the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend(bytes.iter().filter(|&&b| b != b'\r'));
        let mut payloads = Vec::new();
        while let Some(end) = self.pending.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = self.pending.drain(..end + 2).collect();
            let event = String::from_utf8_lossy(&event);
            let data: Vec<&str> = event
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|data| data.strip_prefix(' ').unwrap_or(data))
                .collect();
            if !data.is_empty() {
                payloads.push(data.join("\n"));
            }
        }
        payloads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_reads_are_joined() {
        let mut sse = SseBuffer::default();
        assert!(sse.push(b"data: {\"a\"").is_empty());
        assert_eq!(
            sse.push(b":1}\r\n\r\ndata:[DONE]\n\n"),
            ["{\"a\":1}", "[DONE]"]
        );
        assert!(sse.push(b": keep-alive comment\n\n").is_empty());
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
