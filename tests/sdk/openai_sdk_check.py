"""Drives sotto with the official OpenAI Python SDK, pointed at it with base_url.

Run by tests/openai_sdk.rs with SOTTO_BASE_URL and SOTTO_MODEL set. Exits non-zero on the
first failed check (a plain assert), printing which one.
"""
import os
import sys

import openai
from openai import OpenAI

base_url = os.environ["SOTTO_BASE_URL"]
model = os.environ["SOTTO_MODEL"]
client = OpenAI(base_url=base_url, api_key=os.environ.get("SOTTO_API_KEY", "unused"), max_retries=0)
checks = 0


def check(condition, what):
    global checks
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


# models.list and models.retrieve
ids = [m.id for m in client.models.list()]
check(model in ids, f"models.list lists {model}: {ids}")
check(client.models.retrieve(model).id == model, "models.retrieve")

# Chat, plain
chat = client.chat.completions.create(
    model=model,
    messages=[{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a planet."}],
    temperature=0,
    max_tokens=12,
)
check(chat.object == "chat.completion", "chat object")
check(chat.choices[0].message.role == "assistant", "chat role")
check(len(chat.choices[0].message.content) > 0, "chat content")
check(chat.choices[0].finish_reason in ("stop", "length"), "chat finish_reason")
check(chat.usage.completion_tokens > 0 and chat.usage.prompt_tokens > 0, "chat usage")

# Chat, streaming with usage
stream = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "Name a planet."}],
    temperature=0,
    max_tokens=12,
    stream=True,
    stream_options={"include_usage": True},
)
pieces, finish, usage = [], None, None
for chunk in stream:
    if chunk.choices:
        delta = chunk.choices[0].delta
        if delta.content:
            pieces.append(delta.content)
        finish = chunk.choices[0].finish_reason or finish
    if chunk.usage is not None:
        usage = chunk.usage
plain = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "Name a planet."}], temperature=0, max_tokens=12
)
check("".join(pieces) == plain.choices[0].message.content, "stream text equals plain text")
check(finish in ("stop", "length"), "stream finish_reason")
check(usage is not None and usage.completion_tokens == plain.usage.completion_tokens, "stream usage")

# Legacy completions, plain and streaming
completion = client.completions.create(model=model, prompt="The sky is", max_tokens=5, temperature=0)
check(completion.object == "text_completion", "completion object")
check(completion.usage.completion_tokens == 5 and completion.choices[0].finish_reason == "length", "completion length")
streamed = "".join(
    c.choices[0].text for c in client.completions.create(model=model, prompt="The sky is", max_tokens=5, temperature=0, stream=True) if c.choices
)
check(streamed == completion.choices[0].text, "completion stream text")

# Logprobs, in the SDK's typed models
scored = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "Name a planet."}], temperature=0, max_tokens=6,
    logprobs=True, top_logprobs=3,
)
entries = scored.choices[0].logprobs.content
check(len(entries) == scored.usage.completion_tokens, "a logprobs entry per token")
check(all(len(e.top_logprobs) == 3 and e.top_logprobs[0].token == e.token for e in entries), "greedy token first in top_logprobs")
legacy = client.completions.create(model=model, prompt="The sky is", max_tokens=4, temperature=0, logprobs=2)
check(len(legacy.choices[0].logprobs.tokens) == 4 and len(legacy.choices[0].logprobs.top_logprobs[0]) == 2, "legacy logprobs lists")

# Error classes
try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    check(False, "unknown model raises")
except openai.NotFoundError as error:
    check(error.status_code == 404 and error.code == "model_not_found", "NotFoundError code")

try:
    client.chat.completions.create(model=model, messages=[])
    check(False, "empty messages raises")
except openai.BadRequestError as error:
    check(error.status_code == 400 and error.param == "messages", "BadRequestError param")

try:
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], temperature=9)
    check(False, "bad temperature raises")
except openai.BadRequestError as error:
    check(error.param == "temperature", "BadRequestError names temperature")

try:
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi " * 2000}])
    check(False, "context overflow raises")
except openai.BadRequestError as error:
    check(error.code == "context_length_exceeded", "context_length_exceeded code")

print(f"{checks} passed, 0 failed")
