//! `GET /metrics`: Prometheus's text format, read back with the reference Python client's
//! parser (tests/metrics/exposition.py), after real requests. Each test has its own server,
//! whose metrics no other test's requests reach (every app has its own recorder).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use common::process::{Launch, ServerProcess};
use common::{client, greedy_chat, spawn_app, MODEL};

/// A metric family as the parser reads it.
#[derive(Debug, Deserialize)]
struct Family {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    samples: Vec<Sample>,
}

#[derive(Debug, Deserialize)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    /// `None` for an infinite value (none is expected).
    value: Option<f64>,
}

struct Scrape {
    text: String,
    families: Vec<Family>,
}

/// Every label the server may put on a series; anything else is a new way to leak.
const LABELS: [&str; 6] = ["method", "route", "status", "model", "result", "le"];

impl Scrape {
    fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.families.iter().flat_map(|family| &family.samples)
    }

    /// The value of sample `name` whose labels include `labels`; panics if there is none.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found = self.samples().find(|sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(value))
        });
        let sample = found.unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{}", self.text));
        sample.value.expect("a finite value")
    }

    /// Each series: its sample name and labels.
    fn series(&self) -> BTreeSet<String> {
        self.samples()
            .map(|sample| format!("{}{:?}", sample.name, sample.labels))
            .collect()
    }
}

/// Parses the exposition text with prometheus_client, which fails on anything malformed.
fn parse(text: &str) -> Vec<Family> {
    let mut parser = Command::new(common::clients::main_python());
    parser
        .arg(common::clients::root().join("tests/metrics/exposition.py"))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let output = common::process::output_with_stdin(parser, text.as_bytes());
    assert!(
        output.status.success(),
        "prometheus_client refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the parser's JSON")
}

/// Scrapes `url`, checks the answer's format and parses it.
async fn scrape(url: &str) -> Scrape {
    let response = client().get(url).send().await.expect("scrape");
    assert_eq!(response.status(), 200, "{url}");
    let content_type = response.headers()["content-type"].to_str().expect("ascii");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.expect("body");
    let for_parser = text.clone();
    let families = tokio::task::spawn_blocking(move || parse(&for_parser))
        .await
        .expect("parser thread");
    for family in &families {
        assert!(
            ["counter", "gauge", "histogram"].contains(&family.kind.as_str()),
            "{} is {}",
            family.name,
            family.kind
        );
        assert!(family.name.starts_with("sotto_"), "{}", family.name);
    }
    let scrape = Scrape { text, families };
    for sample in scrape.samples() {
        for (name, value) in &sample.labels {
            assert!(
                LABELS.contains(&name.as_str()),
                "label {name} on {}",
                sample.name
            );
            if name == "model" {
                assert_eq!(value, MODEL, "only the folder's model is a label");
            }
        }
    }
    scrape
}

#[tokio::test]
async fn a_scrape_after_chats_has_the_named_series_and_no_canary() {
    // 127.0.0.1 is a trusted proxy, so a request can claim another client address.
    let app = spawn_app(|config| config.trusted_proxies = vec![[127, 0, 0, 1].into()]).await;
    let token = format!("CaNaRy{}", common::uuid_like().replace('-', "x"));
    let mut body = greedy_chat(&format!("Say {token} back."), 6);
    body["user"] = json!(token);
    let answered = client()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&app.api_key)
        .header("x-canary", &token)
        .json(&body)
        .send()
        .await
        .expect("chat");
    assert_eq!(answered.status(), 200);
    let mut streamed = greedy_chat(&format!("Spell {token}."), 6);
    streamed["stream"] = json!(true);
    let payloads = app.stream("/v1/chat/completions", streamed).await;
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    let mut bogus = greedy_chat("hi", 2);
    bogus["model"] = json!(format!("{token}-model"));
    assert_eq!(app.post("/v1/chat/completions", bogus).await.status(), 404);
    let unmatched = app.get(&format!("/{token}?{token}={token}")).await;
    assert_eq!(unmatched.status(), 404);

    let scrape = scrape(&app.url("/metrics")).await;
    let model = [("model", MODEL)];
    let chat_route = [
        ("route", "/v1/chat/completions"),
        ("method", "POST"),
        ("status", "200"),
    ];
    assert!(scrape.value("sotto_http_requests_total", &chat_route) >= 2.0);
    let not_found = [("route", "/v1/chat/completions"), ("status", "404")];
    assert_eq!(scrape.value("sotto_http_requests_total", &not_found), 1.0);
    let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert_eq!(scrape.value("sotto_http_requests_total", &unmatched), 1.0);
    let route = [("route", "/v1/chat/completions")];
    assert!(scrape.value("sotto_http_request_duration_seconds_count", &route) >= 3.0);
    assert!(scrape.value("sotto_prompt_tokens_total", &model) > 0.0);
    assert!(scrape.value("sotto_completion_tokens_total", &model) > 0.0);
    assert!(scrape.value("sotto_time_to_first_token_seconds_count", &model) >= 2.0);
    assert!(scrape.value("sotto_time_to_first_token_seconds_sum", &model) > 0.0);
    let misses = [("model", MODEL), ("result", "miss")];
    assert!(scrape.value("sotto_prompt_cache_lookups_total", &misses) >= 1.0);
    scrape.value("sotto_prompt_cached_tokens_total", &model);
    scrape.value("sotto_generation_tokens_per_second_count", &model);
    scrape.value("sotto_generations_cancelled_total", &model);
    assert_eq!(scrape.value("sotto_slots", &model), 4.0);
    assert_eq!(scrape.value("sotto_slots_busy", &model), 0.0);
    assert_eq!(scrape.value("sotto_queue_depth", &model), 0.0);
    assert_eq!(scrape.value("sotto_model_loaded", &model), 1.0);
    let loaded = [("model", MODEL), ("result", "success")];
    assert_eq!(scrape.value("sotto_model_loads_total", &loaded), 1.0);
    assert_eq!(
        scrape.value("sotto_model_load_duration_seconds_count", &model),
        1.0
    );
    assert_eq!(scrape.value("sotto_model_unloads_total", &model), 0.0);

    let lower = scrape.text.to_lowercase();
    for needle in [
        token.to_lowercase(),
        app.api_key.to_lowercase(),
        "127.0.0.1".into(),
    ] {
        assert!(!lower.contains(&needle), "{needle} in:\n{}", scrape.text);
    }

    // A client elsewhere needs a key; the canary key is not one.
    let from_afar = |key: &str| {
        client()
            .get(app.url("/metrics"))
            .header("x-forwarded-for", "203.0.113.9")
            .bearer_auth(key)
            .send()
    };
    let refused = from_afar(&format!("sk-sotto-{token}"))
        .await
        .expect("scrape");
    assert_eq!(refused.status(), 401);
    assert_eq!(from_afar(&app.api_key).await.expect("scrape").status(), 200);
}

