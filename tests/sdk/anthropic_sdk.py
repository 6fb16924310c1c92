"""The Anthropic Python SDK pointed at agenthub: messages, streaming (text_stream and
get_final_message), tool use, error classes and the x-agenthub-* headers, through both the
Anthropic and the OpenAI fake provider. Exits 1 if any check fails."""

import anthropic

from checks import (
    ADMIN_KEY,
    HUB,
    TOOL_PROMPT,
    USER_KEY,
    WEATHER_ARGUMENTS,
    WEATHER_SCHEMA,
    check,
    eq,
    expect_error,
    run,
    that,
)

# The SDK sends the key as x-api-key; its own retries would hide what the hub answered.
client = anthropic.Anthropic(base_url=HUB, api_key=ADMIN_KEY, max_retries=0, timeout=30)
MODELS = ["claude", "gpt-4o-mini"]
TOOLS = [{"name": "get_weather", "description": "The weather in a city", "input_schema": WEATHER_SCHEMA}]


@check
def messages():
    for model in MODELS:
        message = client.messages.create(
            model=model,
            max_tokens=100,
            system="Be brief.",
            messages=[{"role": "user", "content": "hello from the anthropic sdk"}],
        )
        eq(message.type, "message", model)
        eq(message.role, "assistant", model)
        eq([block.type for block in message.content], ["text"], f"{model} blocks")
        eq(message.content[0].text, "hello from the anthropic sdk", model)
        eq(message.stop_reason, "end_turn", model)
        eq(message.usage.input_tokens, 7, f"{model} input tokens")
        eq(message.usage.output_tokens, 5, f"{model} output tokens")


@check
def max_tokens_cuts_the_answer():
    for model in MODELS:
        message = client.messages.create(
            model=model, max_tokens=2, messages=[{"role": "user", "content": "one two three four"}]
        )
        eq(message.content[0].text, "one two", model)
        eq(message.stop_reason, "max_tokens", model)


@check
def streaming():
    for model in MODELS:
        with client.messages.stream(
            model=model,
            max_tokens=100,
            messages=[{"role": "user", "content": "stream these six words to me"}],
        ) as stream:
            pieces = list(stream.text_stream)
            final = stream.get_final_message()
        eq("".join(pieces), "stream these six words to me", model)
        that(len(pieces) > 1, f"{model}: the text came in one piece")
        eq(final.content[0].text, "stream these six words to me", f"{model} final message")
        eq(final.stop_reason, "end_turn", model)
        eq(final.usage.output_tokens, 6, f"{model} output tokens")


@check
def tool_use():
    for model in MODELS:
        messages = [{"role": "user", "content": TOOL_PROMPT}]
        message = client.messages.create(model=model, max_tokens=200, tools=TOOLS, messages=messages)
        eq(message.stop_reason, "tool_use", model)
        calls = [block for block in message.content if block.type == "tool_use"]
        eq(len(calls), 1, f"{model} tool_use blocks")
        eq(calls[0].name, "get_weather", model)
        eq(calls[0].input, WEATHER_ARGUMENTS, f"{model} input")

        # The result goes back; the answer uses it.
        messages.append({"role": "assistant", "content": message.content})
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "18 degrees and sunny"}],
            }
        )
        answer = client.messages.create(model=model, max_tokens=200, tools=TOOLS, messages=messages)
        eq(answer.content[0].text, "The tool returned: 18 degrees and sunny", model)
        eq(answer.stop_reason, "end_turn", model)


@check
def streamed_tool_use():
    for model in MODELS:
        with client.messages.stream(
            model=model, max_tokens=200, tools=TOOLS, messages=[{"role": "user", "content": TOOL_PROMPT}]
        ) as stream:
            final = stream.get_final_message()
        eq(final.stop_reason, "tool_use", model)
        calls = [block for block in final.content if block.type == "tool_use"]
        eq(len(calls), 1, f"{model} tool_use blocks")
        that(calls[0].id, f"{model}: the tool_use block has no id")
        eq(calls[0].name, "get_weather", model)
        eq(calls[0].input, WEATHER_ARGUMENTS, f"{model} input (from input_json_delta)")


@check
def errors():
    expect_error(
        anthropic.NotFoundError,
        404,
        lambda: client.messages.create(
            model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        ),
    )
    user = anthropic.Anthropic(base_url=HUB, api_key=USER_KEY, max_retries=0, timeout=30)
    user.messages.create(model="gpt-4o-mini", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    error = expect_error(
        anthropic.PermissionDeniedError,
        403,
        lambda: user.messages.create(model="claude", max_tokens=5, messages=[{"role": "user", "content": "hi"}]),
    )
    eq(error.body["error"]["type"], "permission_error", "403 error type")
    expect_error(
        anthropic.BadRequestError,
        400,
        lambda: client.messages.create(model="claude", max_tokens=0, messages=[{"role": "user", "content": "hi"}]),
    )
    stranger = anthropic.Anthropic(base_url=HUB, api_key="ahk_not_a_real_key", max_retries=0, timeout=30)
    expect_error(
        anthropic.AuthenticationError,
        401,
        lambda: stranger.messages.create(model="claude", max_tokens=5, messages=[{"role": "user", "content": "hi"}]),
    )


@check
def agenthub_headers():
    raw = client.messages.with_raw_response.create(
        model="gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": "who served me"}]
    )
    eq(raw.headers.get("x-agenthub-provider"), "fake-openai", "x-agenthub-provider")
    eq(raw.headers.get("x-agenthub-model"), "gpt-4o-mini", "x-agenthub-model")
    eq(raw.headers.get("x-agenthub-fallback-path"), "gpt-4o-mini", "x-agenthub-fallback-path")
    eq(raw.headers.get("x-agenthub-attempts"), "1", "x-agenthub-attempts")
    eq(raw.headers.get("x-agenthub-tokens-input"), "3", "x-agenthub-tokens-input")
    eq(raw.headers.get("x-agenthub-tokens-output"), "3", "x-agenthub-tokens-output")
    eq(raw.parse().content[0].text, "who served me", "parsed answer")


if __name__ == "__main__":
    run(f"anthropic {anthropic.__version__}")
