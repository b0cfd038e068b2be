//! Accounts, sessions and API keys, through the real server.

mod common;

use std::time::{Duration, Instant};

use common::{client, session_cookie, signup, spawn_app, spawn_app_with_clock, uuid_like, TestApp};
use rusqlite::Connection;
use serde_json::{json, Value};
use sotto::testing::Clock;

const PASSWORD: &str = "correct horse battery";

fn email() -> String {
    format!("User-{}@Example.com", uuid_like())
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    client()
        .post(app.url("/login"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .expect("login request")
}

async fn account(app: &TestApp, cookie: &str) -> reqwest::Response {
    client()
        .get(app.url("/account"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("account request")
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
        login(&app, &address.to_uppercase(), PASSWORD)
            .await
            .status(),
        303
    );
}

/// An unknown email must cost a password hash like a wrong password does. Timing is compared
/// by design so that load cannot flip it: the two kinds alternate (which goes first alternates
/// too), and each kind's fastest attempt is compared, the one least disturbed by whatever else
/// the machine does. Skipping the hash makes an unknown email's fastest attempt a small
/// fraction of a wrong password's (no Argon2 at all against 19 MiB, two passes); a factor of
/// three either way is far from both that and from noise.
#[tokio::test]
async fn unknown_email_and_wrong_password_look_the_same() {
    let app = spawn_app(|config| config.login_max_failures = 1000).await;
    let known = email();
    let _ = signup(&app.base, &known, PASSWORD).await;
    let unknown = email();
    let (mut known_times, mut unknown_times) = (Vec::new(), Vec::new());
    let mut bodies = Vec::new();
    for round in 0..20 {
        let order = if round % 2 == 0 {
            [&known, &unknown]
        } else {
            [&unknown, &known]
        };
        for address in order {
            let started = Instant::now();
            let response = login(&app, address, "wrong password!").await;
            let status = response.status();
            let body = response.text().await.expect("body");
            let elapsed = started.elapsed();
            bodies.push((status, body));
            if address == &known {
                known_times.push(elapsed)
            } else {
                unknown_times.push(elapsed)
            }
        }
    }
    assert!(bodies.iter().all(|b| b == &bodies[0]), "responses differ");
    assert_eq!(bodies[0].0, 401);
    let fastest = |times: &[Duration]| times.iter().min().expect("times").as_secs_f64();
    let (known_fastest, unknown_fastest) = (fastest(&known_times), fastest(&unknown_times));
    eprintln!(
        "fastest login: wrong password {known_fastest:.4}s, unknown email {unknown_fastest:.4}s"
    );
    let ratio = known_fastest.max(unknown_fastest) / known_fastest.min(unknown_fastest);
    assert!(ratio < 3.0, "one kind is {ratio:.1} times faster");
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

/// `--session-idle-hours 2 --session-max-hours 10` on a clock the test moves forward.
#[tokio::test]
async fn sessions_are_renewed_by_use_end_when_idle_and_at_their_absolute_end() {
    let clock = Clock::default();
    let app = spawn_app_with_clock(clock.clone(), |config| {
        config.session_idle_hours = 2;
        config.session_max_hours = 10;
    })
    .await;
    let address = email();
    let used = signup(&app.base, &address, PASSWORD).await;
    let unused = session_cookie(&login(&app, &address, PASSWORD).await).expect("session");
    let minutes = |n: u64| Duration::from_secs(n * 60);
    // Used every 90 minutes, each gap shorter than the idle window: alive long past it.
    clock.advance(minutes(90));
    assert_eq!(account(&app, &used).await.status(), 200, "at 1 h 30");
    clock.advance(minutes(90));
    assert_eq!(account(&app, &used).await.status(), 200, "at 3 h");
    // The one left alone for those 3 hours ended when it was 2 hours idle.
    assert_eq!(account(&app, &unused).await.status(), 303, "unused at 3 h");
    for at in [270, 360, 450, 540] {
        clock.advance(minutes(90));
        assert_eq!(account(&app, &used).await.status(), 200, "at {at} min");
    }
    clock.advance(minutes(59));
    assert_eq!(account(&app, &used).await.status(), 200, "at 9 h 59");
    // Used all along, it still ends 10 hours after login.
    clock.advance(minutes(2));
    assert_eq!(account(&app, &used).await.status(), 303, "at 10 h 01");
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

/// The window passes on the server's clock, moved by the test: nothing depends on how fast
/// the machine hashes passwords.
#[tokio::test]
async fn failed_logins_are_throttled_then_released() {
    let clock = Clock::default();
    let app = spawn_app_with_clock(clock.clone(), |config| {
        config.login_max_failures = 3;
        config.login_window_secs = 600;
    })
    .await;
    let address = email();
    let _ = signup(&app.base, &address, PASSWORD).await;
    for attempt in 1..=3 {
        assert_eq!(
            login(&app, &address, "wrong password!").await.status(),
            401,
            "attempt {attempt}"
        );
    }
    let fourth = login(&app, &address, "wrong password!").await;
    assert_eq!(fourth.status(), 429);
    let wait: u64 = fourth.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((590..=600).contains(&wait), "{wait}");
    // Locked out, even with the right password, until the window passes: a minute before the
    // time `Retry-After` gave, then at that time.
    clock.advance(Duration::from_secs(wait.saturating_sub(60)));
    assert_eq!(login(&app, &address, PASSWORD).await.status(), 429);
    clock.advance(Duration::from_secs(wait.min(60)));
    assert_eq!(login(&app, &address, PASSWORD).await.status(), 303);
}

async fn login_from(app: &TestApp, client_ip: &str, email: &str, password: &str) -> u16 {
    client()
        .post(app.url("/login"))
        .header("x-forwarded-for", client_ip)
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .expect("login request")
        .status()
        .as_u16()
}

/// Each limit alone: a client guessing over many emails is stopped though no email reached
/// its limit, without stopping other clients; guesses at one email from many clients stop
/// that email though no client reached its limit. Two clients are two `X-Forwarded-For`
/// addresses behind a trusted proxy; the window (a day) cannot pass during the test.
#[tokio::test]
async fn the_per_client_and_per_email_limits_each_hold_alone() {
    let app = spawn_app(|config| {
        config.trusted_proxies = vec![[127, 0, 0, 1].into()];
        config.login_max_failures = 3;
        config.login_window_secs = 86_400;
    })
    .await;
    let (target, bystander) = (email(), email());
    let _ = signup(&app.base, &target, PASSWORD).await;
    let _ = signup(&app.base, &bystander, PASSWORD).await;

    let guesser = "203.0.113.1";
    for _ in 0..3 {
        assert_eq!(
            login_from(&app, guesser, &email(), "wrong password!").await,
            401
        );
    }
    // A fresh email, and the right password: the client itself is stopped.
    assert_eq!(login_from(&app, guesser, &bystander, PASSWORD).await, 429);
    assert_eq!(
        login_from(&app, "203.0.113.2", &email(), "wrong password!").await,
        401
    );
    assert_eq!(
        login_from(&app, "203.0.113.2", &bystander, PASSWORD).await,
        303
    );

    for client_ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(
            login_from(&app, client_ip, &target, "wrong password!").await,
            401
        );
    }
    // A fresh client with the right password: the email is stopped, for this client only.
    assert_eq!(
        login_from(&app, "198.51.100.4", &target, PASSWORD).await,
        429
    );
    assert_eq!(
        login_from(&app, "198.51.100.4", &bystander, PASSWORD).await,
        303
    );
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
        use std::io::Write;
        let mut child = std::process::Command::new(sotto)
            .args(args)
            .args(["--data-dir", &data_dir])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("cli runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write");
        let output = child.wait_with_output().expect("cli output");
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
        login(&app, "admin@example.com", PASSWORD).await.status(),
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
        login(&app, "admin@example.com", PASSWORD).await.status(),
        401
    );
    run(&["users", "delete", "admin@example.com"], "");
    assert!(!run(&["users", "list"], "").contains("admin@example.com"));
}

/// `MIN_LEN` and `MAX_LEN` as `src/accounts/password.rs` declares them.
fn password_limits() -> (usize, usize) {
    let source = include_str!("../src/accounts/password.rs");
    let constant = |name: &str| -> usize {
        source
            .split(&format!("pub const {name}: usize = "))
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .and_then(|value| value.trim().replace('_', "").parse().ok())
            .unwrap_or_else(|| panic!("{name} in src/accounts/password.rs"))
    };
    (constant("MIN_LEN"), constant("MAX_LEN"))
}

/// One character short of the minimum and one past the maximum are refused, on sign-up and on
/// a password change, with a message that names both limits; the limits themselves are taken.
#[tokio::test]
async fn passwords_are_held_to_their_length_limits() {
    let app = spawn_app(|_| {}).await;
    let (min, max) = password_limits();
    let limits = format!("{min} to {max} characters");
    let signup_with = |address: String, password: String| {
        client()
            .post(app.url("/signup"))
            .form(&[("email", address), ("password", password)])
            .send()
    };
    for length in [min - 1, max + 1] {
        let response = signup_with(email(), "p".repeat(length))
            .await
            .expect("signup");
        assert_eq!(response.status(), 400, "{length} characters");
        assert!(session_cookie(&response).is_none());
        let page = response.text().await.expect("page");
        assert!(page.contains(&limits), "{length}: {page}");
    }
    for length in [min, max] {
        let address = email();
        let response = signup_with(address.clone(), "é".repeat(length))
            .await
            .expect("signup");
        assert_eq!(response.status(), 303, "{length} characters");
        assert_eq!(
            login(&app, &address, &"é".repeat(length)).await.status(),
            303
        );
    }

    let cookie = signup(&app.base, &email(), PASSWORD).await;
    let change = |new: String| {
        client()
            .post(app.url("/account/password"))
            .header("cookie", &cookie)
            .form(&[
                ("current_password", PASSWORD.to_owned()),
                ("new_password", new),
            ])
            .send()
    };
    for length in [min - 1, max + 1] {
        let response = change("q".repeat(length)).await.expect("change");
        assert_eq!(
            response.status(),
            400,
            "new password of {length} characters"
        );
        let page = response.text().await.expect("page");
        assert!(page.contains(&limits), "{length}: {page}");
    }
    assert_eq!(change("q".repeat(max)).await.expect("change").status(), 303);
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
