"""Tools and structured output through the official OpenAI Python SDK, pointed at sotto.

Run by tests/agent_clients.rs (see clientcheck.py for the environment and the exit protocol).
Covers: forced tool calls (`required` and a named function), streamed and not; a full round trip
through a `tool` message; `parallel_tool_calls: false`; `chat.completions.parse` with a Pydantic
model; `response_format: json_object`.
"""

import json
from typing import Annotated, Literal

from openai import OpenAI
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clientcheck import MAX_TOKENS, SEED, Checks, server


# Comments, not docstrings, on these models: a docstring would go to the model as a description.
# get_weather's parameters; extra="forbid" so an argument the schema lacks fails validation.
class WeatherArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: str = Field(max_length=40)
    unit: Literal["celsius", "fahrenheit"]
    days: int = Field(ge=1, le=7)


class TimeArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timezone: str = Field(max_length=40)


# The `.parse()` target: bounded strings, integers and lists keep a small model's answer short.
class City(BaseModel):
    name: str = Field(max_length=40)
    country: str = Field(max_length=40)
    population_millions: int = Field(ge=0, le=100)
    landmarks: list[Annotated[str, Field(max_length=40)]] = Field(max_length=3)


def function_tool(name: str, description: str, args: type[BaseModel]) -> dict:
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": args.model_json_schema()},
    }


TOOLS = [
    function_tool("get_weather", "Weather forecast for a city.", WeatherArgs),
    function_tool("get_time", "Current time in a timezone.", TimeArgs),
]
ARGS = {"get_weather": WeatherArgs, "get_time": TimeArgs}
ASK = [{"role": "user", "content": "What is the weather in Paris for the next 3 days, in celsius?"}]

srv = server()
client = OpenAI(base_url=srv.base_url, api_key=srv.api_key, max_retries=0)
checks = Checks()
check = checks.check


def create(**kwargs):
    return client.chat.completions.create(
        model=srv.model, temperature=0, seed=SEED, max_tokens=MAX_TOKENS, **kwargs
    )


def check_call(call_id, kind, name, arguments, what, expected_name=None):
    """One tool call as the client sees it: id, type, an offered name, arguments valid for it."""
    check(isinstance(call_id, str) and call_id.startswith("call_"), f"{what}: id starts with call_ ({call_id!r})")
    check(kind == "function", f"{what}: type is function ({kind!r})")
    check(name in ARGS, f"{what}: the function is one that was offered ({name!r})")
    if expected_name is not None:
        check(name == expected_name, f"{what}: the named function {expected_name} is called, not {name!r}")
    try:
        ARGS[name].model_validate_json(arguments)
    except ValidationError as error:
        check(False, f"{what}: arguments validate against {name}'s parameters: {error}")
    check(isinstance(json.loads(arguments), dict), f"{what}: arguments are a JSON object")


def check_forced(tool_choice, expected_name, what):
    """A forced call, not streamed: returns the message, to replay it in the round trip."""
    reply = create(messages=ASK, tools=TOOLS, tool_choice=tool_choice)
    choice = reply.choices[0]
    calls = choice.message.tool_calls or []
    check(len(calls) >= 1, f"{what}: message.tool_calls is not empty")
    check(choice.finish_reason == "tool_calls", f"{what}: finish_reason tool_calls ({choice.finish_reason!r})")
    check(not (choice.message.content or "").strip(), f"{what}: no text beside a forced call")
    for call in calls:
        check_call(call.id, call.type, call.function.name, call.function.arguments, what, expected_name)
    check(len({call.id for call in calls}) == len(calls), f"{what}: call ids are distinct")
    return choice.message


