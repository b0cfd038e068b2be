//! Test harness: the real server with the real default model, on an ephemeral port.
#![allow(dead_code)]

pub mod accounts;
pub mod clients;
pub mod file_server;
pub mod process;

pub use accounts::*;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use sotto::config::ServeConfig;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const MODEL: &str = "SmolLM2-135M-Instruct.Q4_1";
/// The password of the users tests sign up.
pub const PASSWORD: &str = "correct horse battery";

/// The default model file fetched by `make model`.
pub fn model_file() -> PathBuf {
    let dir = std::env::var_os("SOTTO_TEST_MODELS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("models"),
        PathBuf::from,
    );
    let file = dir.join(format!("{MODEL}.gguf"));
    assert!(
        file.exists(),
        "{} is missing: run `make model`",
        file.display()
    );
    file
}

/// A models directory holding only the default model (tests never see a developer's other
/// models).
pub fn models_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(model_file(), dir.path().join(format!("{MODEL}.gguf")))
        .expect("symlink");
    dir
}

/// Small contexts keep each test server's KV cache small; the data directory is the test's.
/// One engine thread each: two tests run at once, and llama.cpp's threads spin while they
/// wait for each other, so two servers of two threads each on two cores slowed each other's
/// decode steps from milliseconds to seconds (a 24-token reply passed the privacy test's 60 s
/// timeout). The defaults come from the flags' declarations alone: `with_models_dir` reads no
/// `SOTTO_*` variable of the developer's environment.
pub fn test_config(models_dir: &Path, data_dir: &Path) -> ServeConfig {
    let mut config = ServeConfig::with_models_dir(models_dir);
    config.ctx_size = 1024;
    config.threads = Some(1);
    config.data_dir = data_dir.to_owned();
    config
}

pub struct TestApp {
    pub base: String,
    pub models_dir: PathBuf,
    pub data_dir: PathBuf,
    /// A key of a user the harness signed up, sent with every API request.
    pub api_key: String,
    _dirs: Vec<tempfile::TempDir>,
    _shutdown: Option<oneshot::Sender<()>>,
}

