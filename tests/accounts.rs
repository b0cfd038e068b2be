//! Accounts, sessions and API keys, through the real server.

use crate::common;

use common::{
    account, client, login, session_cookie, signup, spawn_app, uuid_like, TestApp, PASSWORD,
};
use rusqlite::Connection;
use serde_json::{json, Value};

fn email() -> String {
    format!("User-{}@Example.com", uuid_like())
}

async fn create_key(app: &TestApp, cookie: &str) -> (i64, String) {
    let response = client()
        .post(app.url("/account/keys"))
        .header("cookie", cookie)
        .header("accept", "application/json")
        .form(&[("name", "laptop")])
        .send()
        .await
        .expect("key request");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    let key = body["new_key"].as_str().expect("key").to_owned();
    let id = body["keys"]
        .as_array()
        .and_then(|k| k.last())
        .and_then(|k| k["id"].as_i64())
        .expect("id");
    (id, key)
}

async fn chat_status(app: &TestApp, authorization: Option<&str>, cookie: Option<&str>) -> u16 {
    let mut request = client()
        .post(app.url("/v1/chat/completions"))
        .json(&json!({ "messages": [{ "role": "user", "content": "hi" }], "max_tokens": 2 }));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request
        .send()
        .await
        .expect("chat request")
        .status()
        .as_u16()
}

fn database(app: &TestApp) -> Connection {
    Connection::open(app.data_dir.join("sotto.db")).expect("open the database")
}

#[tokio::test]
async fn the_schema_holds_exactly_the_allowed_columns() {
    let app = spawn_app(|_| {}).await;
    let db = database(&app);
    let mut tables: Vec<(String, Vec<String>)> = Vec::new();
    let mut names = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .expect("query");
    let names: Vec<String> = names
        .query_map([], |row| row.get(0))
        .expect("rows")
        .flatten()
        .collect();
    for name in names {
        let mut columns = db
            .prepare(&format!("PRAGMA table_info({name})"))
            .expect("pragma");
        let columns: Vec<String> = columns
            .query_map([], |row| row.get(1))
            .expect("rows")
            .flatten()
            .collect();
        tables.push((name, columns));
    }
    let expected = [
        (
            "api_keys",
            vec!["id", "user_id", "name", "prefix", "key_hash", "created_at"],
        ),
        (
            "sessions",
            vec!["token_hash", "user_id", "created_at", "expires_at"],
        ),
        ("users", vec!["id", "email", "password_hash", "created_at"]),
    ];
    let expected: Vec<(String, Vec<String>)> = expected
        .iter()
        .map(|(t, c)| (t.to_string(), c.iter().map(|c| c.to_string()).collect()))
        .collect();
    assert_eq!(tables, expected);
}

