//! Thinking split off, kept inline or dropped; calls only after it.

use super::*;

const SEPARATE: ReasoningMode = ReasoningMode::Separate {
    starts_inside: false,
};

#[test]
fn a_call_inside_thinking_stays_reasoning() {
    let text = "<think>\nMaybe <tool_call>{\"name\": \"search\", \"arguments\": {}}</tool_call>?\n</think>\n\nOK <tool_call>{\"name\": \"search\", \"arguments\": {\"q\": \"1\"}}</tool_call>";
    let parsed = same_however_split(ToolFormat::Hermes, SEPARATE, text);
    assert_eq!(
        parsed.reasoning,
        "Maybe <tool_call>{\"name\": \"search\", \"arguments\": {}}</tool_call>?\n"
    );
    assert_eq!(parsed.content, "OK ");
    assert_eq!(parsed.calls, [call("search", r#"{"q":"1"}"#)]);
}

#[test]
fn prompt_opened_thinking_inline_and_hidden() {
    let text = "I should greet.</think>Hello!";
    let inside = ReasoningMode::Separate {
        starts_inside: true,
    };
    let parsed = same_however_split(ToolFormat::Generic, inside, text);
    assert_eq!(
        (parsed.reasoning.as_str(), parsed.content.as_str()),
        ("I should greet.", "Hello!")
    );

    let inline = ReasoningMode::Inline {
        starts_inside: true,
    };
    let parsed = same_however_split(ToolFormat::Hermes, inline, text);
    assert_eq!(parsed.content, "<think>I should greet.</think>Hello!");
    assert_eq!(parsed.reasoning, "");

    let hidden = ReasoningMode::Hidden {
        starts_inside: false,
    };
    let parsed = same_however_split(ToolFormat::Hermes, hidden, "<think>x</think> Hi");
    assert_eq!(
        (parsed.content.as_str(), parsed.reasoning.as_str()),
        ("Hi", "")
    );
}

#[test]
fn cut_off_thinking_is_reasoning_and_later_tags_are_text() {
    let parsed = same_however_split(ToolFormat::Hermes, SEPARATE, "<think>still thinking</th");
    assert_eq!(
        (parsed.reasoning.as_str(), parsed.content.as_str()),
        ("still thinking</th", "")
    );
    let parsed = same_however_split(ToolFormat::Hermes, SEPARATE, "A <think>b</think>");
    assert_eq!(
        (parsed.reasoning.as_str(), parsed.content.as_str()),
        ("", "A <think>b</think>")
    );
}

#[test]
fn reasoning_off_keeps_tags_as_content() {
    let text = "<think>x</think>y";
    let parsed = same_however_split(ToolFormat::Generic, ReasoningMode::Off, text);
    assert_eq!(parsed.content, text);
}