impl TestApp {
    /// The port it listens on, as written in its URL.
    pub fn port(&self) -> &str {
        self.base.rsplit(':').next().expect("port")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        client()
            .post(self.url(path))
            .bearer_auth(&self.api_key)
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        client()
            .post(self.url(path))
            .bearer_auth(&self.api_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        client()
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// A chat completion that must succeed; returns its JSON.
    pub async fn chat(&self, body: Value) -> Value {
        let response = self.post("/v1/chat/completions", body).await;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).expect("json body")
    }

    /// A streamed request; returns every `data:` payload in order (`[DONE]` included).
    pub async fn stream(&self, path: &str, body: Value) -> Vec<String> {
        let response = self.post(path, body).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        sse_payloads(response).await
    }

    /// The default model's entry in `/health` (state and engine counters).
    pub async fn model_health(&self) -> Value {
        model_health_at(&self.base, MODEL)
            .await
            .expect("the default model in /health")
    }

    /// Requests running or queued on the default model.
    pub async fn in_flight(&self) -> u64 {
        self.model_health().await["in_flight"]
            .as_u64()
            .unwrap_or(u64::MAX)
    }

    /// How many generations the default model's engine stopped because their client left.
    pub async fn cancelled(&self) -> u64 {
        self.model_health().await["cancelled"]
            .as_u64()
            .expect("cancelled count")
    }

    /// Waits until nothing is running or queued on the default model.
    pub async fn wait_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.in_flight().await != 0 {
            assert!(Instant::now() < deadline, "the engine did not become idle");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub fn client() -> reqwest::Client {
    // Redirects are not followed: tests look at each response (and its cookies) themselves.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Every event's `data` of a server-sent event stream, in order (`[DONE]` included).
pub async fn sse_payloads(response: reqwest::Response) -> Vec<String> {
    let mut events = sse_events(response);
    let mut payloads = Vec::new();
    while let Some(event) = events.next().await {
        payloads.push(event.expect("a well-formed event").data);
    }
    payloads
}

/// The events of a server-sent event stream as they arrive, parsed by `eventsource-stream`.
pub fn sse_events(
    response: reqwest::Response,
) -> impl futures::Stream<
    Item = Result<eventsource_stream::Event, eventsource_stream::EventStreamError<reqwest::Error>>,
> + Unpin {
    use eventsource_stream::Eventsource as _;
    response.bytes_stream().eventsource()
}

/// The text of a streamed chat or text completion, chunk by chunk.
pub fn stream_pieces(payloads: &[String]) -> Vec<String> {
    payloads
        .iter()
        .filter(|p| p.as_str() != "[DONE]")
        .filter_map(|p| {
            let chunk: Value = serde_json::from_str(p).expect("chunk json");
            let choice = chunk["choices"].get(0)?.clone();
            choice["delta"]["content"]
                .as_str()
                .or(choice["text"].as_str())
                .map(str::to_owned)
        })
        .filter(|piece| !piece.is_empty())
        .collect()
}

/// Starts a server on this test's runtime; it stops when the `TestApp` is dropped.
pub async fn spawn_app(configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
    spawn_app_with_clock(sotto::testing::Clock::default(), configure).await
}

/// [`spawn_app`] with sessions and the login throttle on `clock`, which the test moves forward.
pub async fn spawn_app_with_clock(
    clock: sotto::testing::Clock,
    configure: impl FnOnce(&mut ServeConfig),
) -> TestApp {
    let models = models_dir();
    let data = tempfile::tempdir().expect("data dir");
    let mut config = test_config(models.path(), data.path());
    configure(&mut config);
    let signup_open = config.signup == sotto::config::Signup::Open;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        sotto::testing::serve_with_clock(config, clock, listener, async {
            let _ = stopped.await;
        })
        .await
        .expect("server runs");
    });
    started(base, models, data, Some(shutdown), signup_open).await
}

/// One server per test binary, shared by the tests that need no special configuration. It
/// runs on its own thread and runtime so it outlives each test's runtime, and stops when the
/// process exits (see [`stop_shared_app_at_exit`]).
pub async fn shared_app() -> &'static TestApp {
    static APP: tokio::sync::OnceCell<TestApp> = tokio::sync::OnceCell::const_new();
    APP.get_or_init(|| async {
        let (address_tx, address_rx) = tokio::sync::oneshot::channel();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async move {
                let models = models_dir();
                let data = tempfile::tempdir().expect("data dir");
                remove_at_exit(&[models.path(), data.path()]);
                let config = test_config(models.path(), data.path());
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let base = format!("http://{}", listener.local_addr().expect("address"));
                let _ = address_tx.send((base, models, data));
                sotto::serve(config, listener, async {
                    let _ = stopped.await;
                })
                .await
                .expect("server runs");
            });
        });
        let (base, models, data) = address_rx.await.expect("server started");
        let app = started(base, models, data, None, true).await;
        stop_shared_app_at_exit(shutdown, thread);
        app
    })
    .await
}

/// The shared app's shutdown signal and thread, taken by [`stop_shared_app`] at exit.
type SharedServer = (oneshot::Sender<()>, std::thread::JoinHandle<()>);
static SHARED_SERVER: std::sync::Mutex<Option<SharedServer>> = std::sync::Mutex::new(None);

/// A static is never dropped, so without this the shared app's engine could still be decoding
/// when `exit` runs llama.cpp's static destructors, and the process crashed after every test
/// had passed (SIGSEGV in `ggml_graph_plan`, seen in CI). Exit handlers run in the reverse
/// order of their registration: registered once the model is loaded, after llama.cpp
/// registered its own, this one runs first.
#[allow(unsafe_code)]
fn stop_shared_app_at_exit(shutdown: oneshot::Sender<()>, thread: std::thread::JoinHandle<()>) {
    extern "C" {
        fn atexit(handler: extern "C" fn()) -> std::ffi::c_int;
    }
    *SHARED_SERVER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((shutdown, thread));
    // SAFETY: `atexit` only keeps the address of a function that lives as long as the process.
    let registered = unsafe { atexit(stop_shared_app) };
    assert_eq!(registered, 0, "atexit refused the shared app's stop");
}

/// Stops the shared server and waits for its engines to be freed, at most a minute (its
/// clients are gone by now, so the graceful shutdown has nothing to wait for). Sleeps rather
/// than parks: this thread's thread-locals are already destroyed when exit handlers run.
extern "C" fn stop_shared_app() {
    let server = SHARED_SERVER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    let Some((shutdown, thread)) = server else {
        return;
    };
    let _ = shutdown.send(());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !thread.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if thread.is_finished() {
        let _ = thread.join();
    }
}

