//! Each format parsed whole: calls, the text around them, parallel calls.

use super::*;

const OFF: ReasoningMode = ReasoningMode::Off;

#[test]
fn hermes_call_after_text() {
    let text = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call>";
    let parsed = whole(ToolFormat::Hermes, OFF, text);
    assert_eq!(parsed.content, "Let me check.\n");
    assert_eq!(
        parsed.calls,
        [call("get_weather", r#"{"city":"Paris","unit":"celsius"}"#)]
    );
}

#[test]
fn hermes_two_parallel_calls_and_text_after() {
    let text = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"search\", \"arguments\": \"{\\\"q\\\": \\\"a b\\\"}\"}\n</tool_call>\nDone.";
    let parsed = whole(ToolFormat::Hermes, OFF, text);
    assert_eq!(
        parsed.calls,
        [
            call("get_weather", r#"{"city":"Paris"}"#),
            call("search", r#"{"q":"a b"}"#)
        ]
    );
    assert_eq!(parsed.content, "Done.");
}

#[test]
fn llama3_bare_json_tag_and_separators() {
    let one = whole(
        ToolFormat::Llama3Json,
        OFF,
        " {\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}",
    );
    assert_eq!(one.calls, [call("get_weather", r#"{"city":"Oslo"}"#)]);
    assert_eq!(one.content, "");

    let tagged = "<|python_tag|>{\"name\": \"search\", \"arguments\": {\"q\": \"x\"}}; {\"type\": \"function\", \"name\": \"get_weather\", \"parameters\": {}}\n";
    let two = whole(ToolFormat::Llama3Json, OFF, tagged);
    assert_eq!(
        two.calls,
        [call("search", r#"{"q":"x"}"#), call("get_weather", "{}")]
    );
    assert_eq!(two.content, "");

    let prose = whole(ToolFormat::Llama3Json, OFF, "It is {sunny} today.");
    assert_eq!(
        (prose.content.as_str(), prose.calls.len()),
        ("It is {sunny} today.", 0)
    );
    let data = whole(ToolFormat::Llama3Json, OFF, "{\"temperature\": 20} is it");
    assert_eq!(data.content, "{\"temperature\": 20} is it");

    // Data, not a call, streams as soon as its first key shows it.
    let mut parser = StreamParser::new(Some(ToolFormat::Llama3Json), OFF, offered(), validator());
    assert!(parser.push("{\"ty").is_empty());
    assert_eq!(
        parser.push("po\": [1,"),
        [Delta::Content("{\"typo\": [1,".into())]
    );
}

#[test]
fn mistral_list_and_name_args_forms() {
    let list = "Sure. [TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}, {\"name\": \"search\", \"arguments\": {\"q\": \"é\"}}]";
    let parsed = whole(ToolFormat::Mistral, OFF, list);
    assert_eq!(parsed.content, "Sure. ");
    assert_eq!(
        parsed.calls,
        [
            call("get_weather", r#"{"city":"Rome"}"#),
            call("search", r#"{"q":"é"}"#)
        ]
    );

    let v11 =
        "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Rome\"}[TOOL_CALLS]search[ARGS]{\"q\": \"]\"}";
    let parsed = whole(ToolFormat::Mistral, OFF, v11);
    assert_eq!(
        parsed.calls,
        [
            call("get_weather", r#"{"city":"Rome"}"#),
            call("search", r#"{"q":"]"}"#)
        ]
    );
    assert_eq!(parsed.content, "");

    let prose = whole(
        ToolFormat::Mistral,
        OFF,
        "[TOOL_CALLS] is a marker, not a call",
    );
    assert_eq!(prose.content, "[TOOL_CALLS] is a marker, not a call");
    assert!(prose.calls.is_empty());
}

#[test]
fn generic_envelope_calls_response_and_plain_text() {
    let calls = "{\"tool_calls\": [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Lima\"}}, {\"name\": \"search\", \"arguments\": {}}]}";
    let parsed = whole(ToolFormat::Generic, OFF, calls);
    assert_eq!(
        parsed.calls,
        [
            call("get_weather", r#"{"city":"Lima"}"#),
            call("search", "{}")
        ]
    );
    assert_eq!(parsed.content, "");

    let reply = whole(
        ToolFormat::Generic,
        OFF,
        "{\"response\": \"Hi \\\"you\\\"\\n\"}",
    );
    assert_eq!(
        (reply.content.as_str(), reply.calls.len()),
        ("Hi \"you\"\n", 0)
    );

    let object = whole(
        ToolFormat::Generic,
        OFF,
        "{\"response\": {\"a\": [1, \"}\"]}}",
    );
    assert_eq!(object.content, "{\"a\": [1, \"}\"]}");

    let plain = whole(ToolFormat::Generic, OFF, "Hello {\"response\": 1}");
    assert_eq!(plain.content, "Hello {\"response\": 1}");
    let other_key = whole(ToolFormat::Generic, OFF, "{\"answer\": 42}");
    assert_eq!(other_key.content, "{\"answer\": 42}");
}

#[test]
fn no_tools_offered_means_all_content() {
    let text = "<tool_call>{\"name\": \"get_weather\"}</tool_call>";
    let parsed = parse_complete(None, OFF, offered(), validator(), text);
    assert_eq!((parsed.content.as_str(), parsed.calls.len()), (text, 0));
}

#[test]
fn content_before_a_call_streams_at_once() {
    let mut parser = StreamParser::new(Some(ToolFormat::Hermes), OFF, offered(), validator());
    assert_eq!(
        parser.push("Hello <tool_"),
        [Delta::Content("Hello ".into())]
    );
    assert_eq!(parser.push("x"), [Delta::Content("<tool_x".into())]);
}
