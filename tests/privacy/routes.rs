//! Every route of `src/router.rs`, read from its source, against the routes this test knows how
//! to send the canary to. A route added to the router and not to [`KNOWN`] fails the test, so
//! no route is ever left out of the privacy check without anyone noticing.

use std::collections::BTreeSet;

/// A method and a route template, as written in the router (`"/v1/models/{id}"`). The
/// fallback is [`FALLBACK`], the answer to a known path with another method [`WRONG_METHOD`].
pub type Route = (&'static str, &'static str);

pub const FALLBACK: Route = ("ANY", "(fallback)");
pub const WRONG_METHOD: Route = ("ANY", "(method not allowed)");

/// Every route the test exercises with the canary, and how (the requests are in
/// `tests/privacy/accounts.rs` and `api.rs`, each recorded against its route).
pub const KNOWN: &[(Route, &str)] = &[
    (
        ("POST", "/v1/chat/completions"),
        "every role, user, stop, model; streamed, cancelled, 400, 401, 404, 413, 415, 429, 503",
    ),
    (
        ("POST", "/v1/completions"),
        "prompt as a string and an array, streamed and not",
    ),
    (
        ("POST", "/v1/messages"),
        "system, text, tool_use, tool_result, thinking blocks, tools, metadata, stop_sequences; streamed; 400 (image block, server tool, broken JSON)",
    ),
    (
        ("POST", "/v1/messages/count_tokens"),
        "the same conversation; 400; a canary x-api-key alone (401)",
    ),
    (
        ("POST", "/v1/embeddings"),
        "input as a string, strings and token ids, user, base64; too long and wrong type (400)",
    ),
    (
        ("POST", "/ui/chat/completions"),
        "a real session and its CSRF token; a wrong token (403)",
    ),
    (
        ("POST", "/v1/responses"),
        "instructions, every input item kind, tools, a schema, store/metadata/user; streamed; 400s",
    ),
    (("GET", "/v1/responses/{id}"), "a canary id (404)"),
    (("DELETE", "/v1/responses/{id}"), "a canary id (404)"),
    (
        ("GET", "/v1/responses/{id}/input_items"),
        "a canary id (404)",
    ),
    (("GET", "/v1/models"), "with a canary query string"),
    (("GET", "/v1/models/{id}"), "an unknown canary id (404)"),
    (("GET", "/v1/privacy"), "canary headers"),
    (("GET", "/health"), "canary headers"),
    (("GET", "/healthz"), "canary headers and query"),
    (("GET", "/readyz"), "canary headers and query"),
    (
        ("GET", "/metrics"),
        "canary headers and query: a canary key from afar (401), a real key (searched)",
    ),
    (
        ("GET", "/"),
        "the chat page of the session, read for its CSRF token",
    ),
    (("GET", "/signup"), "canary headers"),
    (
        ("POST", "/signup"),
        "the canary email (stored, lower-cased) and password",
    ),
    (("GET", "/login"), "canary headers"),
    (
        ("POST", "/login"),
        "a wrong canary password, an unknown canary email, a cross-site post (403)",
    ),
    (("POST", "/logout"), "canary headers"),
    (("GET", "/account"), "canary headers"),
    (
        ("POST", "/account/keys"),
        "a canary key name, and one too long (400)",
    ),
    (
        ("POST", "/account/keys/{id}/revoke"),
        "the canary-named key; a canary id (400)",
    ),
    (
        ("POST", "/account/password"),
        "a wrong canary current password; a canary new password",
    ),
    (("POST", "/account/logout-everywhere"), "canary headers"),
    (
        ("POST", "/account/delete"),
        "a wrong canary password; the throw-away account",
    ),
    (("GET", "/privacy"), "canary headers"),
    (
        ("GET", "/static/{*path}"),
        "a canary file name and query (404)",
    ),
    (
        FALLBACK,
        "a canary path and query string (404); a canary Host (421)",
    ),
    (WRONG_METHOD, "DELETE with a canary body (405)"),
];

/// The routes `src/router.rs` declares, read from its text: each `.route("PATH", ...)` with
/// every method router (`get(`, `post(`, ...) in its second argument, plus the fallback and
/// the wrong-method answer when the router has them. Anything this reader cannot account
/// for (`nest`, `route_service`) fails the test rather than being skipped.
pub fn in_router() -> BTreeSet<(String, String)> {
    let source = include_str!("../../src/router.rs");
    for unreadable in [".nest(", ".nest_service(", ".route_service("] {
        assert!(
            !source.contains(unreadable),
            "src/router.rs uses {unreadable}: teach tests/privacy/routes.rs to read it"
        );
    }
    let mut routes = BTreeSet::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let arguments = balanced(rest);
        let (path, handlers) = arguments
            .split_once(',')
            .expect("a route has a path and handlers");
        let path = path.trim().trim_matches('"');
        let methods = method_routers(handlers);
        assert!(!methods.is_empty(), "no method for route {path}");
        for method in methods {
            routes.insert((method, path.to_owned()));
        }
    }
    if source.contains(".fallback(") {
        routes.insert((FALLBACK.0.to_owned(), FALLBACK.1.to_owned()));
    }
    if source.contains(".method_not_allowed_fallback(") {
        routes.insert((WRONG_METHOD.0.to_owned(), WRONG_METHOD.1.to_owned()));
    }
    routes
}

/// The text up to the parenthesis that closes the one just opened.
fn balanced(text: &str) -> &str {
    let mut depth = 1;
    for (at, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..at];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses in src/router.rs")
}

/// `get(a).post(b)` gives GET and POST; a handler path such as `health::get)` is not a call.
fn method_routers(handlers: &str) -> Vec<String> {
    const METHODS: [&str; 9] = [
        "get", "post", "put", "delete", "patch", "head", "options", "trace", "any",
    ];
    let mut found = Vec::new();
    for (at, _) in handlers.match_indices('(') {
        let before = &handlers[..at];
        let name_start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let name = &before[name_start..];
        let qualified = before[..name_start].ends_with("::");
        if METHODS.contains(&name) && !qualified {
            found.push(name.to_uppercase());
        }
    }
    found
}

#[test]
fn the_reader_finds_methods_but_not_handlers() {
    assert_eq!(
        method_routers(" get(web::login::page).post(web::login::post)"),
        ["GET", "POST"]
    );
    assert_eq!(method_routers(" get(health::get)"), ["GET"]);
    assert_eq!(
        method_routers(" axum::routing::get(x)"),
        Vec::<String>::new()
    );
}