/// Removes `paths` once this test process has ended, however it ends: the shared app lives in
/// a static, which is never dropped. A shell waits for the end of its standard input, a pipe
/// whose writing end only this process holds (std opens pipes close-on-exec), so the end of
/// the process is the end of the input. No polling, no timeout needed.
// The reaper must outlive this process, which therefore never waits for it; init does.
#[allow(clippy::zombie_processes)]
fn remove_at_exit(paths: &[&Path]) {
    static REAPERS: std::sync::Mutex<Vec<std::process::ChildStdin>> =
        std::sync::Mutex::new(Vec::new());
    let reaper = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"cat >/dev/null; rm -rf -- "$@""#)
        .arg("sh")
        .args(paths)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the temporary folders' reaper starts");
    let stdin = reaper.stdin.expect("the reaper's input");
    REAPERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(stdin);
}

/// The app once its server listens: waits for the model, then (when sign-up is open) signs a
/// user up and gives the app their API key.
async fn started(
    base: String,
    models: tempfile::TempDir,
    data: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    with_key: bool,
) -> TestApp {
    let mut app = TestApp {
        base,
        models_dir: models.path().to_owned(),
        data_dir: data.path().to_owned(),
        api_key: String::new(),
        _dirs: vec![models, data],
        _shutdown: shutdown,
    };
    wait_ready(&app).await;
    if with_key {
        app.api_key = create_api_key(&app.base).await;
    }
    app
}

/// The session token in a `name=value` cookie.
pub fn cookie_token(cookie: &str) -> &str {
    cookie.split_once('=').map_or(cookie, |(_, token)| token)
}

pub fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn wait_ready(app: &TestApp) {
    wait_model_ready(&app.base).await;
}

/// Waits until the server at `base` has loaded the default model.
pub async fn wait_model_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client().get(format!("{base}/health")).send().await {
            let health: Value = response.json().await.unwrap_or_default();
            let state = health["models"]
                .as_array()
                .and_then(|models| models.iter().find(|m| m["id"] == MODEL))
                .map(|m| m["state"].clone());
            match state.as_ref().and_then(Value::as_str) {
                Some("ready") => return,
                Some("failed") => panic!("the model failed to load"),
                _ => {}
            }
        }
        assert!(
            Instant::now() < deadline,
            "the server did not load the model"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A greedy chat request body.
pub fn greedy_chat(prompt: &str, max_tokens: u32) -> Value {
    json!({
        "model": MODEL,
        "messages": [{ "role": "user", "content": prompt }],
        "temperature": 0,
        "max_tokens": max_tokens,
    })
}

/// A streamed request that cannot end early: SmolLM2's end tokens (`<|endoftext|>` = 0,
/// `<|im_end|>` = 2) are banned, so it runs for all of `max_tokens`.
pub fn endless_stream(max_tokens: u32) -> Value {
    json!({
        "model": MODEL,
        "messages": [{ "role": "user", "content": "Tell me a very long story about dragons." }],
        "max_tokens": max_tokens,
        "logit_bias": { "0": -100, "2": -100 },
        "stream": true,
    })
}

pub fn message_text(completion: &Value) -> String {
    completion["choices"][0]["message"]["content"]
        .as_str()
        .expect("content")
        .to_owned()
}

pub async fn chat_with(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    client()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("chat request")
}

pub async fn wait_for_cached(app: &TestApp, wanted: impl Fn(u64) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let cached = app.model_health().await["cached_conversations"]
            .as_u64()
            .expect("cached_conversations");
        if wanted(cached) {
            return;
        }
        assert!(Instant::now() < deadline, "cached conversations: {cached}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether a stream ends with `[DONE]`; a stream cut short (the client's timeout) does not.
pub async fn stream_completes(response: reqwest::Response) -> bool {
    let mut events = sse_events(response);
    let mut last = None;
    while let Some(event) = events.next().await {
        let Ok(event) = event else {
            return false;
        };
        last = Some(event.data);
    }
    last.as_deref() == Some("[DONE]")
}

/// The default model, loaded once into the test process to count tokens as the server does.
pub fn vocab_model() -> &'static llama_cpp_2::model::LlamaModel {
    use llama_cpp_2::model::{params::LlamaModelParams, LlamaModel};
    static MODEL_FILE: std::sync::OnceLock<LlamaModel> = std::sync::OnceLock::new();
    MODEL_FILE.get_or_init(|| {
        let backend = sotto::testing::backend().expect("llama.cpp backend");
        LlamaModel::load_from_file(backend, model_file(), &LlamaModelParams::default())
            .expect("the default model loads")
    })
}

/// Model `id`'s entry in the `/health` of the server at `base`, if it lists one.
pub async fn model_health_at(base: &str, id: &str) -> Option<Value> {
    let health: Value = client()
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("health json");
    health["models"]
        .as_array()
        .and_then(|models| models.iter().find(|m| m["id"] == id))
        .cloned()
}
