"""The OpenAI Agents SDK on its default model class, OpenAIResponsesModel, pointed at sotto: an
Agent runs one function tool to a final output.

Run by tests/responses.rs (see clientcheck.py for the environment and the exit protocol).
A 135M model follows grammars, not instructions: `tool_choice="required"` makes the first turn one
call; the tool is then disabled (`is_enabled`), so the next turn, whose `tool_choice` the SDK
resets (`reset_tool_choice`, on by default), can only answer in text with the call's output in
its `input`.
"""

import asyncio

from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

from clientcheck import MAX_TOKENS, Checks, server

srv = server()
checks = Checks()
check = checks.check
runs: list[str] = []

# Tracing would post the run to OpenAI's servers.
set_tracing_disabled(True)


def not_run_yet(ctx, agent) -> bool:
    return not runs


@function_tool(is_enabled=not_run_yet)
def get_weather(city: str) -> str:
    """Today's weather in a city."""
    runs.append(city)
    return "sunny, 21 C"


async def main() -> None:
    client = AsyncOpenAI(base_url=srv.base_url, api_key=srv.api_key, max_retries=0)
    model = OpenAIResponsesModel(model=srv.model, openai_client=client)
    agent = Agent(
        name="weather",
        instructions="Answer with the weather the tool gives.",
        model=model,
        tools=[get_weather],
        model_settings=ModelSettings(
            tool_choice="required", parallel_tool_calls=False, temperature=0, max_tokens=MAX_TOKENS
        ),
    )
    result = await Runner.run(agent, "What is the weather in Paris?", max_turns=4)
    check(len(runs) == 1, f"the tool ran once ({runs})")
    check(isinstance(result.final_output, str) and result.final_output.strip() != "", "a final text output")
    kinds = [item.type for item in result.new_items]
    check("tool_call_item" in kinds and "tool_call_output_item" in kinds, f"the run's items ({kinds})")
    check(kinds[-1] == "message_output_item", f"it ends with a message ({kinds})")

    # Streamed, through the same model class.
    runs.clear()
    streamed = Runner.run_streamed(agent, "What is the weather in Rome?", max_turns=4)
    events = [event.type async for event in streamed.stream_events()]
    check(len(runs) == 1, f"streamed: the tool ran once ({runs})")
    check("raw_response_event" in events, "streamed: raw Responses events came through")
    check(isinstance(streamed.final_output, str) and streamed.final_output.strip() != "", "streamed: a final output")


asyncio.run(main())
checks.done()
