"""The fake providers themselves, read by the official SDKs' own parsers: if the SDKs accept
what the fakes send, the fakes speak the real wire formats (answers, SSE streams, tool-call
deltas, base64 embeddings, error bodies).

hub/tests/llm_sdk.rs cues each fake before running this: its first request gets an error
answer (OpenAI 429 with Retry-After: 2, Anthropic 529) and its second an error event
mid-stream. Exits 1 if any check fails."""

import json
import os

import anthropic
import openai

from checks import TOOL_PROMPT, WEATHER_ARGUMENTS, WEATHER_SCHEMA, check, eq, expect_error, run, that

oai = openai.OpenAI(
    base_url=os.environ["FAKE_OPENAI_URL"], api_key=os.environ["FAKE_OPENAI_KEY"], max_retries=0, timeout=30
)
ant = anthropic.Anthropic(
    base_url=os.environ["FAKE_ANTHROPIC_URL"], api_key=os.environ["FAKE_ANTHROPIC_KEY"], max_retries=0, timeout=30
)
HELLO = [{"role": "user", "content": "hello fake provider"}]
OPENAI_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}]


# The cued failures come first, in the order the fakes consume them.


@check
def openai_error_answer():
    error = expect_error(
        openai.RateLimitError, 429, lambda: oai.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    )
    eq(error.response.headers.get("retry-after"), "2", "Retry-After")
    eq(error.code, "rate_limit_exceeded", "error code")
    that(error.message, "no error message")


@check
def openai_error_event_mid_stream():
    stream = oai.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    received = []
    try:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    except openai.APIError as error:
        that("error" in str(error).lower() or error.message, f"an unexplained error: {error!r}")
    else:
        raise AssertionError("the stream ended without the error event")
    that(len(received) >= 1, "no chunk before the error event")


@check
def anthropic_error_answer():
    error = expect_error(
        anthropic.APIStatusError,
        529,
        lambda: ant.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=HELLO),
    )
    eq(error.body["type"], "error", "error body")
    eq(error.body["error"]["type"], "overloaded_error", "error type")


@check
def anthropic_error_event_mid_stream():
    pieces = []
    try:
        with ant.messages.stream(model="claude-sonnet-4-5", max_tokens=10, messages=HELLO) as stream:
            for text in stream.text_stream:
                pieces.append(text)
    except anthropic.APIError as error:
        that("overloaded" in str(error).lower(), f"not the overloaded error: {error!r}")
    else:
        raise AssertionError("the stream ended without the error event")
    that(pieces, "no text before the error event")


# Then normal answers.


@check
def openai_chat_and_stream():
    completion = oai.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=2)
    eq(completion.choices[0].message.content, "hello fake", "cut to max_tokens")
    eq(completion.choices[0].finish_reason, "length", "finish reason")
    eq(completion.usage.total_tokens, 5, "total tokens")
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    eq("".join(c.choices[0].delta.content or "" for c in chunks if c.choices), "hello fake provider", "stream")
    eq(chunks[-1].choices, [], "the usage chunk has no choices")
    eq(chunks[-1].usage.completion_tokens, 3, "streamed usage")


@check
def openai_tool_calls():
    messages = [{"role": "user", "content": TOOL_PROMPT}]
    completion = oai.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=OPENAI_TOOLS)
    call = completion.choices[0].message.tool_calls[0]
    eq(json.loads(call.function.arguments), WEATHER_ARGUMENTS, "arguments")
    messages.append(completion.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "cloudy"})
    answer = oai.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=OPENAI_TOOLS)
    eq(answer.choices[0].message.content, "The tool returned: cloudy", "answer")
    arguments = ""
    for chunk in oai.chat.completions.create(
        model="gpt-4o-mini", messages=messages[:1], tools=OPENAI_TOOLS, stream=True
    ):
        for part in chunk.choices[0].delta.tool_calls or []:
            eq(part.index, 0, "tool call index")
            arguments += part.function.arguments or ""
    eq(json.loads(arguments), WEATHER_ARGUMENTS, "streamed arguments")


@check
def openai_embeddings():
    base64 = oai.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    floats = oai.embeddings.create(model="text-embedding-3-small", input=["a", "b"], encoding_format="float")
    eq([d.embedding for d in base64.data], [d.embedding for d in floats.data], "base64 and float vectors")
    eq(len(floats.data[1].embedding), 8, "dimensions")


@check
def openai_credentials_are_checked():
    stranger = openai.OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="sk-wrong", max_retries=0)
    expect_error(
        openai.AuthenticationError, 401, lambda: stranger.chat.completions.create(model="m", messages=HELLO)
    )


@check
def anthropic_messages_and_stream():
    message = ant.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=HELLO)
    eq(message.content[0].text, "hello fake provider", "answer")
    eq(message.usage.input_tokens, 3, "input tokens")
    with ant.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    eq(text, "hello fake provider", "streamed text")
    eq(final.stop_reason, "end_turn", "stop reason")
    eq(final.usage.output_tokens, 3, "streamed output tokens")


@check
def anthropic_tool_use():
    with ant.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=100,
        tools=ANTHROPIC_TOOLS,
        messages=[{"role": "user", "content": TOOL_PROMPT}],
    ) as stream:
        final = stream.get_final_message()
    eq([b.type for b in final.content], ["text", "tool_use"], "blocks")
    eq(final.content[1].input, WEATHER_ARGUMENTS, "input from input_json_delta")
    answer = ant.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        tools=ANTHROPIC_TOOLS,
        messages=[
            {"role": "user", "content": TOOL_PROMPT},
            {"role": "assistant", "content": final.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": final.content[1].id, "content": "fog"}]},
        ],
    )
    eq(answer.content[0].text, "The tool returned: fog", "answer")


@check
def anthropic_credentials_are_checked():
    stranger = anthropic.Anthropic(base_url=os.environ["FAKE_ANTHROPIC_URL"], api_key="sk-wrong", max_retries=0)
    expect_error(
        anthropic.AuthenticationError,
        401,
        lambda: stranger.messages.create(model="m", max_tokens=5, messages=HELLO),
    )


if __name__ == "__main__":
    run(f"fakes (openai {openai.__version__}, anthropic {anthropic.__version__})")