def check_forced_stream(tool_choice, expected_name, what):
    """The same, streamed: delta.tool_calls assembled by index, as the SDK's users do."""
    stream = create(messages=ASK, tools=TOOLS, tool_choice=tool_choice, stream=True)
    calls, content, finish = {}, [], None
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if delta.content:
            content.append(delta.content)
        for part in delta.tool_calls or []:
            call = calls.get(part.index)
            if call is None:
                # The first chunk of a call carries its id, type and name (as OpenAI streams them).
                check(part.id and part.function and part.function.name, f"{what}: a call's first chunk has id and name")
                call = calls[part.index] = {"id": part.id, "type": part.type, "name": part.function.name, "args": ""}
            else:
                check(part.id in (None, call["id"]), f"{what}: a call's id does not change mid-stream")
            if part.function and part.function.arguments:
                call["args"] += part.function.arguments
        finish = chunk.choices[0].finish_reason or finish
    check(calls, f"{what}: delta.tool_calls arrived")
    check(sorted(calls) == list(range(len(calls))), f"{what}: indexes count from 0 ({sorted(calls)})")
    check(finish == "tool_calls", f"{what}: finish_reason tool_calls ({finish!r})")
    check(not "".join(content).strip(), f"{what}: no content deltas beside a forced call")
    for call in calls.values():
        check_call(call["id"], call["type"], call["name"], call["args"], what, expected_name)


# Forced calls, `required` and named, streamed and not.
first = check_forced("required", None, "required")
check_forced({"type": "function", "function": {"name": "get_time"}}, "get_time", "named get_time")
check_forced_stream("required", None, "streamed required")
check_forced_stream({"type": "function", "function": {"name": "get_time"}}, "get_time", "streamed named get_time")

# A full round trip: the call is replayed with a `tool` message answering it, then a text answer.
call = first.tool_calls[0]
history = ASK + [
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": call.function.name, "arguments": call.function.arguments}}
        ],
    },
    {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"forecast": "sunny", "high_c": 21})},
]
# tool_choice none: the answer must be text, which a 135M model would not otherwise promise.
final = create(messages=history, tools=TOOLS, tool_choice="none").choices[0]
check(isinstance(final.message.content, str) and final.message.content.strip(), "round trip: the final answer has content")
check(not final.message.tool_calls, "round trip: no tool call under tool_choice none")
check(final.finish_reason in ("stop", "length"), f"round trip: finish_reason ({final.finish_reason!r})")
# The same history with tools offered under `auto` is accepted (the model may answer or call again).
again = create(messages=history, tools=TOOLS, tool_choice="auto").choices[0]
check(again.finish_reason in ("stop", "length", "tool_calls"), f"round trip, auto: finish_reason ({again.finish_reason!r})")
for call in again.message.tool_calls or []:
    check_call(call.id, call.type, call.function.name, call.function.arguments, "round trip, auto")

# parallel_tool_calls false: at most one call, even when the question asks for two.
two = [{"role": "user", "content": "Weather in Paris and in Rome, and the time in Tokyo?"}]
for stream in (False, True):
    reply = create(messages=two, tools=TOOLS, tool_choice="required", parallel_tool_calls=False, stream=stream)
    if stream:
        indexes = {part.index for chunk in reply if chunk.choices for part in chunk.choices[0].delta.tool_calls or []}
    else:
        indexes = set(range(len(reply.choices[0].message.tool_calls or [])))
    check(len(indexes) == 1, f"parallel_tool_calls false (stream={stream}): exactly one call ({len(indexes)})")

# .parse() with a Pydantic model: the SDK sends a strict json_schema and parses the reply.
parsed = client.chat.completions.parse(
    model=srv.model,
    messages=[{"role": "user", "content": "Describe Paris as a city record."}],
    response_format=City,
    temperature=0,
    seed=SEED,
    max_tokens=MAX_TOKENS,
)
message = parsed.choices[0].message
check(parsed.choices[0].finish_reason == "stop", f"parse: finish_reason stop ({parsed.choices[0].finish_reason!r})")
check(isinstance(message.parsed, City), f"parse: message.parsed is a City ({type(message.parsed).__name__})")
check(message.refusal is None, "parse: no refusal")

# json_object: any JSON object, and it parses.
reply = create(
    messages=[
        {"role": "system", "content": "Answer in JSON."},
        {"role": "user", "content": "Give the capital of France as a JSON object."},
    ],
    response_format={"type": "json_object"},
).choices[0]
check(reply.finish_reason == "stop", f"json_object: finish_reason stop ({reply.finish_reason!r})")
try:
    value = json.loads(reply.message.content or "")
except json.JSONDecodeError as error:
    check(False, f"json_object: the reply parses as JSON ({error})")
check(isinstance(value, dict), f"json_object: the reply is an object ({type(value).__name__})")

checks.done()
