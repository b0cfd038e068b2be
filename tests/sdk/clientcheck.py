"""What every client script in tests/sdk/ shares: the server it is pointed at, and its checks.

tests/agent_clients.rs runs each script with SOTTO_BASE_URL (ending in /v1), SOTTO_API_KEY and
SOTTO_MODEL set. A script stops at its first failed check with a non-zero exit and the check's name
on stderr; when all pass it prints "N passed, 0 failed" (the line the Rust harness looks for).
"""

import os
import sys
from dataclasses import dataclass

# Every request is small: a 135M model answers poorly, so the scripts check structure (types,
# names, schema validity), never wording, and keep the output short and repeatable.
MAX_TOKENS = 200
SEED = 7


@dataclass(frozen=True)
class Server:
    base_url: str
    api_key: str
    model: str


def server() -> Server:
    missing = [name for name in ("SOTTO_BASE_URL", "SOTTO_API_KEY", "SOTTO_MODEL") if not os.environ.get(name)]
    if missing:
        print(f"set {', '.join(missing)} (tests/agent_clients.rs does)", file=sys.stderr)
        sys.exit(2)
    return Server(os.environ["SOTTO_BASE_URL"], os.environ["SOTTO_API_KEY"], os.environ["SOTTO_MODEL"])


class Checks:
    def __init__(self) -> None:
        self.passed = 0

    def check(self, condition: object, what: str) -> None:
        """Stops the script at the first failure, naming it."""
        if not condition:
            print(f"FAILED: {what}", file=sys.stderr)
            sys.exit(1)
        self.passed += 1

    def done(self) -> None:
        print(f"{self.passed} passed, 0 failed")
