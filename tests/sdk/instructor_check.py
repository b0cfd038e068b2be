"""instructor in its default mode (TOOLS: one forced function call), pointed at sotto.

Run by tests/agent_clients.rs with .venv-instructor's interpreter (see clientcheck.py for the
environment and the exit protocol). max_retries=0: instructor would otherwise re-ask after a
validation failure and hide it.
"""

from typing import Literal

import instructor
from openai import OpenAI
from pydantic import BaseModel, Field

from clientcheck import MAX_TOKENS, SEED, Checks, server


# Comments, not docstrings, on these models: instructor sends a docstring as the tool's description.
class Person(BaseModel):
    name: str = Field(max_length=40)
    age: int = Field(ge=0, le=130)
    role: Literal["engineer", "doctor", "teacher", "other"]


class Team(BaseModel):
    name: str = Field(max_length=40)
    members: list[Person] = Field(min_length=1, max_length=3)


srv = server()
client = instructor.from_openai(OpenAI(base_url=srv.base_url, api_key=srv.api_key, max_retries=0))
check_mode = client.mode
checks = Checks()
check = checks.check
check(check_mode == instructor.Mode.TOOLS, f"instructor's default mode is TOOLS ({check_mode})")
settings = {"model": srv.model, "temperature": 0, "seed": SEED, "max_tokens": MAX_TOKENS, "max_retries": 0}

person, completion = client.chat.completions.create_with_completion(
    response_model=Person,
    messages=[{"role": "user", "content": "Extract: Ada is a 36 year old engineer."}],
    **settings,
)
check(isinstance(person, Person), f"response_model Person gives a Person ({type(person).__name__})")
choice = completion.choices[0]
check(choice.finish_reason == "tool_calls", f"the raw completion ends with tool_calls ({choice.finish_reason!r})")
calls = choice.message.tool_calls or []
check(len(calls) == 1 and calls[0].function.name == "Person", "the raw completion calls the Person function once")
check(calls[0].id.startswith("call_"), "the call's id starts with call_")

team = client.chat.completions.create(
    response_model=Team,
    messages=[{"role": "user", "content": "Extract: the Apollo team has Ada (36, engineer) and Bo (41, doctor)."}],
    **settings,
)
check(isinstance(team, Team), f"response_model Team gives a Team ({type(team).__name__})")
check(all(isinstance(member, Person) for member in team.members), "Team.members are Persons")

checks.done()