#[tokio::test]
async fn passwords_are_argon2id_hashes_and_emails_lower_case() {
    let app = spawn_app(|_| {}).await;
    let address = email();
    let _ = signup(&app.base, &address, PASSWORD).await;
    let (stored_email, hash): (String, String) = database(&app)
        .query_row(
            "SELECT email, password_hash FROM users WHERE email = ?1",
            [address.to_lowercase()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("user row");
    assert_eq!(stored_email, address.to_lowercase());
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    let params: Vec<(String, u32)> = hash
        .split('$')
        .nth(3)
        .expect("params")
        .split(',')
        .filter_map(|p| {
            p.split_once('=')
                .and_then(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        })
        .collect();
    assert!(
        params.contains(&("m".into(), 19456))
            || params.iter().any(|(k, v)| k == "m" && *v >= 19456)
    );
    assert!(
        params.iter().any(|(k, v)| k == "t" && *v >= 2),
        "{params:?}"
    );
    for file in ["sotto.db", "sotto.db-wal", "sotto.db-shm"] {
        let bytes = std::fs::read(app.data_dir.join(file)).unwrap_or_default();
        assert!(
            !bytes
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes()),
            "plaintext password in {file}"
        );
    }
    // Log-in is case-insensitive on the email.
    assert_eq!(
        login(&app.base, &address.to_uppercase(), PASSWORD)
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn session_cookies_are_locked_down_rotated_and_ended() {
    let app = spawn_app(|_| {}).await;
    let address = email();
    let from_signup = signup(&app.base, &address, PASSWORD).await;
    let first = client()
        .post(app.url("/login"))
        .header("cookie", &from_signup)
        .form(&[("email", address.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .expect("login");
    assert_eq!(first.status(), 303);
    assert_eq!(account(&app, &from_signup).await.status(), 303);
    // Plain HTTP (this test's connection): browsers drop `Secure` cookies there, so the cookie
    // is a plain one, kept out of every request another site starts.
    let set_cookie = first.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(set_cookie.starts_with("sotto="), "{set_cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            set_cookie.contains(flag),
            "{flag} missing from {set_cookie}"
        );
    }
    assert!(!set_cookie.contains("Domain") && !set_cookie.contains("Secure"));
    let first = session_cookie(&first).expect("session");
    assert_eq!(account(&app, &first).await.status(), 200);

    // A new token at each login; the one the browser sent along is ended.
    let second = client()
        .post(app.url("/login"))
        .header("cookie", &first)
        .form(&[("email", address.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .expect("login");
    let second = session_cookie(&second).expect("session");
    assert_ne!(first, second);
    assert_eq!(account(&app, &first).await.status(), 303);
    assert_eq!(account(&app, &second).await.status(), 200);

    // Log-out deletes the session on the server, not only in the browser.
    let logout = client()
        .post(app.url("/logout"))
        .header("cookie", &second)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 303);
    assert!(logout.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .contains("Max-Age=0"));
    assert_eq!(account(&app, &second).await.status(), 303);
    let sessions: i64 = database(&app)
        .query_row(
            "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = ?1",
            [address.to_lowercase()],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(sessions, 0);
}

#[tokio::test]
async fn the_api_needs_a_valid_key_and_ignores_cookies() {
    let app = spawn_app(|_| {}).await;
    let cookie = signup(&app.base, &email(), PASSWORD).await;
    let (id, key) = create_key(&app, &cookie).await;
    let bearer = format!("Bearer {key}");
    assert_eq!(chat_status(&app, None, None).await, 401);
    assert_eq!(
        chat_status(&app, Some("Bearer sk-sotto-not-a-real-key"), None).await,
        401
    );
    assert_eq!(chat_status(&app, Some(&key), None).await, 401);
    assert_eq!(chat_status(&app, None, Some(&cookie)).await, 401);
    assert_eq!(chat_status(&app, Some(&bearer), None).await, 200);
    let unauthorized = client()
        .post(app.url("/v1/completions"))
        .json(&json!({"prompt": "x"}))
        .send()
        .await
        .expect("req");
    assert_eq!(unauthorized.headers()["www-authenticate"], "Bearer");
    let body: Value = unauthorized.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_api_key");
    // Listing models stays public.
    assert_eq!(
        client()
            .get(app.url("/v1/models"))
            .send()
            .await
            .expect("models")
            .status(),
        200
    );

    let revoke = client()
        .post(app.url(&format!("/account/keys/{id}/revoke")))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoke.status(), 303);
    assert_eq!(chat_status(&app, Some(&bearer), None).await, 401);
}

#[tokio::test]
async fn auth_off_serves_the_api_without_a_key() {
    let app = spawn_app(|config| config.auth = sotto::config::Auth::Off).await;
    assert_eq!(chat_status(&app, None, None).await, 200);
}

#[tokio::test]
async fn deleting_an_account_leaves_nothing_about_the_user() {
    let app = spawn_app(|_| {}).await;
    let keep = signup(&app.base, &email(), PASSWORD).await;
    let address = email();
    let cookie = signup(&app.base, &address, PASSWORD).await;
    let (_, key) = create_key(&app, &cookie).await;
    let user_id: i64 = database(&app)
        .query_row(
            "SELECT id FROM users WHERE email = ?1",
            [address.to_lowercase()],
            |r| r.get(0),
        )
        .expect("user");

    let wrong = client()
        .post(app.url("/account/delete"))
        .header("cookie", &cookie)
        .form(&[("password", "not my password")])
        .send()
        .await
        .expect("delete");
    assert_eq!(wrong.status(), 401);
    let deleted = client()
        .post(app.url("/account/delete"))
        .header("cookie", &cookie)
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 200);

    let db = database(&app);
    for (table, column) in [
        ("users", "id"),
        ("sessions", "user_id"),
        ("api_keys", "user_id"),
    ] {
        let count: i64 = db
            .query_row(
                &format!("SELECT count(*) FROM {table} WHERE {column} = ?1"),
                [user_id],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(count, 0, "{table} still mentions the user");
    }
    for file in ["sotto.db", "sotto.db-wal"] {
        let bytes = std::fs::read(app.data_dir.join(file)).unwrap_or_default();
        let needle = address.to_lowercase();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "the email is still in {file}"
        );
    }
    assert_eq!(
        chat_status(&app, Some(&format!("Bearer {key}")), None).await,
        401
    );
    assert_eq!(account(&app, &cookie).await.status(), 303);
    assert_eq!(
        account(&app, &keep).await.status(),
        200,
        "another user was affected"
    );
}

#[tokio::test]
async fn closed_signup_leaves_account_creation_to_the_cli() {
    let app = spawn_app(|config| config.signup = sotto::config::Signup::Closed).await;
    let response = client()
        .post(app.url("/signup"))
        .form(&[("email", "someone@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .expect("signup");
    assert_eq!(response.status(), 403);

    // The CLI works on the same database while the server runs.
    let sotto = env!("CARGO_BIN_EXE_sotto");
    let data_dir = app.data_dir.to_str().expect("path").to_owned();
    let run = |args: &[&str], stdin: &str| {
        let mut command = std::process::Command::new(sotto);
        command.args(args).args(["--data-dir", &data_dir]);
        let output = common::process::output_with_stdin(command, stdin.as_bytes());
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    run(
        &["users", "add", "Admin@Example.com"],
        &format!("{PASSWORD}\n"),
    );
    assert!(run(&["users", "list"], "").contains("admin@example.com"));
    assert_eq!(
        login(&app.base, "admin@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let key = run(&["keys", "create", "admin@example.com", "--name", "ci"], "")
        .trim()
        .to_owned();
    assert!(key.starts_with("sk-sotto-"));
    assert_eq!(
        chat_status(&app, Some(&format!("Bearer {key}")), None).await,
        200
    );
    let listed = run(&["keys", "list", "admin@example.com"], "");
    let id = listed.split('\t').next().expect("id").trim().to_owned();
    run(&["keys", "revoke", &id], "");
    assert_eq!(
        chat_status(&app, Some(&format!("Bearer {key}")), None).await,
        401
    );
    run(
        &["users", "passwd", "admin@example.com"],
        "another long password\n",
    );
    assert_eq!(
        login(&app.base, "admin@example.com", PASSWORD)
            .await
            .status(),
        401
    );
    run(&["users", "delete", "admin@example.com"], "");
    assert!(!run(&["users", "list"], "").contains("admin@example.com"));
}

/// `/privacy` says what `/v1/privacy` says: every word of each stored and never-stored item of
/// the JSON is in the page's matching section (words of five letters or more by their first
/// five, so "creation" is found as "created").
#[tokio::test]
async fn the_privacy_page_says_what_the_json_says() {
    let app = common::shared_app().await;
    let statement: Value = app.get("/v1/privacy").await.json().await.expect("json");
    let page = app.get("/privacy").await.text().await.expect("page");
    let page = page.to_lowercase();
    let section = |title: &str, next: &str| -> Vec<String> {
        let start = page
            .find(title)
            .unwrap_or_else(|| panic!("{title} on the page"))
            + title.len();
        let end = page[start..]
            .find(next)
            .map_or(page.len(), |end| start + end);
        words(&page[start..end])
    };
    let stored = section("<h2>stored</h2>", "<h2>");
    let never = section("<h2>never stored</h2>", "<h2>nothing");
    let mut items: Vec<(&str, &Vec<String>)> = Vec::new();
    for table in statement["stored"].as_object().expect("stored").values() {
        for item in table.as_array().expect("items") {
            items.push((item.as_str().expect("item"), &stored));
        }
    }
    for item in statement["never_stored"].as_array().expect("never stored") {
        items.push((item.as_str().expect("item"), &never));
    }
    assert!(items.len() > 10, "{statement}");
    for (item, section) in items {
        for word in words(item) {
            let found = if word.chars().count() >= 5 {
                let stem: String = word.chars().take(5).collect();
                section.iter().any(|w| w.starts_with(&stem))
            } else {
                section.contains(&word)
            };
            assert!(found, "{item:?}: {word:?} is not on the page");
        }
    }
}

/// Lower-case words, hyphens kept ("sha-256", "last-seen"), joining words left out.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty() && !["of", "the", "and", "a", "its"].contains(w))
        .map(str::to_owned)
        .collect()
}
