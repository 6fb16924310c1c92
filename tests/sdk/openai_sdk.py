"""The OpenAI Python SDK pointed at agenthub: chat, streaming, tool calling, embeddings, error
classes and the x-agenthub-* headers, through both the OpenAI and the Anthropic fake provider.
Exits 1 if any check fails."""

import json

import openai

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

# The SDK's own retries would hide what the hub answered.
client = openai.OpenAI(base_url=HUB + "/v1", api_key=ADMIN_KEY, max_retries=0, timeout=30)
MODELS = ["gpt-4o-mini", "claude"]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": WEATHER_SCHEMA,
        },
    }
]


@check
def chat():
    for model in MODELS:
        completion = client.chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hello from the openai sdk"},
            ],
        )
        eq(completion.object, "chat.completion", model)
        choice = completion.choices[0]
        eq(choice.message.role, "assistant", model)
        eq(choice.message.content, "hello from the openai sdk", model)
        eq(choice.finish_reason, "stop", model)
        eq(completion.usage.prompt_tokens, 7, f"{model} prompt tokens")
        eq(completion.usage.completion_tokens, 5, f"{model} completion tokens")


@check
def streaming():
    for model in MODELS:
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "stream these six words to me"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        eq(text, "stream these six words to me", model)
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        eq(finishes, ["stop"], f"{model} finish reasons")
        usage = [c.usage for c in chunks if c.usage is not None]
        eq(len(usage), 1, f"{model} usage chunks")
        eq(usage[0].completion_tokens, 6, f"{model} completion tokens")
        that(len(chunks) > 3, f"{model}: the answer came in one chunk")


@check
def tool_calling():
    for model in MODELS:
        messages = [{"role": "user", "content": TOOL_PROMPT}]
        completion = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
        choice = completion.choices[0]
        eq(choice.finish_reason, "tool_calls", model)
        calls = choice.message.tool_calls
        eq(len(calls), 1, f"{model} tool calls")
        eq(calls[0].type, "function", model)
        eq(calls[0].function.name, "get_weather", model)
        eq(json.loads(calls[0].function.arguments), WEATHER_ARGUMENTS, f"{model} arguments")

        # The result goes back; the answer uses it.
        messages.append(choice.message.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": "18 degrees and sunny"})
        answer = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
        eq(answer.choices[0].message.content, "The tool returned: 18 degrees and sunny", model)
        eq(answer.choices[0].finish_reason, "stop", model)


@check
def streamed_tool_calling():
    for model in MODELS:
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": TOOL_PROMPT}],
            tools=TOOLS,
            stream=True,
        )
        calls = {}
        finish = None
        for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            for part in delta.tool_calls or []:
                call = calls.setdefault(part.index, {"id": None, "name": "", "arguments": ""})
                if part.id:
                    call["id"] = part.id
                if part.function and part.function.name:
                    call["name"] += part.function.name
                if part.function and part.function.arguments:
                    call["arguments"] += part.function.arguments
            finish = chunk.choices[0].finish_reason or finish
        eq(finish, "tool_calls", model)
        eq(list(calls), [0], f"{model} tool call indexes")
        that(calls[0]["id"], f"{model}: the tool call has no id")
        eq(calls[0]["name"], "get_weather", model)
        eq(json.loads(calls[0]["arguments"]), WEATHER_ARGUMENTS, f"{model} arguments")


@check
def embeddings():
    # The SDK asks for base64 unless told otherwise, and decodes it.
    default = client.embeddings.create(model="embed", input=["alpha", "beta gamma"])
    floats = client.embeddings.create(model="embed", input=["alpha", "beta gamma"], encoding_format="float")
    eq(len(default.data), 2, "embeddings")
    for a, b in zip(default.data, floats.data):
        eq(len(a.embedding), 8, "dimensions")
        eq(a.embedding, b.embedding, "base64 and float vectors")
    that(default.data[0].embedding != default.data[1].embedding, "two texts, one vector")
    eq(default.usage.prompt_tokens, 3, "embedding tokens")
    short = client.embeddings.create(model="embed", input="alpha", dimensions=4)
    eq(len(short.data[0].embedding), 4, "dimensions asked for")


@check
def errors():
    error = expect_error(
        openai.NotFoundError,
        404,
        lambda: client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}]),
    )
    eq(error.param, "model", "404 param")
    user = openai.OpenAI(base_url=HUB + "/v1", api_key=USER_KEY, max_retries=0, timeout=30)
    user.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    expect_error(
        openai.PermissionDeniedError,
        403,
        lambda: user.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}]),
    )
    error = expect_error(
        openai.BadRequestError,
        400,
        lambda: client.chat.completions.create(model="gpt-4o-mini", n=0, messages=[{"role": "user", "content": "hi"}]),
    )
    eq(error.param, "n", "400 param")
    stranger = openai.OpenAI(base_url=HUB + "/v1", api_key="ahk_not_a_real_key", max_retries=0, timeout=30)
    expect_error(openai.AuthenticationError, 401, lambda: stranger.models.list())


@check
def agenthub_headers():
    raw = client.chat.completions.with_raw_response.create(
        model="claude", messages=[{"role": "user", "content": "who served me"}]
    )
    eq(raw.headers.get("x-agenthub-provider"), "fake-anthropic", "x-agenthub-provider")
    eq(raw.headers.get("x-agenthub-model"), "claude", "x-agenthub-model")
    eq(raw.headers.get("x-agenthub-upstream-model"), "claude-sonnet-4-5-20250929", "x-agenthub-upstream-model")
    eq(raw.headers.get("x-agenthub-fallback-path"), "claude", "x-agenthub-fallback-path")
    eq(raw.headers.get("x-agenthub-tokens-input"), "3", "x-agenthub-tokens-input")
    eq(raw.headers.get("x-agenthub-tokens-output"), "3", "x-agenthub-tokens-output")
    that(raw.headers.get("x-request-id"), "no x-request-id")
    eq(raw.parse().choices[0].message.content, "who served me", "parsed answer")


@check
def models():
    ids = [model.id for model in client.models.list()]
    for name in ["gpt-4o-mini", "claude", "embed"]:
        that(name in ids, f"{name} not listed: {ids}")
    user = openai.OpenAI(base_url=HUB + "/v1", api_key=USER_KEY, max_retries=0, timeout=30)
    eq([model.id for model in user.models.list()], ["gpt-4o-mini"], "the user's models")


if __name__ == "__main__":
    run(f"openai {openai.__version__}")
