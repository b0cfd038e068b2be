//! The account routes, each sent the canary: sign-up (the canary email, the one thing stored),
//! failed logins, a cross-site form, keys, a password change and account deletion.

use reqwest::Method;
use serde_json::Value;

use super::common::session_cookie;
use super::probe::{expect, Probe};

/// The main account's API key and its browser session, after every account route was sent
/// the canary.
pub struct Account {
    pub key: String,
    pub session: String,
}

pub async fn accounts(probe: &Probe, second: Option<&Probe>, email: &str, text: &str) -> Account {
    let token = &probe.token;
    for (route, path) in [
        (("GET", "/signup"), "/signup".to_owned()),
        (("GET", "/login"), "/login".to_owned()),
        (("GET", "/privacy"), "/privacy".to_owned()),
        (("GET", "/v1/privacy"), "/v1/privacy".to_owned()),
        (("GET", "/health"), format!("/health?{token}={token}")),
        (("GET", "/healthz"), format!("/healthz?{token}={token}")),
        (("GET", "/readyz"), format!("/readyz?{token}={token}")),
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
pub async fn throwaway_account(probe: &Probe, text: &str) {
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
