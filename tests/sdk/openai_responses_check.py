"""The Responses API through the official OpenAI Python SDK, pointed at sotto.

Run by tests/responses.rs (see clientcheck.py for the environment and the exit protocol).
Covers: `responses.create` plain (with `instructions` and `store`, which sotto never honours);
streamed, with OpenAI's event types in order; a function tool round trip (a forced call, then its
`function_call_output` sent back for a text answer); `text.format` json_schema, parsed and
validated, and `responses.parse` with a Pydantic model; the 400 for `previous_response_id` and
the 404 for `responses.retrieve`.
"""

import json
from typing import Literal

import openai
from openai import OpenAI
from pydantic import BaseModel, ConfigDict, Field

from clientcheck import MAX_TOKENS, Checks, server

srv = server()
client = OpenAI(base_url=srv.base_url, api_key=srv.api_key, max_retries=0)
checks = Checks()
check = checks.check


# Comments, not docstrings: a docstring would reach the model as a description.
class WeatherArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: str = Field(max_length=40)


class City(BaseModel):
    name: str = Field(max_length=40)
    country: str = Field(max_length=40)
    sky: Literal["sunny", "cloudy", "rain"]


def create(**kwargs):
    return client.responses.create(model=srv.model, temperature=0, max_output_tokens=MAX_TOKENS, **kwargs)


# Plain: a string input, instructions, and `store: true`, accepted and never honoured.
raw = client.responses.with_raw_response.create(
    model=srv.model, input="Say hello.", instructions="Answer in one short sentence.",
    temperature=0, max_output_tokens=40, store=True,
)
check("store" in raw.headers.get("x-sotto-ignored-params", ""), "plain: `store` is named as ignored")
plain = raw.parse()
check(plain.object == "response" and plain.id.startswith("resp_"), f"plain: a response ({plain.id})")
check(plain.status in ("completed", "incomplete"), f"plain: status ({plain.status})")
check(plain.store is False, "plain: store is false")
check(plain.output_text.strip() != "", "plain: output_text has the answer")
check(plain.output[0].type == "message" and plain.output[0].content[0].type == "output_text", "plain: a message item")
usage = plain.usage
check(usage and usage.input_tokens > 0 and usage.total_tokens == usage.input_tokens + usage.output_tokens, "plain: usage")

# Cut by its budget: incomplete, and says why.
short = client.responses.create(model=srv.model, input="Count from one to fifty in words.", temperature=0, max_output_tokens=5)
check(short.status == "incomplete", f"budget: incomplete ({short.status})")
check(short.incomplete_details and short.incomplete_details.reason == "max_output_tokens", "budget: the reason")
check(short.usage.output_tokens == 5, f"budget: 5 output tokens ({short.usage.output_tokens})")

# Streamed: the event types in OpenAI's order. The SDK's helper wants `response.completed`, which
# a reply cut by its budget does not send (OpenAI sends `response.incomplete`): room to finish.
types = []
text = []
with client.responses.stream(model=srv.model, input="Say hello.", temperature=0, max_output_tokens=MAX_TOKENS) as stream:
    for event in stream:
        types.append(event.type)
        if event.type == "response.output_text.delta":
            text.append(event.delta)
    final = stream.get_final_response()
deltas = types.count("response.output_text.delta")
expected = (
    ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    + ["response.output_text.delta"] * deltas
    + ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
)
check(deltas > 0, "stream: text deltas")
check(types == expected + ["response.completed"], f"stream: events in order ({types})")
check(final.output_text == "".join(text), "stream: the final response holds the streamed text")
check(final.usage and final.usage.output_tokens > 0, "stream: usage in the last event")

# A function tool round trip: a forced call, its output sent back, a text answer.
tools = [{
    "type": "function", "name": "get_weather", "description": "Weather for a city.",
    "parameters": WeatherArgs.model_json_schema(), "strict": True,
}]
ask = [{"role": "user", "content": "What is the weather in Paris?"}]
called = create(input=ask, tools=tools, tool_choice="required")
calls = [item for item in called.output if item.type == "function_call"]
check(len(calls) >= 1, f"tools: a function_call item ({[item.type for item in called.output]})")
call = calls[0]
check(call.name == "get_weather" and call.call_id.startswith("call_") and call.id.startswith("fc_"), "tools: the call's ids")
WeatherArgs.model_validate_json(call.arguments)
check(True, "tools: the arguments follow the schema")
history = ask + [item.model_dump(exclude_none=True) for item in called.output] + [
    {"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"sky": "sunny", "high_c": 21})}
]
answer = create(input=history, tools=tools, tool_choice="none")
check(answer.output_text.strip() != "", "tools: a text answer after the result")
check(all(item.type == "message" for item in answer.output), "tools: no call after `tool_choice: none`")

# Streamed call: the function_call events.
types = []
with client.responses.stream(model=srv.model, input=ask, tools=tools, tool_choice="required",
                             temperature=0, max_output_tokens=MAX_TOKENS) as stream:
    types = [event.type for event in stream]
check("response.function_call_arguments.delta" in types and "response.function_call_arguments.done" in types,
      f"tools, streamed: argument events ({types})")

# text.format json_schema: parsed and validated.
schema = City.model_json_schema()
schema["additionalProperties"] = False
structured = create(
    input="Describe Paris.",
    text={"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": True}},
)
city = City.model_validate_json(structured.output_text)
check(isinstance(city, City), "json_schema: the text is a valid City")
check(structured.text.format.type == "json_schema", "json_schema: echoed in `text`")
parsed = client.responses.parse(model=srv.model, input="Describe Rome.", text_format=City, temperature=0,
                                max_output_tokens=MAX_TOKENS)
check(isinstance(parsed.output_parsed, City), "parse: output_parsed is a City")

# Nothing is stored.
try:
    create(input="Again.", previous_response_id=plain.id)
    check(False, "previous_response_id: refused")
except openai.BadRequestError as error:
    check(error.body and error.body.get("param") == "previous_response_id", "previous_response_id: a 400 naming it")
try:
    client.responses.retrieve(plain.id)
    check(False, "retrieve: refused")
except openai.NotFoundError as error:
    check("stores no responses" in str(error), "retrieve: a 404 saying nothing is stored")

checks.done()
