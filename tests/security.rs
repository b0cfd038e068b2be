//! Attacks a security review made on a running server, each replayed against the real server:
//! login floods and bursts, a revoked key's cached prompts, slow and idle connections, DNS
//! rebinding, cross-site API calls, and what `/health` and the database files give away.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::process::ServerProcess;
use common::{client, create_key_for, session_cookie, signup, spawn_app, uuid_like, TestApp};
use futures::future::join_all;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PASSWORD: &str = "correct horse battery";
const GIB: u64 = 1 << 30;

fn email() -> String {
    format!("sec-{}@example.com", uuid_like())
}

async fn attempt_login(base: &str, email: &str, password: &str) -> reqwest::Response {
    client()
        .post(format!("{base}/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("login request")
}

/// Sends `request` as written on a new connection and returns the whole answer as text.
async fn raw(base: &str, request: &str) -> String {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn port(app: &TestApp) -> &str {
    app.base.rsplit(':').next().expect("port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_flood_is_answered_without_exhausting_memory() {
    let root = tempfile::tempdir().expect("root");
    // The throttle would refuse most of the flood; lift it so every login reaches the hashing.
    let server = ServerProcess::start(root.path(), &["--login-max-failures", "100000"], None);
    common::wait_model_ready(&server.base).await;
    let before = server.peak_resident_bytes();

    let flood =
        (0..300).map(|i| {
            let base = server.base.clone();
            async move {
                attempt_login(&base, &format!("flood-{i}@example.com"), "wrong password").await
            }
        });
    let mut statuses = BTreeMap::new();
    for response in join_all(flood).await {
        let status = response.status().as_u16();
        if status == 503 {
            assert!(response.headers().contains_key("retry-after"));
        }
        *statuses.entry(status).or_insert(0) += 1;
    }
    assert!(
        statuses
            .keys()
            .all(|status| [401, 429, 503].contains(status)),
        "{statuses:?}"
    );
    let peak = server.peak_resident_bytes();
    eprintln!(
        "login flood: {statuses:?}; peak resident {} MiB, {} MiB before it",
        peak / (1 << 20),
        before / (1 << 20)
    );
    assert!(peak < GIB, "peak resident memory {} MiB", peak / (1 << 20));
    // Each check needs 19 MiB. The pool runs two per core, each in memory its thread keeps:
    // growth beyond that (and some slack) means checks ran outside the pool.
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as u64;
    let bound = (2 * cores + 4) * 20 * (1 << 20);
    assert!(
        peak.saturating_sub(before) < bound,
        "grew {} MiB under the flood",
        peak.saturating_sub(before) / (1 << 20)
    );
}

#[tokio::test]
async fn a_burst_of_guesses_is_evaluated_only_up_to_the_limit() {
    let app = spawn_app(|config| config.login_max_failures = 10).await;
    let address = email();
    signup(&app.base, &address, PASSWORD).await;

    let mut burst: Vec<_> = (0..50)
        .map(|_| attempt_login(&app.base, &address, "a wrong password"))
        .collect();
    burst.push(attempt_login(&app.base, &address, PASSWORD));
    let statuses: Vec<u16> = join_all(burst)
        .await
        .iter()
        .map(|response| response.status().as_u16())
        .collect();
    let evaluated = statuses.iter().filter(|s| [200, 401].contains(s)).count();
    assert!(evaluated <= 10, "{evaluated} evaluated: {statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");

    // Until the lock is reached (a check the pool turned away counts for nothing), then the
    // right password is refused without being checked.
    let mut locked = false;
    for _ in 0..=10 {
        if attempt_login(&app.base, &address, "a wrong password")
            .await
            .status()
            == 429
        {
            locked = true;
            break;
        }
    }
    assert!(locked, "the throttle never locked");
    let right = attempt_login(&app.base, &address, PASSWORD).await;
    assert_eq!(right.status(), 429);
    assert!(right.headers().contains_key("retry-after"));
}

/// A key of a new user: (key, id, session cookie).
async fn new_user_key(app: &TestApp) -> (String, i64, String) {
    let cookie = signup(&app.base, &email(), PASSWORD).await;
    let account = create_key_for(&app.base, &cookie, "k").await;
    let key = account["new_key"].as_str().expect("key").to_owned();
    let id = account["keys"]
        .as_array()
        .and_then(|keys| keys.iter().filter_map(|k| k["id"].as_i64()).max())
        .expect("key id");
    (key, id, cookie)
}

async fn chat_with(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    client()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("chat request")
}

async fn wait_for_cached(app: &TestApp, wanted: impl Fn(u64) -> bool) {
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

#[tokio::test]
async fn a_key_revoked_from_the_command_line_leaves_nothing_to_probe() {
    let app = spawn_app(|_| {}).await;
    let (old_key, old_id, _) = new_user_key(&app).await;
    let secret = common::greedy_chat(
        "Remember this: the vault code of Ingrid Halvorsen is 4417-KESTREL-0093.",
        4,
    );
    assert_eq!(chat_with(&app, &old_key, &secret).await.status(), 200);
    wait_for_cached(&app, |cached| cached >= 1).await;

    // Another process revokes the key: the server drops its cached prompt by itself.
    let revoked = std::process::Command::new(env!("CARGO_BIN_EXE_sotto"))
        .args(["keys", "revoke", &old_id.to_string()])
        .arg("--data-dir")
        .arg(&app.data_dir)
        .env_remove("SOTTO_DATA_DIR")
        .output()
        .expect("sotto keys revoke");
    assert!(revoked.status.success(), "{revoked:?}");
    assert_eq!(chat_with(&app, &old_key, &secret).await.status(), 401);
    wait_for_cached(&app, |cached| cached == 0).await;

    // A new user's new key never gets the revoked key's id, nor anything it left behind.
    let (new_key, new_id, _) = new_user_key(&app).await;
    assert!(new_id > old_id, "id {new_id} after {old_id}");
    let probe = chat_with(&app, &new_key, &secret).await;
    let probe: Value = probe.json().await.expect("json");
    assert_eq!(probe["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_under_a_low_file_limit() {
    let root = tempfile::tempdir().expect("root");
    let args = ["--max-connections", "200", "--header-timeout-secs", "2"];
    let server = ServerProcess::start(root.path(), &args, Some(256));
    common::wait_model_ready(&server.base).await;
    let address = server.base.trim_start_matches("http://").to_owned();

    // More half-sent requests than the process has descriptors.
    let mut stalled = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .expect("write");
        stalled.push(stream);
    }
    let served = client()
        .get(format!("{}/health", server.base))
        .send()
        .await
        .expect("a normal request is served");
    assert_eq!(served.status(), 200);

    let deadline = Instant::now() + Duration::from_secs(60);
    for mut stream in stalled {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut byte = [0u8; 64];
        let closed = tokio::time::timeout(left, async {
            // EOF or a reset: either way the server let go of the connection.
            loop {
                match stream.read(&mut byte).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a stalled connection stayed open");
    }
    assert!(!server.stderr().contains("Too many open files"));
}

#[tokio::test]
async fn other_host_names_are_refused_and_listed_ones_served() {
    let app = spawn_app(|config| config.allowed_hosts = vec!["sotto.lan".into()]).await;
    let port = port(&app);
    for path in ["/v1/models", "/login", "/"] {
        let answer = raw(
            &app.base,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n"
            ),
        )
        .await;
        assert_eq!(status_of(&answer), 421, "{path}: {answer}");
        assert!(
            !answer.contains("evil.example"),
            "the name is echoed: {answer}"
        );
    }
    let api = raw(
        &app.base,
        &format!(
            "GET /v1/models HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(api.contains("\"code\":\"host_not_allowed\""), "{api}");
    for host in [
        format!("sotto.lan:{port}"),
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
    ] {
        let answer = raw(
            &app.base,
            &format!("GET /login HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(status_of(&answer), 200, "{host}");
    }
}

#[tokio::test]
async fn the_api_reads_json_only_and_answers_any_origin() {
    let app = common::shared_app().await;
    // A page on another site can send this without asking first (no preflight).
    for key in [Some(app.api_key.as_str()), None] {
        let mut request = client()
            .post(app.url("/v1/chat/completions"))
            .header("content-type", "text/plain")
            .header("origin", "https://evil.example")
            .body(common::greedy_chat("hello", 2).to_string());
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), 415);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "unsupported_media_type");
    }
    let preflight = client()
        .request(reqwest::Method::OPTIONS, app.url("/v1/chat/completions"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    // Any origin is allowed (named back), never with credentials: `/v1` ignores cookies.
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(!preflight
        .headers()
        .contains_key("access-control-allow-credentials"));
    let methods = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .expect("methods");
    assert!(methods.contains("POST"), "{methods}");
    let listed = client()
        .get(app.url("/v1/models"))
        .header("origin", "https://app.example")
        .send()
        .await
        .expect("models");
    assert_eq!(
        listed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    // The browser UI's route is same-origin only.
    let ui = client()
        .request(reqwest::Method::OPTIONS, app.url("/ui/chat/completions"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("ui preflight");
    assert!(!ui.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = common::shared_app().await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let response = client()
            .post(app.url("/v1/chat/completions"))
            .header("authorization", format!("{scheme} {}", app.api_key))
            .json(&common::greedy_chat("hi", 1))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn health_shows_activity_only_to_this_machine_or_a_key_holder() {
    let app = spawn_app(|config| config.trusted_proxies = vec![[127, 0, 0, 1].into()]).await;
    let health = |forwarded: bool, key: Option<String>| {
        let mut request = client().get(app.url("/health"));
        if forwarded {
            request = request.header("x-forwarded-for", "203.0.113.9");
        }
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move {
            let body: Value = request
                .send()
                .await
                .expect("health")
                .json()
                .await
                .expect("json");
            body["models"][0].clone()
        }
    };
    let local = health(false, None).await;
    assert_eq!(local["state"], "ready");
    assert!(local.get("active").is_some(), "{local}");
    let remote = health(true, None).await;
    assert_eq!(remote["state"], "ready");
    for counter in ["active", "in_flight", "cancelled", "cached_conversations"] {
        assert!(remote.get(counter).is_none(), "{counter} in {remote}");
    }
    let with_key = health(true, Some(app.api_key.clone())).await;
    assert!(with_key.get("active").is_some(), "{with_key}");
}

#[tokio::test]
async fn every_database_file_is_for_the_server_user_only() {
    use std::os::unix::fs::PermissionsExt;
    let app = common::shared_app().await;
    signup(&app.base, &email(), PASSWORD).await;
    let mut seen = 0;
    for name in ["sotto.db", "sotto.db-wal", "sotto.db-shm"] {
        let path = app.data_dir.join(name);
        if let Ok(metadata) = std::fs::metadata(&path) {
            seen += 1;
            let mode = metadata.permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{name} is {mode:o}");
        }
    }
    assert_eq!(
        seen, 3,
        "the database runs in WAL mode: all three files exist"
    );
}

#[tokio::test]
async fn the_session_cookie_follows_the_connection_scheme() {
    let app = spawn_app(|config| config.trusted_proxies = vec![[127, 0, 0, 1].into()]).await;
    let signup_via = |https: bool| {
        let mut request = client()
            .post(app.url("/signup"))
            .json(&json!({ "email": email(), "password": PASSWORD }));
        if https {
            request = request.header("x-forwarded-proto", "https");
        }
        async move { request.send().await.expect("signup") }
    };
    let secure = signup_via(true).await;
    let set_cookie = secure.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(set_cookie.starts_with("__Host-sotto="), "{set_cookie}");
    for flag in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            set_cookie.contains(flag),
            "{flag} missing from {set_cookie}"
        );
    }
    let cookie = session_cookie(&secure).expect("session");
    let account = |https: bool| {
        let mut request = client()
            .get(app.url("/account"))
            .header("cookie", cookie.clone());
        if https {
            request = request.header("x-forwarded-proto", "https");
        }
        async move { request.send().await.expect("account").status() }
    };
    assert_eq!(account(true).await, 200);
    // Each scheme reads only its own cookie.
    assert_eq!(account(false).await, 303);
    let plain = signup_via(false).await;
    let set_cookie = plain.headers()["set-cookie"].to_str().expect("cookie");
    assert!(set_cookie.starts_with("sotto=") && set_cookie.contains("SameSite=Strict"));

    // A proxy that is not trusted cannot claim HTTPS.
    let untrusted = spawn_app(|_| {}).await;
    let response = client()
        .post(untrusted.url("/signup"))
        .header("x-forwarded-proto", "https")
        .json(&json!({ "email": email(), "password": PASSWORD }))
        .send()
        .await
        .expect("signup");
    let set_cookie = response.headers()["set-cookie"].to_str().expect("cookie");
    assert!(set_cookie.starts_with("sotto="), "{set_cookie}");
}

#[tokio::test]
async fn forms_posted_over_plain_http_at_a_lan_name_are_accepted_from_this_origin_only() {
    let app = spawn_app(|config| config.allowed_hosts = vec!["sotto.lan".into()]).await;
    let host = format!("sotto.lan:{}", port(&app));
    let post = |origin: &str| {
        client()
            .post(app.url("/signup"))
            .header("host", &host)
            .header("origin", origin)
            .form(&[("email", email().as_str()), ("password", PASSWORD)])
            .send()
    };
    // What a browser sends for its own form over plain HTTP: its origin, no Fetch Metadata.
    let same = post(&format!("http://{host}")).await.expect("same origin");
    assert_eq!(same.status(), 303);
    let page = client()
        .get(app.url("/"))
        .header("host", &host)
        .header("cookie", session_cookie(&same).expect("cookie"))
        .send()
        .await
        .expect("chat page");
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .expect("page")
        .contains("insecure-connection"));
    for other in ["null", "http://evil.example", "http://sotto.lan:1"] {
        let response = post(other).await.expect("cross site");
        assert_eq!(response.status(), 403, "{other}");
    }
}

#[tokio::test]
async fn a_password_change_can_revoke_every_key_and_logging_out_everywhere_does() {
    let app = spawn_app(|_| {}).await;
    let address = email();
    let cookie = signup(&app.base, &address, PASSWORD).await;
    let key = create_key_for(&app.base, &cookie, "laptop").await["new_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let other_device = session_cookie(&attempt_login(&app.base, &address, PASSWORD).await)
        .expect("second session");
    let models = |key: String| {
        let request = client()
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&common::greedy_chat("hi", 1));
        async move { request.send().await.expect("chat").status() }
    };
    assert_eq!(models(key.clone()).await, 200);

    let changed = client()
        .post(app.url("/account/password"))
        .header("cookie", &cookie)
        .form(&[
            ("current_password", PASSWORD),
            ("new_password", "a brand new passphrase"),
            ("revoke_keys", "on"),
        ])
        .send()
        .await
        .expect("change");
    assert_eq!(changed.status(), 303);
    let fresh = session_cookie(&changed).expect("this browser stays logged in");
    assert_eq!(models(key).await, 401);
    let account = |cookie: String| {
        let request = client().get(app.url("/account")).header("cookie", cookie);
        async move { request.send().await.expect("account").status() }
    };
    assert_eq!(account(other_device).await, 303);
    assert_eq!(account(fresh.clone()).await, 200);

    let key = create_key_for(&app.base, &fresh, "phone").await["new_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let everywhere = client()
        .post(app.url("/account/logout-everywhere"))
        .header("cookie", &fresh)
        .send()
        .await
        .expect("log out everywhere");
    assert_eq!(everywhere.status(), 303);
    assert_eq!(models(key).await, 401);
    assert_eq!(account(fresh).await, 303);
}

#[tokio::test]
async fn the_password_check_before_account_deletion_is_throttled() {
    let app = spawn_app(|config| config.login_max_failures = 3).await;
    let address = email();
    let cookie = signup(&app.base, &address, PASSWORD).await;
    let delete = |password: &'static str| {
        client()
            .post(app.url("/account/delete"))
            .header("cookie", &cookie)
            .form(&[("password", password)])
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            delete("not my password").await.expect("delete").status(),
            401
        );
    }
    let locked = delete(PASSWORD).await.expect("delete");
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().contains_key("retry-after"));
}

/// The page routes that take a POST, read from `src/router.rs`: a form route added there shows
/// up here without anyone remembering to.
fn page_form_routes() -> Vec<String> {
    let router = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/router.rs"))
        .expect("src/router.rs");
    let mut routes: Vec<String> = router
        .split(".route(")
        .skip(1)
        .filter_map(|call| {
            let call = call.split(".layer(").next().unwrap_or(call);
            let path = call.split('"').nth(1)?;
            (call.contains("post(web::")).then(|| path.to_owned())
        })
        .collect();
    routes.sort();
    routes
}

#[test]
fn the_form_routes_are_read_from_the_router() {
    let routes = page_form_routes();
    for expected in ["/signup", "/login", "/logout", "/account/delete"] {
        assert!(
            routes.iter().any(|r| r == expected),
            "{expected}: {routes:?}"
        );
    }
    assert!(
        !routes
            .iter()
            .any(|r| r.starts_with("/v1") || r.starts_with("/ui")),
        "{routes:?}"
    );
}

/// Every form, sent by another site (Fetch Metadata says so, or only `Origin` does, as over
/// plain HTTP), with everything it needs to succeed: each answers 403 and nothing happened.
#[tokio::test]
async fn every_form_refuses_other_sites_and_does_nothing() {
    let app = spawn_app(|_| {}).await;
    let address = email();
    let cookie = signup(&app.base, &address, PASSWORD).await;
    let created = create_key_for(&app.base, &cookie, "laptop").await;
    let key = created["new_key"].as_str().expect("key").to_owned();
    let key_id = created["keys"][0]["id"].as_i64().expect("key id");
    let newcomer = email();
    let fields = [
        ("name", "evil"),
        ("password", PASSWORD),
        ("current_password", PASSWORD),
        ("new_password", "a password of the attacker"),
        ("revoke_keys", "on"),
    ];
    let checked = [
        "/account/delete",
        "/account/keys",
        "/account/keys/{id}/revoke",
        "/account/logout-everywhere",
        "/account/password",
        "/login",
        "/logout",
        "/signup",
    ];
    let routes = page_form_routes();
    for route in &routes {
        assert!(
            checked.contains(&route.as_str()),
            "{route} takes a POST: check here what a cross-site post to it must not do"
        );
    }
    for (header, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "http://evil.example"),
    ] {
        for route in &routes {
            let path = route.replace("{id}", &key_id.to_string());
            let email = if route == "/signup" {
                &newcomer
            } else {
                &address
            };
            let mut form = vec![("email", email.as_str())];
            form.extend(fields);
            let response = client()
                .post(app.url(&path))
                .header("cookie", &cookie)
                .header(header, value)
                .form(&form)
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), 403, "{path} with {header}");
            assert!(
                response.headers().get("set-cookie").is_none(),
                "{path} with {header} set a cookie"
            );
        }
    }
    // Nothing happened: no account signed up, no session started or ended, the key neither
    // revoked nor joined by another, the password and the account as they were.
    let db = rusqlite::Connection::open(app.data_dir.join("sotto.db")).expect("database");
    let count = |sql: &str, email: &str| -> i64 {
        db.query_row(sql, [email.to_lowercase()], |row| row.get(0))
            .expect("count")
    };
    assert_eq!(
        count("SELECT count(*) FROM users WHERE email = ?1", &newcomer),
        0
    );
    let sessions =
        "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = ?1";
    assert_eq!(count(sessions, &address), 1);
    let page: Value = client()
        .get(app.url("/account"))
        .header("cookie", &cookie)
        .header("accept", "application/json")
        .send()
        .await
        .expect("account")
        .json()
        .await
        .expect("still signed in");
    let ids: Vec<i64> = page["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["id"].as_i64())
        .collect();
    assert_eq!(ids, [key_id]);
    let chat = chat_with(&app, &key, &common::greedy_chat("hi", 1)).await;
    assert_eq!(chat.status(), 200, "the key stopped working");
    assert_eq!(
        attempt_login(&app.base, &address, PASSWORD).await.status(),
        200
    );
}

/// The chat page's anti-CSRF token, read from the page as its script does.
async fn csrf_of(app: &TestApp, cookie: &str) -> String {
    let page = client()
        .get(app.url("/"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("chat page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    html.split("name=\"sotto-csrf\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the token in the page")
        .to_owned()
}

async fn ui_chat(
    app: &TestApp,
    cookie: Option<&str>,
    csrf: Option<&str>,
    key: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = client().post(app.url("/ui/chat/completions")).json(body);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("ui request")
}

/// A refusal in OpenAI's error shape.
async fn refused(response: reqwest::Response, status: u16, code: &str, what: &str) {
    assert_eq!(response.status(), status, "{what}");
    let body: Value = response.json().await.expect("json error");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(body["error"]["message"].is_string(), "{what}: {body}");
    assert!(body["error"]["type"].is_string(), "{what}: {body}");
}

fn cached_tokens(completion: &Value) -> u64 {
    completion["usage"]["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .expect("cached_tokens")
}

/// `/ui/chat/completions` takes the session cookie with that session's token only, and its
/// prompt cache belongs to the session: another session of the same user starts cold, and
/// log-out and account deletion drop what each cached.
#[tokio::test]
async fn the_chat_page_route_takes_its_own_session_and_token_and_caches_per_session() {
    let app = spawn_app(|_| {}).await;
    let alice = email();
    let first = signup(&app.base, &alice, PASSWORD).await;
    let second = session_cookie(&attempt_login(&app.base, &alice, PASSWORD).await)
        .expect("a second session");
    let (bob_key, _, bob) = new_user_key(&app).await;
    let (first_csrf, second_csrf, bob_csrf) = (
        csrf_of(&app, &first).await,
        csrf_of(&app, &second).await,
        csrf_of(&app, &bob).await,
    );
    assert_ne!(first_csrf, second_csrf);
    let prompt = common::greedy_chat(
        "Remember this: the locker code of Ingrid Halvorsen is 4417-KESTREL-0093.",
        2,
    );

    let response = ui_chat(&app, Some(&first), None, None, &prompt).await;
    refused(response, 403, "csrf_token_invalid", "no token").await;
    let response = ui_chat(&app, Some(&first), Some(&bob_csrf), None, &prompt).await;
    refused(response, 403, "csrf_token_invalid", "another user's token").await;
    let response = ui_chat(&app, Some(&first), Some(&second_csrf), None, &prompt).await;
    refused(
        response,
        403,
        "csrf_token_invalid",
        "another session's token",
    )
    .await;
    let response = ui_chat(&app, None, None, Some(&bob_key), &prompt).await;
    refused(response, 401, "session_required", "an API key").await;
    let response = ui_chat(&app, None, Some(&bob_csrf), Some(&bob_key), &prompt).await;
    refused(response, 401, "session_required", "an API key and a token").await;

    let ask = |cookie: String, csrf: String| {
        let app = &app;
        let prompt = prompt.clone();
        async move {
            let response = ui_chat(app, Some(&cookie), Some(&csrf), None, &prompt).await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.expect("completion")
        }
    };
    assert_eq!(
        cached_tokens(&ask(first.clone(), first_csrf.clone()).await),
        0
    );
    wait_for_cached(&app, |cached| cached == 1).await;
    // The same session again finds its prompt cached: what the probes below look for.
    assert!(cached_tokens(&ask(first.clone(), first_csrf.clone()).await) > 0);
    assert_eq!(
        cached_tokens(&ask(second.clone(), second_csrf.clone()).await),
        0,
        "another session of the same user got the first one's cache"
    );
    wait_for_cached(&app, |cached| cached == 2).await;

    let logout = client()
        .post(app.url("/logout"))
        .header("cookie", &first)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 303);
    wait_for_cached(&app, |cached| cached == 1).await;
    let deleted = client()
        .post(app.url("/account/delete"))
        .header("cookie", &second)
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 200);
    wait_for_cached(&app, |cached| cached == 0).await;
    let probe: Value = chat_with(&app, &bob_key, &prompt)
        .await
        .json()
        .await
        .expect("probe");
    assert_eq!(cached_tokens(&probe), 0);
}

/// llama.cpp's own log lines never reach the server's output, even at `RUST_LOG=trace`: they
/// are not the server's to vet for content.
#[tokio::test]
async fn llama_cpp_logs_nothing_even_at_trace() {
    let root = tempfile::tempdir().expect("root");
    let server = ServerProcess::start_with_env(root.path(), &[], None, &[("RUST_LOG", "trace")]);
    common::wait_model_ready(&server.base).await;
    let stderr = server.stderr();
    assert!(stderr.contains("listening on"), "{stderr}");
    for line in [
        "llama_model_loader",
        "load_tensors",
        "llama_context",
        "print_info",
        "llama_kv_cache",
        "ggml_",
    ] {
        assert!(!stderr.contains(line), "llama.cpp logged {line}:\n{stderr}");
    }
}

/// The panic hook logs where a panic happened, never its message (which may hold request
/// data). No request can make a handler panic, so the hook is installed in a child process
/// (this test binary again, running only the helper below) that then panics.
#[test]
fn a_panic_logs_its_location_not_its_message() {
    let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "panic_hook_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("SOTTO_TEST_PANIC_HOOK_CHILD", "1")
        .output()
        .expect("the child runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success(),
        "the child did not panic: {printed}"
    );
    assert!(printed.contains("message withheld"), "{printed}");
    assert!(
        printed.contains("tests/security.rs:"),
        "no location: {printed}"
    );
    assert!(
        !printed.contains("4417-KESTREL"),
        "the message was logged: {printed}"
    );
}

#[test]
fn panic_hook_child() {
    if std::env::var_os("SOTTO_TEST_PANIC_HOOK_CHILD").is_none() {
        return;
    }
    sotto::telemetry::init();
    panic!("the vault code is 4417-KESTREL-0093");
}
