//! The no-logs guarantee, tested from outside. The real binary runs at `RUST_LOG=trace`, with
//! its own working, temporary and home directories. A unique canary goes to every route of
//! `src/router.rs`, in every text field and every header a browser or proxy sends, through
//! answers of every status, from three client addresses. Then the canary (in every encoding)
//! and the addresses are searched for in every byte the server left: its database files before
//! and after shutdown, its directories, and all it printed. The one thing stored is the
//! sign-up email, lower-cased, in the database.

mod common;
#[path = "privacy/probe.rs"]
mod probe;
#[path = "privacy/routes.rs"]
mod routes;
#[path = "privacy/search.rs"]
mod search;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use common::process::{Launch, ServerProcess};
use common::{session_cookie, sse_payloads, MODEL};
use futures::StreamExt;
use probe::{replacing, Probe, FORWARDED_FOR};
use reqwest::{Method, Response};
use routes::{FALLBACK, KNOWN, WRONG_METHOD};
use search::{address_needles, canary_needles, files_under, findings, Needle};
use serde_json::{json, Value};

/// The default model under a second id, never preloaded: a request for it gets 503.
const LOADING: &str = "privacy-loading-model";
const MAX_BODY: usize = 64 * 1024;
const SECOND_LOOPBACK: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

const CHAT: routes::Route = ("POST", "/v1/chat/completions");
const LEGACY: routes::Route = ("POST", "/v1/completions");
const UI_CHAT: routes::Route = ("POST", "/ui/chat/completions");

