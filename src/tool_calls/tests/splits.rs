//! Streaming gives the same reply as the whole text however the text is split.

use super::*;

const OFF: ReasoningMode = ReasoningMode::Off;

#[test]
fn hermes_split_everywhere() {
    let text = "Checking é… <tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"São Paulo\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\": \"</tool\"}}\n</tool_call> after";
    let parsed = same_however_split(ToolFormat::Hermes, OFF, text);
    assert_eq!(parsed.calls.len(), 2);
    assert_eq!(parsed.content, "Checking é… after");
}

#[test]
fn llama3_split_everywhere() {
    let text = "\n<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"{Oslo}\"}};\n{\"name\": \"search\", \"parameters\": {\"q\": \"\\\"\"}}\nthen text <|python_tag|>{\"name\": \"search\", \"parameters\": {}}";
    let parsed = same_however_split(ToolFormat::Llama3Json, OFF, text);
    assert_eq!(parsed.calls.len(), 3);
    assert_eq!(parsed.content, "then text ");
}

#[test]
fn mistral_split_everywhere() {
    let list = "ok [TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"[x]\"}}, {\"name\": \"search\", \"arguments\": {}}]";
    assert_eq!(
        same_however_split(ToolFormat::Mistral, OFF, list)
            .calls
            .len(),
        2
    );
    let v11 = "[TOOL_CALLS]get_weather[CALL_ID]a1B2c3D4e[ARGS]{\"city\": \"Rome\"}[TOOL_CALLS]nope here[ARGS]{}";
    let parsed = same_however_split(ToolFormat::Mistral, OFF, v11);
    assert_eq!(parsed.calls, [call("get_weather", r#"{"city":"Rome"}"#)]);
    assert_eq!(parsed.content, "[TOOL_CALLS]nope here[ARGS]{}");
}

#[test]
fn generic_split_everywhere() {
    let calls = "{ \"tool_calls\" : [{\"name\": \"search\", \"arguments\": {\"q\": \"]}\"}}, {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Nice\"}}] }";
    assert_eq!(
        same_however_split(ToolFormat::Generic, OFF, calls)
            .calls
            .len(),
        2
    );
}

#[test]
fn generic_response_string_with_escapes_split_at_every_byte() {
    let body = r#"Line\n\"quoted\" \\ tab\t caf\u00e9 smile \ud83d\ude00 han \u4e2d \/ done"#;
    let text = format!("{{\"response\": \"{body}\"}}");
    let expected: String = serde_json::from_str(&format!("\"{body}\"")).expect("valid string");
    let parsed = same_however_split(ToolFormat::Generic, OFF, &text);
    assert_eq!(parsed.content, expected);
    assert!(parsed.calls.is_empty());
}

#[test]
fn generic_response_streams_as_it_arrives() {
    let reasoning = ReasoningMode::Off;
    let mut parser =
        StreamParser::new(Some(ToolFormat::Generic), reasoning, offered(), validator());
    assert_eq!(
        parser.push("{\"response\": \"Hel"),
        [Delta::Content("Hel".into())]
    );
    assert_eq!(parser.push("lo \\ud83d"), [Delta::Content("lo ".into())]);
    assert_eq!(parser.push("\\ude00\"}"), [Delta::Content("😀".into())]);
    assert!(parser.finish().is_empty());
}

#[test]
fn llama3_data_reply_split_everywhere() {
    let text = "{ \"type\": \"weather\", \"deg\": 20}{\"temperature\": 21, \"name\": \"x\"}";
    let parsed = same_however_split(ToolFormat::Llama3Json, OFF, text);
    assert_eq!((parsed.content.as_str(), parsed.calls.len()), (text, 0));
}
