//! Two models in the folder, at most one loaded: the second loads on its first request and
//! unloads the first, never while the first is serving a stream; an idle model unloads by
//! itself; a path as a model id finds nothing; aliases name models.

use crate::common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{TestApp, MODEL};
use serde_json::{json, Value};

/// Gemma 3 270M, fetched by `make model` beside the default model.
const SECOND: &str = "gemma-3-270m-q4_k_m";

/// A models folder with the default model and Gemma 3 270M.
fn two_models() -> tempfile::TempDir {
    let dir = common::models_dir();
    let second: PathBuf = common::model_file().with_file_name(format!("{SECOND}.gguf"));
    assert!(
        second.exists(),
        "{} is missing: run `make model`",
        second.display()
    );
    std::os::unix::fs::symlink(&second, dir.path().join(format!("{SECOND}.gguf")))
        .expect("symlink");
    dir
}

async fn two_model_app(
    configure: impl FnOnce(&mut sotto::config::ServeConfig),
) -> (TestApp, tempfile::TempDir) {
    let models = two_models();
    let path = models.path().to_owned();
    let app = common::spawn_app(move |config| {
        config.models_dir = path;
        config.models = vec![MODEL.to_owned()];
        config.parallel = 2;
        configure(config);
    })
    .await;
    (app, models)
}

