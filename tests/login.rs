//! Logging in: what a failure looks like, the login throttle's two limits, the password's
//! length limits, and how long a session lasts (on an injected clock).

use crate::common;

use std::time::{Duration, Instant};

use common::{
    account, client, login, session_cookie, signup, spawn_app, spawn_app_with_clock, uuid_like,
    TestApp, PASSWORD,
};
use sotto::testing::Clock;

fn email() -> String {
    format!("User-{}@Example.com", uuid_like())
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
            let response = login(&app.base, address, "wrong password!").await;
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
    let unused = session_cookie(&login(&app.base, &address, PASSWORD).await).expect("session");
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
            login(&app.base, &address, "wrong password!").await.status(),
            401,
            "attempt {attempt}"
        );
    }
    let fourth = login(&app.base, &address, "wrong password!").await;
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
    assert_eq!(login(&app.base, &address, PASSWORD).await.status(), 429);
    clock.advance(Duration::from_secs(wait.min(60)));
    assert_eq!(login(&app.base, &address, PASSWORD).await.status(), 303);
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
            login(&app.base, &address, &"é".repeat(length))
                .await
                .status(),
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
