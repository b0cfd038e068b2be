//! What must never become a call: functions not offered, refused arguments, truncated or
//! malformed calls; and hostile input parsed in linear time without deep recursion.

use std::time::{Duration, Instant};

use super::*;

const OFF: ReasoningMode = ReasoningMode::Off;

#[test]
fn unknown_function_is_content_and_indexes_skip_it() {
    let text = "<tool_call>{\"name\": \"rm_rf\", \"arguments\": {}}</tool_call><tool_call>{\"name\": \"search\", \"arguments\": {}}</tool_call>";
    let deltas = stream(Some(ToolFormat::Hermes), OFF, &[text]);
    assert!(deltas.contains(&Delta::CallStart {
        index: 0,
        name: "search".into()
    }));
    let parsed = same_however_split(ToolFormat::Hermes, OFF, text);
    assert_eq!(
        parsed.content,
        "<tool_call>{\"name\": \"rm_rf\", \"arguments\": {}}</tool_call>"
    );
    assert_eq!(parsed.calls, [call("search", "{}")]);
}

#[test]
fn refused_truncated_and_malformed_calls_are_content() {
    let cases: [(ToolFormat, &str); 8] = [
        (
            ToolFormat::Hermes,
            "<tool_call>{\"name\": \"search\", \"arguments\": {\"q\": \"refuse\"}}</tool_call>",
        ),
        (
            ToolFormat::Hermes,
            "<tool_call>{\"name\": \"search\", \"argu",
        ),
        (
            ToolFormat::Hermes,
            "<tool_call>{\"name\": \"search\", \"arguments\": {,}}</tool_call>",
        ),
        (
            ToolFormat::Llama3Json,
            "{\"name\": \"search\", \"parameters\": {\"q\": 1",
        ),
        (
            ToolFormat::Llama3Json,
            "{\"name\": \"search\", \"parameters\": [1]}",
        ),
        (
            ToolFormat::Mistral,
            "[TOOL_CALLS][{\"name\": \"search\", \"arguments\": {\"q\": \"refuse\"}}]",
        ),
        (ToolFormat::Mistral, "[TOOL_CALLS]search[ARGS]{\"q\": tru"),
        (
            ToolFormat::Generic,
            "{\"tool_calls\": [{\"name\": \"search\", \"arguments\": {\"q\": 01}}]}",
        ),
    ];
    for (format, text) in cases {
        let parsed = same_however_split(format, OFF, text);
        assert!(parsed.calls.is_empty(), "{format:?}: no call");
        assert!(!parsed.content.is_empty(), "{format:?}: the text is kept");
    }
    let truncated = whole(
        ToolFormat::Generic,
        OFF,
        "{\"tool_calls\": [{\"name\": \"sea",
    );
    assert_eq!(truncated.content, "{\"tool_calls\": [{\"name\": \"sea");
}

/// Runs `text` whole and one push per 7 bytes, within a time that only linear work meets.
fn hostile(format: ToolFormat, text: &str) -> Parsed {
    let started = Instant::now();
    let parsed = whole(format, OFF, text);
    let mut parser = StreamParser::new(Some(format), OFF, offered(), validator());
    let mut deltas = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let mut end = (at + 7).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        deltas.extend(parser.push(&text[at..end]));
        at = end;
    }
    deltas.extend(parser.finish());
    assert_eq!(collect(deltas), parsed, "{format:?}: streamed equals whole");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "{format:?}: {took:?}");
    parsed
}

#[test]
fn hostile_openers_and_deep_nesting_are_linear_text() {
    let formats = [
        ToolFormat::Hermes,
        ToolFormat::Llama3Json,
        ToolFormat::Mistral,
        ToolFormat::Generic,
    ];
    let openers = "<tool_call>".repeat(100_000);
    assert_eq!(hostile(ToolFormat::Hermes, &openers).content, openers);
    let markers = "[TOOL_CALLS]".repeat(100_000);
    assert!(hostile(ToolFormat::Mistral, &markers).calls.is_empty());
    let tags = "<|python_tag|>{".repeat(50_000);
    assert!(hostile(ToolFormat::Llama3Json, &tags).calls.is_empty());
    for format in formats {
        for deep in [
            "[".repeat(100_000),
            format!(
                "{{\"tool_calls\": {}{}",
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
            format!(
                "<tool_call>{}{}</tool_call>",
                "{\"a\":".repeat(50_000),
                "}".repeat(50_000)
            ),
            format!("[TOOL_CALLS]{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        ] {
            let parsed = hostile(format, &deep);
            assert!(parsed.calls.is_empty(), "{format:?}: no call");
            assert_eq!(parsed.content.len(), deep.len(), "{format:?}: all text");
        }
    }
}

#[test]
fn many_valid_calls_in_one_push_do_not_recurse() {
    let one = "{\"name\": \"search\", \"parameters\": {}};";
    let parsed = hostile(ToolFormat::Llama3Json, &one.repeat(20_000));
    assert_eq!(parsed.calls.len(), 20_000);
}

#[test]
fn a_list_with_one_bad_call_is_content_whole() {
    let mistral = "[TOOL_CALLS][{\"name\": \"search\", \"arguments\": {}}, {\"name\": \"rm_rf\", \"arguments\": {}}]";
    let parsed = same_however_split(ToolFormat::Mistral, OFF, mistral);
    assert_eq!((parsed.content.as_str(), parsed.calls.len()), (mistral, 0));
    let generic = "{\"tool_calls\": [{\"name\": \"search\", \"arguments\": {}}, {\"name\": \"search\", \"arguments\": {\"q\": \"refuse\"}}]}";
    let parsed = same_however_split(ToolFormat::Generic, OFF, generic);
    assert_eq!((parsed.content.as_str(), parsed.calls.len()), (generic, 0));
}

#[test]
fn a_long_run_of_whitespace_streams_in_linear_time() {
    let blank = " ".repeat(300_000);
    for format in [
        ToolFormat::Hermes,
        ToolFormat::Llama3Json,
        ToolFormat::Mistral,
        ToolFormat::Generic,
    ] {
        let separate = ReasoningMode::Separate {
            starts_inside: false,
        };
        for reasoning in [OFF, separate] {
            let started = Instant::now();
            let mut parser = StreamParser::new(Some(format), reasoning, offered(), validator());
            let mut deltas: Vec<Delta> = (0..blank.len())
                .flat_map(|at| parser.push(&blank[at..=at]))
                .collect();
            deltas.extend(parser.finish());
            assert!(collect(deltas).calls.is_empty());
            let took = started.elapsed();
            assert!(
                took < Duration::from_secs(2),
                "{format:?} {reasoning:?}: {took:?}"
            );
        }
    }
}