#[test]
fn every_route_of_the_router_is_known_to_this_test() {
    let declared = routes::in_router();
    let known: BTreeSet<(String, String)> = KNOWN
        .iter()
        .map(|((method, path), _)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    let unknown: Vec<_> = declared.difference(&known).collect();
    assert!(
        unknown.is_empty(),
        "src/router.rs has routes the privacy test does not send the canary to: {unknown:?}. \
         Add each to KNOWN in tests/privacy/routes.rs and exercise it in tests/privacy.rs."
    );
    let gone: Vec<_> = known.difference(&declared).collect();
    assert!(
        gone.is_empty(),
        "KNOWN lists routes the router no longer has: {gone:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_sent_every_way_is_stored_and_logged_nowhere() {
    every_route_of_the_router_is_known_to_this_test();
    let root = tempfile::tempdir().expect("temp dir");
    let (cwd, home) = (root.path().join("cwd"), root.path().join("home"));
    for dir in [&cwd, &home] {
        std::fs::create_dir_all(dir).expect("dir");
    }
    let max_body = MAX_BODY.to_string();
    let mut server = ServerProcess::launch(
        root.path(),
        &Launch {
            args: &[
                "--model",
                MODEL,
                "--trusted-proxies",
                "127.0.0.1",
                "--max-requests-per-caller",
                "1",
                "--max-body",
                &max_body,
            ],
            env: &[
                ("RUST_LOG", "trace"),
                ("HOME", home.to_str().expect("utf-8 path")),
            ],
            model_aliases: &[LOADING],
            current_dir: Some(&cwd),
            ..Launch::default()
        },
    );
    common::wait_model_ready(&server.base).await;

    // Mixed case, so that the lower- and upper-case forms are other strings to find.
    let token = format!("CaNaRy{}", uuid::Uuid::new_v4().simple());
    let text = format!("{token} \"quoted\" <b>&amp;</b> naïve/ü 💬 'x'");
    let probe = Probe::new(&server.base, &token);
    let second = std::net::TcpListener::bind((SECOND_LOOPBACK, 0))
        .is_ok()
        .then(|| probe.from_address(IpAddr::V4(SECOND_LOOPBACK)));
    if second.is_none() {
        eprintln!("{SECOND_LOOPBACK} cannot be bound here: every request comes from 127.0.0.1");
    }

    let email = format!("{token}@example.com");
    let key = accounts(&probe, second.as_ref(), &email, &text).await;
    generation(&probe, &key.key, &text).await;
    browser(&probe, &key.session, &text).await;
    errors(&probe, &key.key, &text).await;
    throwaway_account(&probe, &text).await;
    expect(
        probe.form(
            ("POST", "/account/logout-everywhere"),
            "/account/logout-everywhere",
            Some(&key.session),
        ),
        303,
    )
    .await;

    let exercised = probe.exercised();
    let missed: Vec<_> = KNOWN
        .iter()
        .filter(|(route, _)| !exercised.contains(route))
        .collect();
    assert!(
        missed.is_empty(),
        "routes never sent the canary: {missed:?}"
    );

    // Every byte the server wrote, searched while it runs and after it stopped.
    let mut needles = canary_needles(&token, &text);
    let mut addresses = vec![FORWARDED_FOR, [127, 0, 0, 1]];
    if second.is_some() {
        addresses.push(SECOND_LOOPBACK.octets());
    }
    needles.extend(addresses.into_iter().flat_map(address_needles));
    let stored_email = email.to_lowercase();
    let mut leaks = search_data(
        &root.path().join("data"),
        &needles,
        &stored_email,
        "running",
    );
    server.interrupt(Duration::from_secs(30));
    leaks.extend(search_data(
        &root.path().join("data"),
        &needles,
        &stored_email,
        "stopped",
    ));
    for dir in [&cwd, &home, &root.path().join("tmp")] {
        for file in files_under(dir) {
            let bytes = std::fs::read(&file).expect("read");
            leaks.extend(findings(
                &file.display().to_string(),
                &bytes,
                &needles,
                |_, _, _| false,
            ));
        }
    }
    leaks.extend(search_output(&server, &needles));
    assert!(
        leaks.is_empty(),
        "the server kept what it must not:\n{}",
        leaks.join("\n")
    );
}

/// The database files (`sotto.db`, `-wal`, `-shm`) and anything else in the data directory.
/// The canary may be there only as the sign-up email, lower-cased; that it is found there at
/// all shows the search reads what the server wrote.
fn search_data(dir: &Path, needles: &[Needle], stored_email: &str, when: &str) -> Vec<String> {
    let lower = needles
        .iter()
        .position(|n| n.name == "the canary, lower-case")
        .expect("the lower-case needle");
    let email_bytes = stored_email.as_bytes();
    let mut email_seen = false;
    let mut leaks = Vec::new();
    for file in files_under(dir) {
        let bytes = std::fs::read(&file).expect("read");
        email_seen |= !search::positions(&bytes, email_bytes).is_empty();
        let place = format!("{} ({when})", file.display());
        leaks.extend(findings(&place, &bytes, needles, |needle, bytes, at| {
            std::ptr::eq(needle, &needles[lower]) && bytes[at..].starts_with(email_bytes)
        }));
    }
    assert!(
        email_seen,
        "the sign-up email is not in {} ({when}): is the search reading the database?",
        dir.display()
    );
    leaks
}

/// stderr and stdout, less the one line where the server says where it listens (its own
/// address, not a client's).
fn search_output(server: &ServerProcess, needles: &[Needle]) -> Vec<String> {
    let stderr = server.stderr();
    assert!(
        stderr.contains("TRACE"),
        "RUST_LOG=trace did not take effect"
    );
    assert!(
        stderr.contains("/v1/chat/completions"),
        "request lines are logged"
    );
    let address = server.base.trim_start_matches("http://");
    let listening = format!("listening on http://{address}");
    let lines: Vec<&str> = stderr.lines().collect();
    let own = lines
        .iter()
        .position(|line| line.trim_end().ends_with(&listening))
        .expect("the listening line");
    let rest: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(at, _)| *at != own)
        .map(|(_, line)| *line)
        .collect();
    let mut leaks = findings("stderr", rest.join("\n").as_bytes(), needles, |_, _, _| {
        false
    });
    leaks.extend(findings(
        "stdout",
        server.stdout().as_bytes(),
        needles,
        |_, _, _| false,
    ));
    leaks
}

async fn expect(request: reqwest::RequestBuilder, status: u16) -> Response {
    let response = request.send().await.expect("request sent");
    assert_eq!(response.status(), status, "{}", response.url());
    response
}

/// The main account's API key and its browser session, after every account route was sent
/// the canary.
struct Account {
    key: String,
    session: String,
}

async fn accounts(probe: &Probe, second: Option<&Probe>, email: &str, text: &str) -> Account {
    let token = &probe.token;
    for (route, path) in [
        (("GET", "/signup"), "/signup".to_owned()),
        (("GET", "/login"), "/login".to_owned()),
        (("GET", "/privacy"), "/privacy".to_owned()),
        (("GET", "/v1/privacy"), "/v1/privacy".to_owned()),
        (("GET", "/health"), format!("/health?{token}={token}")),
        (("GET", "/v1/models"), format!("/v1/models?q={token}")),
    ] {
        expect(probe.get(route, &path), 200).await;
    }
    expect(
        probe.get(("GET", "/v1/models/{id}"), &format!("/v1/models/{token}")),
        404,
    )
    .await;
    expect(
        probe.get(
            ("GET", "/static/{*path}"),
            &format!("/static/{token}.js?v={token}"),
        ),
        404,
    )
    .await;

    let password = format!("{text} first");
    let signup = ("POST", "/signup");
    let signed_up = expect(
        probe
            .form(signup, "/signup", None)
            .form(&[("email", email), ("password", &password)]),
        303,
    )
    .await;
    let session = session_cookie(&signed_up).expect("a session");
    let login = ("POST", "/login");
    let wrong = format!("{text} wrong");
    let unknown = format!("{token}.unknown@example.com");
    let from_second = second.unwrap_or(probe);
    for (who, email, password) in [
        (probe, email, &wrong),
        (from_second, email, &wrong),
        (probe, unknown.as_str(), &password),
    ] {
        let form = [("email", email), ("password", password.as_str())];
        expect(who.form(login, "/login", None).form(&form), 401).await;
    }
    // A form another site posts (the canary's `Origin`) is refused.
    let form = [("email", email), ("password", password.as_str())];
    expect(
        probe.request(login, Method::POST, "/login").form(&form),
        403,
    )
    .await;
    let logged_in = expect(from_second.form(login, "/login", None).form(&form), 303).await;
    let other = session_cookie(&logged_in).expect("a session");
    expect(
        probe.form(("POST", "/logout"), "/logout", Some(&other)),
        303,
    )
    .await;

    expect(
        probe.page(("GET", "/account"), Method::GET, "/account", &session),
        200,
    )
    .await;
    let keys = ("POST", "/account/keys");
    let too_long = [("name", text.repeat(3))];
    expect(
        probe
            .form(keys, "/account/keys", Some(&session))
            .form(&too_long),
        400,
    )
    .await;
    let created: Value = expect(
        probe
            .form(keys, "/account/keys", Some(&session))
            .header("accept", "application/json")
            .form(&[("name", "privacy test")]),
        201,
    )
    .await
    .json()
    .await
    .expect("json");
    let key = created["new_key"].as_str().expect("a key").to_owned();

    let change = ("POST", "/account/password");
    let wrong_change = [("current_password", wrong.as_str()), ("new_password", text)];
    expect(
        probe
            .form(change, "/account/password", Some(&session))
            .form(&wrong_change),
        401,
    )
    .await;
    let new_password = format!("{text} second");
    let right_change = [
        ("current_password", password.as_str()),
        ("new_password", &new_password),
    ];
    let changed = expect(
        probe
            .form(change, "/account/password", Some(&session))
            .form(&right_change),
        303,
    )
    .await;
    let session = session_cookie(&changed).expect("a new session");
    let delete = ("POST", "/account/delete");
    expect(
        probe
            .form(delete, "/account/delete", Some(&session))
            .form(&[("password", &wrong)]),
        401,
    )
    .await;
    Account { key, session }
}

/// A second account that names a key with the canary, revokes it and deletes itself: what
/// was stored goes with it.
async fn throwaway_account(probe: &Probe, text: &str) {
    let token = &probe.token;
    let email = format!("throwaway-{}@example.com", std::process::id());
    let password = format!("{text} throwaway");
    let signed_up = expect(
        probe
            .form(("POST", "/signup"), "/signup", None)
            .form(&[("email", email.as_str()), ("password", &password)]),
        303,
    )
    .await;
    let session = session_cookie(&signed_up).expect("a session");
    let created: Value = expect(
        probe
            .form(("POST", "/account/keys"), "/account/keys", Some(&session))
            .header("accept", "application/json")
            .form(&[("name", format!("{token} key"))]),
        201,
    )
    .await
    .json()
    .await
    .expect("json");
    let id = created["keys"][0]["id"].as_i64().expect("the key's id");
    let revoke = ("POST", "/account/keys/{id}/revoke");
    expect(
        probe.form(
            revoke,
            &format!("/account/keys/{id}/revoke"),
            Some(&session),
        ),
        303,
    )
    .await;
    expect(
        probe.form(
            revoke,
            &format!("/account/keys/{token}/revoke"),
            Some(&session),
        ),
        400,
    )
    .await;
    let delete = ("POST", "/account/delete");
    expect(
        probe
            .form(delete, "/account/delete", Some(&session))
            .form(&[("password", &password)]),
        200,
    )
    .await;
}

/// Chat messages of every role, each holding the canary.
fn messages(text: &str) -> Value {
    json!([
        { "role": "system", "content": format!("System: {text}") },
        { "role": "developer", "content": [{ "type": "text", "text": format!("Developer: {text}") }] },
        { "role": "user", "content": format!("Repeat {text}") },
        { "role": "assistant", "content": format!("Assistant: {text}") },
        { "role": "user", "content": format!("Again: {text}") },
    ])
}

/// Successful generation: chat and legacy completions, streamed and not, with the canary in
/// every text field.
async fn generation(probe: &Probe, key: &str, text: &str) {
    let token = &probe.token;
    let chat = json!({
        "messages": messages(text), "user": text, "stop": [text, token],
        "max_tokens": 8, "temperature": 0,
    });
    expect(probe.api(CHAT, key).json(&chat), 200).await;
    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({ "include_usage": true });
    let payloads = sse_payloads(expect(probe.api(CHAT, key).json(&streamed), 200).await).await;
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    for (prompt, stream) in [(json!(text), false), (json!([text]), true)] {
        let body = json!({
            "prompt": prompt, "user": text, "stop": text, "max_tokens": 8, "stream": stream,
        });
        let response = expect(probe.api(LEGACY, key).json(&body), 200).await;
        if stream {
            let payloads = sse_payloads(response).await;
            assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
        }
    }
}

/// The chat page's way in: the session cookie and the token read from the page.
async fn browser(probe: &Probe, session: &str, text: &str) {
    let page = expect(probe.page(("GET", "/"), Method::GET, "/", session), 200).await;
    let html = page.text().await.expect("the page");
    let csrf = html
        .split(r#"name="sotto-csrf" content=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's anti-CSRF token")
        .to_owned();
    let body = json!({ "messages": messages(text), "max_tokens": 8, "stream": true });
    let request = probe.page(UI_CHAT, Method::POST, UI_CHAT.1, session);
    let response = expect(replacing(request, "x-csrf-token", &csrf).json(&body), 200).await;
    assert_eq!(
        sse_payloads(response).await.last().map(String::as_str),
        Some("[DONE]")
    );
    // The canary's token instead of the page's: refused.
    let request = probe.page(UI_CHAT, Method::POST, UI_CHAT.1, session);
    expect(request.json(&body), 403).await;
}

/// Answers of every error status, each to a request full of the canary.
async fn errors(probe: &Probe, key: &str, text: &str) {
    let token = &probe.token;
    let chat = |extra: Value| {
        let mut body = json!({ "messages": messages(text), "max_tokens": 8 });
        body.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        body
    };
    // 400: a bad field, broken JSON, a prompt longer than the context.
    expect(
        probe
            .api(CHAT, key)
            .json(&chat(json!({ "temperature": text }))),
        400,
    )
    .await;
    let broken = format!("{{\"messages\": [{}", json!(text));
    let raw = |body: String| {
        probe
            .api(CHAT, key)
            .header("content-type", "application/json")
            .body(body)
    };
    expect(raw(broken), 400).await;
    let long = json!([{ "role": "user", "content": format!("{text} ").repeat(300) }]);
    expect(probe.api(CHAT, key).json(&json!({ "messages": long })), 400).await;
    // 401: the canary as the key (the probe's default `Authorization`).
    expect(
        probe
            .request(CHAT, Method::POST, CHAT.1)
            .json(&chat(json!({}))),
        401,
    )
    .await;
    // 404: an unknown model, an unknown route.
    expect(
        probe.api(CHAT, key).json(&chat(json!({ "model": token }))),
        404,
    )
    .await;
    let lost = format!("/v1/{token}/x?q={token}");
    expect(
        probe
            .request(FALLBACK, Method::POST, &lost)
            .body(text.to_owned()),
        404,
    )
    .await;
    // 405: a known path, another method.
    expect(
        probe
            .request(WRONG_METHOD, Method::DELETE, CHAT.1)
            .body(text.to_owned()),
        405,
    )
    .await;
    // 413: a body over `--max-body`.
    let huge = json!([{ "role": "user", "content": text.repeat(MAX_BODY / text.len() + 1) }]);
    expect(probe.api(CHAT, key).json(&json!({ "messages": huge })), 413).await;
    // 415: not JSON.
    let plain = probe
        .api(CHAT, key)
        .header("content-type", "text/plain")
        .body(text.to_owned());
    expect(plain, 415).await;
    // 421: a host name this server does not answer to.
    let host = format!("{token}.example");
    expect(probe.get(FALLBACK, "/health").header("host", host), 421).await;
    // 503: a model that is not loaded yet.
    expect(
        probe
            .api(CHAT, key)
            .json(&chat(json!({ "model": LOADING }))),
        503,
    )
    .await;
    // 429: a second request while the caller's one place is taken; then that stream is
    // dropped half-way.
    let endless = chat(json!({
        "max_tokens": 600, "stream": true, "logit_bias": { "0": -100, "2": -100 },
    }));
    let running = expect(probe.api(CHAT, key).json(&endless), 200).await;
    let mut body = running.bytes_stream();
    body.next().await.expect("a chunk").expect("bytes");
    expect(probe.api(CHAT, key).json(&chat(json!({}))), 429).await;
    drop(body);
    wait_idle(&probe.base).await;
}

async fn wait_idle(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health: Value = common::client()
            .get(format!("{base}/health"))
            .send()
            .await
            .expect("health")
            .json()
            .await
            .expect("json");
        let model = health["models"]
            .as_array()
            .and_then(|models| models.iter().find(|m| m["id"] == MODEL))
            .cloned()
            .expect("the model");
        if model["in_flight"] == 0 {
            assert_eq!(model["cancelled"], 1, "the dropped stream was cancelled");
            return;
        }
        assert!(Instant::now() < deadline, "the dropped stream kept running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
