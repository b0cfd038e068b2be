//! Accounts as a test uses them: signing up, logging in, session cookies, API keys.

use serde_json::{json, Value};

use super::{client, uuid_like, TestApp, PASSWORD};

/// Signs a user up and creates an API key for them, over HTTP like a person would.
pub async fn create_api_key(base: &str) -> String {
    let session = signup(
        base,
        &format!("tester-{}@example.com", uuid_like()),
        "correct horse battery",
    )
    .await;
    let body = create_key_for(base, &session, "tests").await;
    body["new_key"].as_str().expect("new key").to_owned()
}

/// Creates an API key on the account page of the session; returns the JSON answer
/// (`new_key`, and `keys` with the new one first).
pub async fn create_key_for(base: &str, session_cookie: &str, name: &str) -> Value {
    let response = client()
        .post(format!("{base}/account/keys"))
        .header("cookie", session_cookie)
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect("key request");
    assert_eq!(response.status(), 201);
    response.json().await.expect("json")
}

/// Signs up; returns the `Cookie` header value of the new session.
pub async fn signup(base: &str, email: &str, password: &str) -> String {
    let response = client()
        .post(format!("{base}/signup"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("signup request");
    assert_eq!(response.status(), 200, "signup failed");
    session_cookie(&response).expect("session cookie")
}

/// The session cookie's names: over HTTPS (`__Host-`, `Secure`) and over plain HTTP.
pub const SESSION_COOKIES: [&str; 2] = ["__Host-sotto", "sotto"];

/// The `name=value` of the session cookie a response sets.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| {
            pair.split_once('=')
                .is_some_and(|(name, value)| SESSION_COOKIES.contains(&name) && !value.is_empty())
        })
        .map(str::to_owned)
}

/// `POST /login` as the page's form sends it.
pub async fn login(base: &str, email: &str, password: &str) -> reqwest::Response {
    client()
        .post(format!("{base}/login"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .expect("login request")
}

/// `POST /login` as a script asking for JSON sends it.
pub async fn login_json(base: &str, email: &str, password: &str) -> reqwest::Response {
    client()
        .post(format!("{base}/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("login request")
}

/// A key of a new user: (key, id, session cookie).
pub async fn new_user_key(app: &TestApp) -> (String, i64, String) {
    let cookie = signup(
        &app.base,
        &format!("user-{}@example.com", uuid_like()),
        PASSWORD,
    )
    .await;
    let account = create_key_for(&app.base, &cookie, "k").await;
    let key = account["new_key"].as_str().expect("key").to_owned();
    let id = account["keys"]
        .as_array()
        .and_then(|keys| keys.iter().filter_map(|k| k["id"].as_i64()).max())
        .expect("key id");
    (key, id, cookie)
}

/// `GET /account` with a session cookie.
pub async fn account(app: &TestApp, cookie: &str) -> reqwest::Response {
    client()
        .get(app.url("/account"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("account request")
}
