"""pydantic-ai through its chat-completions model class (OpenAIChatModel + OpenAIProvider), pointed
at sotto: an Agent with one tool and a structured output_type, and one with NativeOutput.

Run by tests/agent_clients.rs (see clientcheck.py for the environment and the exit protocol).
A 135M model may skip the tool: the script prints whether it ran and asserts the result's type.
"""

from typing import Literal

from pydantic import BaseModel, Field
from pydantic_ai import Agent, NativeOutput, RunContext, Tool, UsageLimits
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.tools import ToolDefinition

from clientcheck import MAX_TOKENS, SEED, Checks, server


# Comments, not docstrings, on these models: pydantic-ai sends a docstring as a description.
class Forecast(BaseModel):
    city: str = Field(max_length=40)
    sky: Literal["sunny", "cloudy", "rain"]
    high_c: int = Field(ge=-50, le=60)


srv = server()
model = OpenAIChatModel(srv.model, provider=OpenAIProvider(base_url=srv.base_url, api_key=srv.api_key))
settings = {"temperature": 0.0, "seed": SEED, "max_tokens": MAX_TOKENS}
checks = Checks()
check = checks.check
tool_runs: list[str] = []


def get_weather(city: str) -> dict:
    """Today's weather in a city."""
    tool_runs.append(city)
    return {"sky": "sunny", "high_c": 21}


async def once(ctx: RunContext[None], tool: ToolDefinition) -> ToolDefinition | None:
    # Offered until it has run once: with only the output tool left under tool_choice `required`,
    # the run ends even if a small model would call the weather tool forever.
    return None if tool_runs else tool


# The default output mode: the result comes back as a call to pydantic-ai's own output tool.
# retries=0: pydantic-ai would otherwise send a validation failure back to the model and hide it.
agent = Agent(
    model, output_type=Forecast, tools=[Tool(get_weather, prepare=once)], model_settings=settings, retries=0
)
result = agent.run_sync("What is the weather in Paris today?", usage_limits=UsageLimits(request_limit=4))
check(isinstance(result.output, Forecast), f"tool output: the result is a Forecast ({type(result.output).__name__})")
print(f"the agent's tool ran {len(tool_runs)} time(s)")
requests = result.usage.requests
check(1 <= requests <= 4, f"tool output: the run took 1 to 4 requests ({requests})")

# NativeOutput: the same type through response_format json_schema instead of a tool.
native = Agent(model, output_type=NativeOutput(Forecast), model_settings=settings, retries=0)
result = native.run_sync("Describe the weather in Rome today.", usage_limits=UsageLimits(request_limit=1))
check(isinstance(result.output, Forecast), f"native output: the result is a Forecast ({type(result.output).__name__})")

checks.done()
