"""pydantic-ai on its Responses model class (OpenAIResponsesModel), the default path of
`Agent("openai:<id>")`, pointed at sotto: a plain answer, an Agent with a tool and a structured
output_type, and one with NativeOutput (`text.format` json_schema).

Run by tests/responses.rs (see clientcheck.py for the environment and the exit protocol).
"""

from typing import Literal

from pydantic import BaseModel, Field
from pydantic_ai import Agent, NativeOutput, RunContext, Tool, UsageLimits
from pydantic_ai.models.openai import OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.tools import ToolDefinition

from clientcheck import MAX_TOKENS, Checks, server


# Comments, not docstrings: pydantic-ai sends a docstring as a description.
class Forecast(BaseModel):
    city: str = Field(max_length=40)
    sky: Literal["sunny", "cloudy", "rain"]


srv = server()
model = OpenAIResponsesModel(srv.model, provider=OpenAIProvider(base_url=srv.base_url, api_key=srv.api_key))
settings = {"temperature": 0.0, "max_tokens": MAX_TOKENS}
checks = Checks()
check = checks.check
runs: list[str] = []

plain = Agent(model, model_settings=settings)
result = plain.run_sync("Say hello.", usage_limits=UsageLimits(request_limit=1))
check(isinstance(result.output, str) and result.output.strip() != "", "plain: a text answer")
check(result.usage.input_tokens > 0 and result.usage.output_tokens > 0, "plain: usage was read")


def get_weather(city: str) -> dict:
    """Today's weather in a city."""
    runs.append(city)
    return {"sky": "sunny"}


async def once(ctx: RunContext[None], tool: ToolDefinition) -> ToolDefinition | None:
    # Offered until it has run once: with only the output tool left under pydantic-ai's
    # `required`, the run ends even if a small model would call the weather tool forever.
    return None if runs else tool


# The default output mode: the result comes back as a call to pydantic-ai's output tool, so every
# request forces a call (`tool_choice: required`), which sotto's grammar makes a valid one.
tooled = Agent(model, output_type=Forecast, tools=[Tool(get_weather, prepare=once)], model_settings=settings, retries=0)
result = tooled.run_sync("What is the weather in Paris today?", usage_limits=UsageLimits(request_limit=4))
check(isinstance(result.output, Forecast), f"tool output: a Forecast ({type(result.output).__name__})")
print(f"the agent's tool ran {len(runs)} time(s)")

native = Agent(model, output_type=NativeOutput(Forecast), model_settings=settings, retries=0)
result = native.run_sync("Describe the weather in Rome today.", usage_limits=UsageLimits(request_limit=1))
check(isinstance(result.output, Forecast), f"native output: a Forecast ({type(result.output).__name__})")

checks.done()