/// Each model's `state` in `GET /v1/models`.
async fn states(app: &TestApp) -> Vec<(String, String)> {
    let list: Value = app.get("/v1/models").await.json().await.expect("json");
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap_or_default().to_owned(),
                m["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn state_of(app: &TestApp, id: &str) -> String {
    states(app)
        .await
        .into_iter()
        .find(|(model, _)| model == id)
        .map(|(_, state)| state)
        .unwrap_or_default()
}

fn short_chat(model: &str) -> Value {
    json!({
        "model": model,
        "messages": [{ "role": "user", "content": "Say hello." }],
        "max_tokens": 8,
        "temperature": 0,
    })
}

/// Sends `short_chat(model)` until it is answered, collecting the error codes seen before.
async fn chat_when_loaded(app: &TestApp, model: &str) -> (Value, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut codes = Vec::new();
    loop {
        let response = app.post("/v1/chat/completions", short_chat(model)).await;
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let body: Value = response.json().await.expect("json");
        if status == 200 {
            return (body, codes);
        }
        assert_eq!(status, 503, "{body}");
        assert!(retry_after, "a 503 without Retry-After: {body}");
        codes.push(
            body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        assert!(
            Instant::now() < deadline,
            "{model} never answered: {codes:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_second_model_unloads_the_first_but_not_while_it_streams() {
    let (app, _models) = two_model_app(|config| config.max_loaded_models = Some(1)).await;
    assert_eq!(
        states(&app).await,
        vec![
            (MODEL.to_owned(), "ready".to_owned()),
            (SECOND.to_owned(), "not_loaded".to_owned())
        ]
    );

    // A stream in flight on the first model keeps it loaded.
    let mut stream = app
        .post("/v1/chat/completions", common::endless_stream(900))
        .await;
    assert_eq!(stream.status(), 200);
    assert!(stream.chunk().await.expect("a first chunk").is_some());
    for _ in 0..3 {
        let refused = app.post("/v1/chat/completions", short_chat(SECOND)).await;
        assert_eq!(refused.status(), 503);
        assert!(refused.headers().contains_key("retry-after"));
        let body: Value = refused.json().await.expect("json");
        assert_eq!(body["error"]["code"], "models_busy", "{body}");
        assert_eq!(state_of(&app, MODEL).await, "ready");
        assert_eq!(state_of(&app, SECOND).await, "not_loaded");
    }
    // The stream still runs: the first model was not unloaded under it.
    assert!(stream.chunk().await.expect("more of the stream").is_some());

    // Once its client leaves, the first model is idle and makes room.
    drop(stream);
    let (reply, codes) = chat_when_loaded(&app, SECOND).await;
    assert_eq!(reply["model"], SECOND);
    assert!(!common::message_text(&reply).is_empty(), "{reply}");
    assert!(codes.contains(&"model_loading".to_owned()), "{codes:?}");
    assert_eq!(state_of(&app, MODEL).await, "not_loaded");
    assert_eq!(state_of(&app, SECOND).await, "ready");

    // And back: the default model reloads, unloading the second.
    let (reply, _) = chat_when_loaded(&app, MODEL).await;
    assert_eq!(reply["model"], MODEL);
    assert_eq!(state_of(&app, SECOND).await, "not_loaded");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_models_stay_loaded_when_allowed() {
    let (app, _models) = two_model_app(|config| config.max_loaded_models = Some(2)).await;
    chat_when_loaded(&app, SECOND).await;
    assert_eq!(state_of(&app, MODEL).await, "ready");
    assert_eq!(state_of(&app, SECOND).await, "ready");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_model_unloads_itself_and_reloads_on_its_next_request() {
    let (app, _models) = two_model_app(|config| config.model_idle_secs = 2).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while state_of(&app, MODEL).await == "ready" {
        assert!(Instant::now() < deadline, "{:?}", states(&app).await);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(state_of(&app, MODEL).await, "not_loaded");
    let (reply, codes) = chat_when_loaded(&app, MODEL).await;
    assert_eq!(reply["model"], MODEL);
    assert_eq!(codes.first().map(String::as_str), Some("model_loading"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_path_as_a_model_id_is_not_found() {
    let (app, _models) = two_model_app(|_| {}).await;
    let outside = format!(
        "../{}",
        common::model_file()
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("models")
    );
    for id in [
        format!("../{MODEL}"),
        format!("{outside}/{MODEL}"),
        format!("/etc/{MODEL}"),
        format!("{MODEL}.gguf"),
        "..".to_owned(),
    ] {
        let response = app.post("/v1/chat/completions", short_chat(&id)).await;
        assert_eq!(response.status(), 404, "{id}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "model_not_found");
        assert!(!body.to_string().contains(&id), "the id is echoed: {body}");
    }
    let encoded = app.get("/v1/models/..%2F..%2Fetc%2Fpasswd").await;
    assert_eq!(encoded.status(), 404);
    // Nothing was loaded for them.
    assert_eq!(state_of(&app, SECOND).await, "not_loaded");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alias_names_its_model_everywhere_and_replies_name_the_model() {
    let (app, _models) = two_model_app(|config| {
        config.max_loaded_models = Some(2);
        config.aliases = [
            format!("chat={MODEL}"),
            format!("tiny={SECOND}"),
            "ghost=no-such-model".to_owned(),
        ]
        .iter()
        .map(|alias| alias.parse().expect("an alias"))
        .collect();
        // The default model by its alias.
        config.models = vec!["chat".to_owned()];
    })
    .await;

    // Listed after the files, each with the model it stands for and that model's state; an
    // alias of no file is not listed.
    let list: Value = app.get("/v1/models").await.json().await.expect("json");
    let listed: Vec<(&str, &str, &str)> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap_or_default(),
                m["alias_of"].as_str().unwrap_or_default(),
                m["state"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (MODEL, "", "ready"),
            (SECOND, "", "not_loaded"),
            ("chat", MODEL, "ready"),
            ("tiny", SECOND, "not_loaded"),
        ]
    );

    // A request by alias is answered by its model, which the reply names.
    let (reply, _) = chat_when_loaded(&app, "tiny").await;
    assert_eq!(reply["model"], SECOND);
    assert_eq!(state_of(&app, "tiny").await, "ready");
    assert_eq!(state_of(&app, SECOND).await, "ready");
    let (reply, codes) = chat_when_loaded(&app, "chat").await;
    assert_eq!(reply["model"], MODEL);
    assert!(
        codes.is_empty(),
        "the preloaded alias was not ready: {codes:?}"
    );
    // No model named: the default, given by its alias.
    let mut unnamed = short_chat(MODEL);
    unnamed.as_object_mut().expect("object").remove("model");
    let reply: Value = app
        .post("/v1/chat/completions", unnamed)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(reply["model"], MODEL, "{reply}");

    let one: Value = app.get("/v1/models/tiny").await.json().await.expect("json");
    assert_eq!(one["id"], "tiny");
    assert_eq!(one["alias_of"], SECOND);
    assert!(one["context_length"].as_u64() > Some(0), "{one}");
    // An alias of a missing file finds nothing, as an unknown id.
    let ghost = app.post("/v1/chat/completions", short_chat("ghost")).await;
    assert_eq!(ghost.status(), 404);
    let body: Value = ghost.json().await.expect("json");
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(app.get("/v1/models/ghost").await.status(), 404);
}
