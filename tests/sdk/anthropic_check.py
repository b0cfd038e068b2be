"""Anthropic's Messages API through the official `anthropic` Python SDK, pointed at sotto.

Run by tests/agent_clients.rs (see clientcheck.py for the environment and the exit protocol).
Covers: `messages.create`; `messages.stream` with `text_stream` and `get_final_message`; a tool
use round trip (a forced `tool_use`, then its `tool_result` answered in text, with `tool_choice`
`auto` and `none`, the second streamed); `messages.count_tokens` against a reply's usage; and an
error raised as the SDK's own exception.
"""

import anthropic

from clientcheck import MAX_TOKENS, Checks, server

srv = server()
# The SDK adds /v1/messages itself.
client = anthropic.Anthropic(base_url=srv.base_url.removesuffix("/v1"), api_key=srv.api_key, max_retries=0)
checks = Checks()
check = checks.check
# `temperature` left the SDK's typed parameters; sotto still reads it (greedy: repeatable).
GREEDY = {"extra_body": {"temperature": 0}}

SYSTEM = "You are a brief assistant."
ASK = [{"role": "user", "content": "Name one colour."}]

# A plain message.
message = client.messages.create(model=srv.model, max_tokens=24, system=SYSTEM, messages=ASK, **GREEDY)
check(message.type == "message" and message.role == "assistant", "a message from the assistant")
check(message.id.startswith("msg_"), "message id msg_...")
check(message.model == srv.model, "the model is named")
check(len(message.content) == 1 and message.content[0].type == "text", "one text block")
check(message.content[0].text.strip() != "", "the text block has text")
check(message.stop_reason in ("end_turn", "max_tokens"), f"stop_reason {message.stop_reason}")
check(message.usage.input_tokens > 0 and 0 < message.usage.output_tokens <= 24, "usage counts tokens")

# count_tokens renders the same prompt: the whole of it, cached or not.
count = client.messages.count_tokens(model=srv.model, system=SYSTEM, messages=ASK)
prompt = message.usage.input_tokens + (message.usage.cache_read_input_tokens or 0)
check(count.input_tokens == prompt, f"count_tokens {count.input_tokens} equals the reply's prompt {prompt}")

# The same request streamed: the same text, greedily.
with client.messages.stream(model=srv.model, max_tokens=24, system=SYSTEM, messages=ASK, **GREEDY) as stream:
    pieces = list(stream.text_stream)
    final = stream.get_final_message()
check(len(pieces) > 1, "the text arrives in pieces")
check("".join(pieces) == final.content[0].text, "text_stream adds up to the final message")
check(final.content[0].text == message.content[0].text, "streamed and not, the same greedy text")
check(final.stop_reason == message.stop_reason, "the same stop_reason")
check(final.usage.output_tokens == message.usage.output_tokens, "the final usage counts the output")

# A tool use round trip. Forced by name, so that a 135M model calls it.
TOOLS = [
    {
        "name": "get_weather",
        "description": "The weather forecast for a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 40}},
            "required": ["city"],
            "additionalProperties": False,
        },
    }
]
QUESTION = {"role": "user", "content": "What is the weather in Paris?"}
called = client.messages.create(
    model=srv.model,
    max_tokens=MAX_TOKENS,
    messages=[QUESTION],
    tools=TOOLS,
    tool_choice={"type": "tool", "name": "get_weather"},
    **GREEDY,
)
uses = [block for block in called.content if block.type == "tool_use"]
check(called.stop_reason == "tool_use", f"stop_reason tool_use, not {called.stop_reason}")
check(len(uses) == 1 and uses[0].name == "get_weather", "one get_weather call")
check(uses[0].id.startswith("toolu_"), "tool use id toolu_...")
check(isinstance(uses[0].input, dict) and isinstance(uses[0].input.get("city"), str), "input per the schema")

history = [
    QUESTION,
    {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in called.content]},
    {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "Sunny, 24 degrees."}],
    },
]
answer = client.messages.create(
    model=srv.model, max_tokens=48, messages=history, tools=TOOLS, tool_choice={"type": "none"}, **GREEDY
)
check(answer.stop_reason in ("end_turn", "max_tokens"), f"an answer, not {answer.stop_reason}")
check([b.type for b in answer.content] == ["text"] and answer.content[0].text.strip(), "the answer is text")

# With `auto` the model may call again or answer; either way the stream is well formed.
with client.messages.stream(
    model=srv.model, max_tokens=48, messages=history, tools=TOOLS, tool_choice={"type": "auto"}, **GREEDY
) as stream:
    events = [event.type for event in stream]
    final = stream.get_final_message()
check(events[0] == "message_start" and events[-1] == "message_stop", "message_start ... message_stop")
check(final.stop_reason in ("end_turn", "max_tokens", "tool_use"), f"stop_reason {final.stop_reason}")
check(all(b.type in ("text", "tool_use") for b in final.content) and final.content, "text or tool_use blocks")

# An error is the SDK's own exception, read from Anthropic's error shape.
try:
    client.messages.create(model=srv.model, max_tokens=8, messages=[{"role": "user", "content": []}])
    check(False, "an empty content list is refused")
except anthropic.BadRequestError as error:
    check(error.status_code == 400, "400")
    check(error.body["error"]["type"] == "invalid_request_error", "invalid_request_error")
    check("messages[0].content" in error.body["error"]["message"], "the message names the field")

checks.done()
