//! The no-logs guarantee, tested from outside. The real binary runs at `RUST_LOG=trace`, with
//! its own working, temporary and home directories. A unique canary goes to every route of
//! `src/router.rs`, in every text field and every header a browser or proxy sends, through
//! answers of every status, from three client addresses. Then the canary (in every encoding)
//! and the addresses are searched for in every byte the server left: its database files before
//! and after shutdown, its directories, and all it printed. The one thing stored is the
//! sign-up email, lower-cased, in the database.

#[path = "privacy/accounts.rs"]
mod accounts;
#[path = "privacy/api.rs"]
mod api;
use crate::common;
#[path = "privacy/messages.rs"]
mod messages;
#[path = "privacy/probe.rs"]
mod probe;
#[path = "privacy/responses.rs"]
mod responses;
// The router's routes, which compatibility.rs reads too.
#[path = "privacy/routes.rs"]
pub(crate) mod routes;
#[path = "privacy/search.rs"]
mod search;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use api::{LOADING, MAX_BODY};
use common::process::{Launch, ServerProcess};
use common::MODEL;
use probe::{expect, replacing, Probe, FORWARDED_FOR};
use routes::KNOWN;
use search::{address_needles, canary_needles, files_under, findings, Needle};

/// Another address of this machine, for a second client (when the machine lets it be bound).
const SECOND_LOOPBACK: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

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
         Add each to KNOWN in tests/privacy/routes.rs and exercise it (tests/privacy/accounts.rs, api.rs)."
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
    let started = Instant::now();
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
                // The loading model must not unload the default one the rest runs on.
                "--max-loaded-models",
                "2",
                // Fewer slots than the conversations sent: the prompt cache sets some aside
                // in RAM, and that path sees the canary too.
                "--parallel",
                "2",
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
        .then(|| probe.connecting_from(IpAddr::V4(SECOND_LOOPBACK)));
    if second.is_none() {
        eprintln!("{SECOND_LOOPBACK} cannot be bound here: every request comes from 127.0.0.1");
    }

    let email = format!("{token}@example.com");
    let key = accounts::accounts(&probe, second.as_ref(), &email, &text).await;
    api::generation(&probe, &key.key, &text).await;
    messages::messages(&probe, &key.key, &text).await;
    api::embeddings(&probe, &key.key, &text).await;
    api::browser(&probe, &key.session, &text).await;
    api::errors(&probe, &key.key, &text).await;
    responses::responses(&probe, &key.key, &text).await;
    accounts::throwaway_account(&probe, &text).await;
    let in_ram = common::model_health_at(&server.base, MODEL)
        .await
        .expect("the default model in /health")["cached_conversations_in_ram"]
        .as_u64();
    assert!(
        in_ram.is_some_and(|n| n > 0),
        "no conversation was set aside in RAM: {in_ram:?}"
    );
    let metrics = scrape_metrics(&probe, &key.key).await;
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
    leaks.extend(findings("GET /metrics", &metrics, &needles, |_, _, _| {
        false
    }));
    let shown = leaks
        .iter()
        .take(30)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        leaks.is_empty(),
        "the server kept what it must not ({} findings, the first 30):\n{shown}",
        leaks.len()
    );
    eprintln!(
        "privacy: sent, stopped and searched in {:?}",
        started.elapsed()
    );
}

/// `/metrics` after every other route was sent the canary, for the search: a client the
/// trusted proxy says is elsewhere needs a key, and the canary's is none.
async fn scrape_metrics(probe: &Probe, key: &str) -> Vec<u8> {
    let route = ("GET", "/metrics");
    let token = &probe.token;
    let path = format!("/metrics?{token}={token}");
    expect(probe.get(route, &path), 401).await;
    let with_key = replacing(
        probe.get(route, &path),
        "authorization",
        &format!("Bearer {key}"),
    );
    let scraped = expect(with_key, 200)
        .await
        .bytes()
        .await
        .expect("the metrics");
    let text = String::from_utf8_lossy(&scraped);
    assert!(
        text.contains("sotto_completion_tokens_total{model=")
            && text.contains("route=\"/v1/chat/completions\""),
        "the scrape has the generations' series:\n{text}"
    );
    scraped.to_vec()
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
