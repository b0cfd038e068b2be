"""LangChain's ChatOpenAI (langchain-openai), pointed at sotto: bind_tools with a forced
tool_choice (invoked and streamed), and with_structured_output by its default method (json_schema)
and by function_calling.

Run by tests/agent_clients.rs (see clientcheck.py for the environment and the exit protocol).
"""

from typing import Literal

from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field, ValidationError

from clientcheck import MAX_TOKENS, SEED, Checks, server


# A bounded string keeps a small model's arguments short (an unbounded one may run to max_tokens).
class WeatherArgs(BaseModel):
    city: str = Field(max_length=40)
    unit: Literal["celsius", "fahrenheit"]


@tool(args_schema=WeatherArgs)
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"]) -> str:
    """Today's weather in a city."""
    return f"sunny in {city}"


# Comments, not docstrings, on this model: LangChain sends a docstring as its description.
class Movie(BaseModel):
    title: str = Field(max_length=40)
    year: int = Field(ge=1900, le=2030)
    genre: Literal["drama", "comedy", "action", "other"]


srv = server()
llm = ChatOpenAI(
    base_url=srv.base_url,
    api_key=srv.api_key,
    model=srv.model,
    temperature=0,
    seed=SEED,
    max_tokens=MAX_TOKENS,
    max_retries=0,
)
checks = Checks()
check = checks.check
ASK = "What is the weather in Paris, in celsius?"


def check_calls(message: AIMessage, what: str) -> None:
    check(message.tool_calls, f"{what}: the message has tool_calls")
    check(not message.invalid_tool_calls, f"{what}: no invalid_tool_calls")
    for call in message.tool_calls:
        check(call["name"] == "get_weather", f"{what}: get_weather is called ({call['name']!r})")
        check(str(call.get("id") or "").startswith("call_"), f"{what}: the call's id starts with call_")
        try:
            WeatherArgs.model_validate(call["args"])
        except ValidationError as error:
            check(False, f"{what}: args match get_weather's parameters: {error}")
    check(
        message.response_metadata.get("finish_reason") == "tool_calls",
        f"{what}: finish_reason tool_calls ({message.response_metadata.get('finish_reason')!r})",
    )


for choice in ("required", "get_weather"):
    bound = llm.bind_tools([get_weather], tool_choice=choice)
    check_calls(bound.invoke(ASK), f"bind_tools, tool_choice={choice}")
    # Streamed: LangChain merges the tool_call_chunks of every delta into one message.
    merged = None
    for chunk in bound.stream(ASK):
        merged = chunk if merged is None else merged + chunk
    check(merged is not None, f"bind_tools, tool_choice={choice}, streamed: chunks arrived")
    check(not (merged.content or "").strip(), f"bind_tools, tool_choice={choice}, streamed: no text beside the call")
    check_calls(merged, f"bind_tools, tool_choice={choice}, streamed")

for method in (None, "function_calling"):
    kwargs = {} if method is None else {"method": method}
    structured = llm.with_structured_output(Movie, **kwargs)
    movie = structured.invoke("Describe the film Casablanca.")
    check(isinstance(movie, Movie), f"with_structured_output, method={method or 'default'}: a Movie ({type(movie).__name__})")

checks.done()
