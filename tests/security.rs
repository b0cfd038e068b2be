//! Attacks a security review made on a running server, each replayed against the real server:
//! login floods and bursts, a revoked key's cached prompts, the session cookie by scheme, what
//! `/health` and the database files give away. (Transport attacks: `connections.rs`; forms and
//! the chat page's route: `forms.rs`.)

use crate::common;

use std::collections::BTreeMap;

use common::process::ServerProcess;
use common::{
    chat_with, client, create_key_for, login_json, new_user_key, session_cookie, signup, spawn_app,
    uuid_like, wait_for_cached, PASSWORD,
};
use futures::future::join_all;
use serde_json::{json, Value};

const GIB: u64 = 1 << 30;

fn email() -> String {
    format!("sec-{}@example.com", uuid_like())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_flood_is_answered_without_exhausting_memory() {
    let root = tempfile::tempdir().expect("root");
    // The throttle would refuse most of the flood; lift it so every login reaches the hashing.
    let server = ServerProcess::start(root.path(), &["--login-max-failures", "100000"], None);
    common::wait_model_ready(&server.base).await;
    let before = server.peak_resident_bytes();

    let flood = (0..300).map(|i| {
        let base = server.base.clone();
        async move { login_json(&base, &format!("flood-{i}@example.com"), "wrong password").await }
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
        .map(|_| login_json(&app.base, &address, "a wrong password"))
        .collect();
    burst.push(login_json(&app.base, &address, PASSWORD));
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
        if login_json(&app.base, &address, "a wrong password")
            .await
            .status()
            == 429
        {
            locked = true;
            break;
        }
    }
    assert!(locked, "the throttle never locked");
    let right = login_json(&app.base, &address, PASSWORD).await;
    assert_eq!(right.status(), 429);
    assert!(right.headers().contains_key("retry-after"));
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
    let host = format!("sotto.lan:{}", app.port());
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
    let other_device =
        session_cookie(&login_json(&app.base, &address, PASSWORD).await).expect("second session");
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
