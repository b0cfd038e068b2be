//! The forms and the chat page's own route against other sites: every page form refuses a
//! cross-site post and does nothing, and `/ui/chat/completions` takes its session's cookie and
//! anti-CSRF token, never an API key, and caches per session.

use crate::common;

use common::{
    chat_with, client, create_key_for, login_json, new_user_key, session_cookie, signup, spawn_app,
    uuid_like, wait_for_cached, TestApp, PASSWORD,
};
use serde_json::Value;

fn email() -> String {
    format!("sec-{}@example.com", uuid_like())
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
        login_json(&app.base, &address, PASSWORD).await.status(),
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
    let second =
        session_cookie(&login_json(&app.base, &alice, PASSWORD).await).expect("a second session");
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