#[tokio::test]
async fn a_flood_of_unknown_model_ids_creates_no_series() {
    let app = spawn_app(|_| {}).await;
    let endpoints = [
        (
            "/v1/chat/completions",
            json!({ "messages": [{ "role": "user", "content": "hi" }] }),
        ),
        ("/v1/completions", json!({ "prompt": "hi" })),
        ("/v1/embeddings", json!({ "input": "hi" })),
        (
            "/v1/messages",
            json!({ "max_tokens": 4, "messages": [{ "role": "user", "content": "hi" }] }),
        ),
        ("/v1/responses", json!({ "input": "hi" })),
    ];
    let send = |n: usize| {
        let app = &app;
        let endpoints = &endpoints;
        async move {
            for (path, body) in endpoints {
                let mut body = body.clone();
                body["model"] = json!(format!("unknown-model-{n}"));
                let status = app.post(path, body).await.status();
                assert_eq!(status, 404, "{path}");
            }
        }
    };
    // The first unknown id makes each endpoint's 404 series; two scrapes make /metrics' own.
    send(0).await;
    let _ = scrape(&app.url("/metrics")).await;
    let before = scrape(&app.url("/metrics")).await;
    for n in 1..=200 {
        send(n).await;
    }
    let after = scrape(&app.url("/metrics")).await;
    assert_eq!(before.series(), after.series());
    assert!(!after.text.contains("unknown-model"), "{}", after.text);
    let not_found = [("route", "/v1/embeddings"), ("status", "404")];
    assert_eq!(after.value("sotto_http_requests_total", &not_found), 201.0);
}

#[tokio::test]
async fn metrics_addr_serves_metrics_there_and_the_main_port_answers_404() {
    let root = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::launch(
        root.path(),
        &Launch {
            args: &["--auth", "off"],
            env: &[("SOTTO_METRICS_ADDR", "127.0.0.1:0")],
            ..Launch::default()
        },
    );
    common::wait_model_ready(&server.base).await;
    let metrics_base = metrics_address(&server);
    assert_ne!(metrics_base, server.base);

    let main = client()
        .get(format!("{}/metrics", server.base))
        .send()
        .await;
    assert_eq!(main.expect("main /metrics").status(), 404);
    let answered = client()
        .post(format!("{}/v1/chat/completions", server.base))
        .json(&greedy_chat("hi", 2))
        .send()
        .await
        .expect("chat");
    assert_eq!(answered.status(), 200);

    let scrape = scrape(&format!("{metrics_base}/metrics")).await;
    let chat_route = [("route", "/v1/chat/completions"), ("status", "200")];
    assert_eq!(scrape.value("sotto_http_requests_total", &chat_route), 1.0);
    let main_metrics = [("route", "unmatched"), ("status", "404")];
    assert_eq!(
        scrape.value("sotto_http_requests_total", &main_metrics),
        1.0
    );
    let loaded = [("model", MODEL), ("result", "success")];
    assert_eq!(scrape.value("sotto_model_loads_total", &loaded), 1.0);
    assert!(scrape.value("sotto_completion_tokens_total", &[("model", MODEL)]) > 0.0);
    let other = client()
        .get(format!("{metrics_base}/v1/models"))
        .send()
        .await;
    assert_eq!(
        other.expect("other path").status(),
        404,
        "only /metrics there"
    );
}

/// The address the server says it serves its metrics on.
fn metrics_address(server: &ServerProcess) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = server.stderr();
        if let Some(at) = log.find("metrics on http://") {
            let rest = &log[at + "metrics on ".len()..];
            let url: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            return url.trim_end_matches("/metrics").to_owned();
        }
        assert!(Instant::now() < deadline, "no metrics address in:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
