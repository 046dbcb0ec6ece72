"""serve.py's /v1/chat/completions as the openai package calls it, over real HTTP on a loopback port (the
real script on the tiny model, as in test_serve.py): a plain reply, a streamed one and its errors; and the
server-sent events on the wire as OpenAI sends them, with the usage chunk stream_options asks for."""
import json

import openai
import pytest
import test_serve
from test_serve import call

pytestmark = pytest.mark.slow  # trains, converts or starts a server

served, server = test_serve.served, test_serve.server  # the fixtures: serve.py on the tiny model, for this module

QUESTION = "whats teh wether in paris tmrw"
MESSAGES = [{"role": "system", "content": "Rewrite the question."},
            {"role": "user", "content": "an earlier question"},
            {"role": "assistant", "content": "An earlier question?"},
            {"role": "user", "content": QUESTION}]
CHUNK_KEYS = {"id", "object", "created", "model", "system_fingerprint", "choices", "usage"}


@pytest.fixture(scope="module")
def client(server):
    with openai.OpenAI(base_url=f"http://127.0.0.1:{server}/v1", api_key="unused", max_retries=0,
                       timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def expected(server):
    """The question's record from /v1/rewrite: what the chat endpoint must answer."""
    return call(server, "POST", "/v1/rewrite", {"questions": [QUESTION]})[2]["rewrites"][0]


@pytest.fixture(scope="module")
def whole(client):
    """The client's reply without streaming, for the streamed ones to match."""
    return client.chat.completions.create(model="qrewrite", messages=MESSAGES)


def test_the_client_gets_the_rewrite(whole, expected):
    assert whole.object == "chat.completion" and whole.id.startswith("chatcmpl-")
    choice = whole.choices[0]
    assert choice.message.role == "assistant" and choice.finish_reason == "stop"
    assert choice.message.content == expected["rewrite"] and whole.model_extra["fallback"] == expected["fallback"]
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens > 0


def test_a_streamed_reply_is_the_same_rewrite_in_openai_chunks(client, whole):
    chunks = list(client.chat.completions.create(model="qrewrite", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[-1].choices[0].finish_reason == "stop"
    assert [c.choices[0].finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert {(c.id, c.created, c.model, c.object) for c in chunks} == {
        (chunks[0].id, chunks[0].created, chunks[0].model, "chat.completion.chunk")}
    assert all(c.usage is None and not c.model_extra for c in chunks)  # OpenAI's fields only: no "fallback"


def test_a_bad_streamed_request_is_an_ordinary_error(client):
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        client.chat.completions.create(model="qrewrite", messages=[{"role": "system", "content": "q"}], stream=True)
    assert refused.value.status_code == 422 and '"user"' in refused.value.message


def test_the_events_on_the_wire_are_openais_with_the_usage_last(server, whole):
    request = {"model": "qrewrite", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    status, headers, text = call(server, "POST", "/v1/chat/completions", request)
    assert status == 200 and headers["content-type"] == "text/event-stream; charset=utf-8"
    events = text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""] and all(e.startswith("data: {") for e in events[:-2])
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert all(set(c) == CHUNK_KEYS for c in chunks)  # "usage" asked for: in every chunk; never "fallback"
    assert [c["choices"] for c in chunks] == [
        [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}],
        [{"index": 0, "delta": {"content": whole.choices[0].message.content}, "logprobs": None,
          "finish_reason": None}],
        [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
        []]
    assert [c["usage"] for c in chunks] == [None, None, None, whole.usage.model_dump(exclude_none=True)]
    assert len({(c["id"], c["created"], c["model"], c["object"]) for c in chunks}) == 1
