"""What the SDK scripts share: the hub's address and keys, and a tiny check runner.

The hub in front of them routes to fake providers (agenthub_test_support::fake_llm) that echo
the last user text, call the first tool when asked to "use the tool" (arguments built from its
schema), answer "The tool returned: <result>" after a tool result, and count one token a word.
"""

import asyncio
import os
import sys
import traceback

HUB = os.environ.get("AGENTHUB_URL", "")
ADMIN_KEY = os.environ.get("AGENTHUB_KEY", "")
# A key whose user may invoke gpt-4o-mini and nothing else.
USER_KEY = os.environ.get("AGENTHUB_USER_KEY", "")

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer"},
    },
    "required": ["city"],
}
# What the fakes call the weather tool with.
WEATHER_ARGUMENTS = {"city": "example", "unit": "celsius", "days": 1}
TOOL_PROMPT = "Please use the tool to get the weather in Paris"

_checks = []


def check(function):
    """Registers a check; run() runs them all in order."""
    _checks.append(function)
    return function


def eq(actual, expected, what):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def that(condition, what):
    if not condition:
        raise AssertionError(what)


def expect_error(error_class, status, call):
    """Runs call() and returns the error it must raise."""
    try:
        result = call()
    except error_class as error:
        eq(getattr(error, "status_code", None), status, f"{error_class.__name__} status")
        return error
    raise AssertionError(f"expected {error_class.__name__} ({status}), got {result!r}")


def in_mode(scenario, mode):
    """A check running the async `scenario` in one client mode, named after both."""

    def checked():
        asyncio.run(scenario(mode))

    checked.__name__ = f"{scenario.__name__} ({mode})"
    return checked


def run(sdk):
    failed = []
    for function in _checks:
        try:
            function()
            print(f"ok   {sdk}: {function.__name__}", flush=True)
        except Exception:  # noqa: BLE001 - every failure is reported, then the exit code says it
            failed.append(function.__name__)
            print(f"FAIL {sdk}: {function.__name__}", flush=True)
            traceback.print_exc()
    if failed:
        print(f"{sdk}: {len(failed)} of {len(_checks)} checks failed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)
    print(f"{sdk}: all {len(_checks)} checks passed")
