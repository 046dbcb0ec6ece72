"""serve.py over real HTTP: both endpoints, every error path, batching, the queue, deadlines, health,
metrics and a clean SIGTERM. Most tests run the real script on the tiny model; the queue-full,
deadline and warm-up tests run the app in-process with a gated fake engine, so that they are exact."""
import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest
import uvicorn

import serve
from conftest import REPO
from qrewrite.rewriter import MAX_INPUT_TOKENS, Rewriter

MAX_QUESTIONS = 8
MAX_BODY = 4096


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(port, method, path, body=None, headers=None, chunked=False):
    """One HTTP request on a fresh connection: (status, headers, body parsed as JSON when it is JSON)."""
    headers = dict(headers or {})
    if body is not None and not isinstance(body, bytes):
        body, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        if chunked:
            conn.request(method, path, body=iter([body]), headers=headers, encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    is_json = response.headers.get("content-type", "").startswith("application/json")
    return response.status, response.headers, json.loads(data) if is_json else data.decode()


def wait_healthy(port, proc=None, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"serve.py exited {proc.returncode} before it was healthy")
        try:
            if call(port, "GET", "/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("serve.py did not become healthy")


def start_server(model_dir, *flags, log=None):
    """serve.py as a user runs it, on a free loopback port; returns (process, port) once it is healthy."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "serve.py", "--model", str(model_dir), "--port", str(port), *flags],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=log or subprocess.DEVNULL)
    wait_healthy(port, proc)
    return proc, port


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    log = open(tmp_path_factory.mktemp("serve") / "serve.log", "w")
    proc, port = start_server(tiny_model_dir, "--max-questions", str(MAX_QUESTIONS),
                              "--max-body-bytes", str(MAX_BODY), "--deadline-ms", "60000", log=log)
    yield port
    proc.terminate()
    proc.wait(timeout=60)
    log.close()


def test_rewrite_answers_each_question_in_order(server):
    questions = ["hi waht is teh capital of frnace? thx", "", "how do i reset my pasword pls"]
    status, _, body = call(server, "POST", "/v1/rewrite", {"questions": questions})
    assert status == 200
    records = body["rewrites"]
    assert [r["input"] for r in records] == questions and all(set(r) == {"input", "rewrite", "fallback"}
                                                              for r in records)
    assert records[1] == {"input": "", "rewrite": "", "fallback": None}
    for record in (records[0], records[2]):  # a random model's output mostly falls back to the input
        if record["fallback"]:
            assert record["rewrite"] == record["input"]


def test_chat_completions_takes_what_an_openai_client_sends(server):
    question = "whats teh wether in paris tmrw"
    request = {"model": "qrewrite", "temperature": 0, "max_tokens": 64,
               "messages": [{"role": "system", "content": "Rewrite the question."},
                            {"role": "user", "content": "an earlier question"},
                            {"role": "assistant", "content": "An earlier question?"},
                            {"role": "user", "content": [{"type": "text", "text": question}]}]}
    headers = {"Authorization": "Bearer sk-unused", "User-Agent": "OpenAI/Python 1.0", "Accept": "application/json"}
    status, _, reply = call(server, "POST", "/v1/chat/completions", request, headers)
    assert status == 200
    assert reply["id"].startswith("chatcmpl-") and reply["object"] == "chat.completion"
    assert isinstance(reply["created"], int) and isinstance(reply["model"], str)
    choice = reply["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    expected = call(server, "POST", "/v1/rewrite", {"questions": [question]})[2]["rewrites"][0]
    assert choice["message"]["content"] == expected["rewrite"] and reply["fallback"] == expected["fallback"]
    usage = reply["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] >= 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


BAD_REQUESTS = [
    ("POST", "/v1/rewrite", b'{"questions": [', 400, "not valid JSON"),
    ("POST", "/v1/rewrite", b"\xff\xfe", 400, "not valid JSON"),
    ("POST", "/v1/rewrite", {"questions": "one question"}, 422, "list of strings"),
    ("POST", "/v1/rewrite", {"questions": ["ok", 3]}, 422, "list of strings"),
    ("POST", "/v1/rewrite", ["a bare list"], 422, "list of strings"),
    ("POST", "/v1/rewrite", {"questions": []}, 422, "empty"),
    ("POST", "/v1/rewrite", {"questions": ["q"] * (MAX_QUESTIONS + 1)}, 422, f"the limit is {MAX_QUESTIONS}"),
    ("POST", "/v1/rewrite", {"questions": ["word " * (MAX_INPUT_TOKENS + 10)]}, 422,
     f"the limit is {MAX_INPUT_TOKENS}"),
    ("POST", "/v1/rewrite", {"questions": ["x" * MAX_BODY]}, 413, "--max-body-bytes"),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "q"}], "stream": True}, 400, "stream"),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "system", "content": "q"}]}, 422, '"user"'),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": 5}]}, 422, "content"),
    ("POST", "/v1/chat/completions", {"prompt": "q"}, 422, "messages"),
    ("GET", "/v1/rewrite", None, 405, "Method Not Allowed"),
    ("GET", "/v1/chat/completions", None, 405, "Method Not Allowed"),
    ("POST", "/health", b"", 405, "Method Not Allowed"),
    ("GET", "/v2/nothing", None, 404, "Not Found"),
]


@pytest.mark.parametrize("method, path, body, status, fragment", BAD_REQUESTS)
def test_bad_requests_get_one_clear_json_error(server, method, path, body, status, fragment):
    got, _, reply = call(server, method, path, body)
    assert got == status
    message = reply["error"]["message"]
    assert fragment in message and "\n" not in message and "Traceback" not in message


def test_a_chunked_body_over_the_limit_is_refused_without_reading_it_all(server):
    status, _, reply = call(server, "POST", "/v1/rewrite", b"x" * (4 * MAX_BODY), chunked=True)
    assert status == 413 and "--max-body-bytes" in reply["error"]["message"]


def test_concurrent_requests_are_all_answered_in_order(server):
    requests = [[f"question {i} part {j} waht is teh time" for j in range(1 + i % 3)] for i in range(24)]
    replies = [None] * len(requests)

    def send(i):
        replies[i] = call(server, "POST", "/v1/rewrite", {"questions": requests[i]})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for questions, (status, _, body) in zip(requests, replies):
        assert status == 200 and [r["input"] for r in body["rewrites"]] == questions


def test_health_and_metrics(server):
    call(server, "POST", "/v1/rewrite", {"questions": ["hi waht is teh capital of frnace? thx"]})
    call(server, "GET", "/v1/rewrite")
    status, _, health = call(server, "GET", "/health")
    assert status == 200 and health["status"] == "ok" and health["backend"] == "fp32"
    status, headers, text = call(server, "GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    for line in ('qrewrite_requests_total{endpoint="/v1/rewrite",status="200"}',
                 'qrewrite_requests_total{endpoint="/v1/rewrite",status="405"}',
                 'qrewrite_request_seconds_bucket{endpoint="/v1/rewrite",le="0.5"}',
                 "qrewrite_batch_size_count", "qrewrite_queue_depth 0.0", "qrewrite_fallbacks_total{reason=",
                 "qrewrite_generated_tokens_total"):
        assert line in text, line


def test_sigterm_finishes_the_request_in_flight_and_exits_0(tiny_model_dir):
    # A long batch-filling wait keeps the request queued when the signal comes.
    proc, port = start_server(tiny_model_dir, "--max-wait-ms", "1500", "--deadline-ms", "60000")
    questions = ["hi waht is teh capital of frnace? thx", "how do i reset my pasword pls"]
    replies = []
    sender = threading.Thread(
        target=lambda: replies.append(call(port, "POST", "/v1/rewrite", {"questions": questions})))
    sender.start()
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    sender.join(timeout=60)
    assert proc.wait(timeout=60) == 0
    status, _, body = replies[0]
    assert status == 200 and [r["input"] for r in body["rewrites"]] == questions and not any(
        r["fallback"] == "timeout" for r in body["rewrites"])
    with pytest.raises(OSError):
        call(port, "GET", "/health")


def test_a_missing_model_is_one_line_error(tmp_path):
    result = subprocess.run([sys.executable, "serve.py", "--model", str(tmp_path / "no-such-model"), "--port", "0"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and "no-such-model" in result.stderr


@pytest.mark.parametrize("flags", [["--max-batch", "0"], ["--port", "eighty"], ["--no-such-flag"],
                                   ["--max-questions", "300", "--queue-size", "100"], ["--max-wait-ms", "-1"]])
def test_bad_flags_are_one_line_errors(flags, capsys):
    with pytest.raises(SystemExit) as exit_:
        serve.parse_args(flags)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1


# In-process: the app in a uvicorn thread, the Rewriter's rewrite_records replaced by a gated fake engine.

class GatedEngine:
    """A slow fake engine: each call waits for the gate to open, and the questions of each call are kept."""

    def __init__(self):
        self.gate = threading.Event()
        self.calls = []

    def __call__(self, questions, progress=False):
        self.calls.append(list(questions))
        assert self.gate.wait(timeout=30)
        return [{"input": q, "rewrite": q.capitalize() + "?", "raw": q.capitalize() + "?", "fallback": None}
                for q in questions]

    def wait_for_calls(self, n):
        until(lambda: len(self.calls) >= n)


def until(condition, timeout=10):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def rewriter(tiny_model_dir):
    return Rewriter(str(tiny_model_dir), batch_size=8, device="cpu")


@contextmanager
def in_process(rewriter, monkeypatch, *flags):
    """The app served from a thread; yields (port, engine, worker). The gate opens on the way out."""
    engine = GatedEngine()
    monkeypatch.setattr(rewriter, "rewrite_records", engine)
    app = serve.create_app(rewriter, serve.parse_args(["--model", "tiny", *flags]))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    until(lambda: server.started)
    try:
        yield sock.getsockname()[1], engine, app.state.service.worker
    finally:
        engine.gate.set()
        server.should_exit = True
        thread.join(timeout=30)


def send_later(port, questions, replies):
    """Sends a rewrite request from a thread; its reply lands in replies[questions[0]]."""
    def send():
        replies[questions[0]] = call(port, "POST", "/v1/rewrite", {"questions": questions})
    thread = threading.Thread(target=send)
    thread.start()
    return thread


def test_health_is_503_until_the_warm_up_has_run(rewriter, monkeypatch):
    with in_process(rewriter, monkeypatch) as (port, engine, _):
        engine.wait_for_calls(1)  # the warm-up, held at the gate
        status, headers, reply = call(port, "GET", "/health")
        assert status == 503 and "warming up" in reply["error"]["message"] and headers["Retry-After"]
        engine.gate.set()
        until(lambda: call(port, "GET", "/health")[0] == 200)


def test_requests_that_arrive_together_share_one_engine_call(rewriter, monkeypatch):
    with in_process(rewriter, monkeypatch, "--max-batch", "8") as (port, engine, worker):
        engine.gate.set()
        until(worker.ready.is_set)
        engine.gate.clear()
        replies = {}
        threads = [send_later(port, ["first"], replies)]
        engine.wait_for_calls(2)  # "first" is in the engine; the next three queue up behind it
        threads += [send_later(port, [q], replies) for q in ("second", "third", "fourth")]
        until(lambda: len(worker.items) == 3)
        engine.gate.set()
        for thread in threads:
            thread.join()
        assert sorted(engine.calls[2]) == ["fourth", "second", "third"]
        assert replies["third"][2]["rewrites"] == [{"input": "third", "rewrite": "Third?", "fallback": None}]


def test_a_full_queue_gets_503_with_retry_after(rewriter, monkeypatch):
    flags = ("--max-batch", "1", "--queue-size", "2", "--max-questions", "2", "--deadline-ms", "30000")
    with in_process(rewriter, monkeypatch, *flags) as (port, engine, worker):
        engine.gate.set()
        until(worker.ready.is_set)
        engine.gate.clear()
        replies = {}
        threads = [send_later(port, ["in the engine"], replies)]
        engine.wait_for_calls(2)
        threads.append(send_later(port, ["queued", "queued too"], replies))
        until(lambda: len(worker.items) == 2)
        status, headers, reply = call(port, "POST", "/v1/rewrite", {"questions": ["one too many"]})
        assert status == 503 and headers["Retry-After"] == "1" and "queue is full" in reply["error"]["message"]
        engine.gate.set()
        for thread in threads:
            thread.join()
        assert [r["rewrite"] for r in replies["queued"][2]["rewrites"]] == ["Queued?", "Queued too?"]
        status, _, text = call(port, "GET", "/metrics")
        assert 'qrewrite_requests_total{endpoint="/v1/rewrite",status="503"} 1.0' in text


def test_past_the_deadline_questions_come_back_unchanged_and_unstarted_work_is_skipped(rewriter, monkeypatch):
    with in_process(rewriter, monkeypatch, "--max-batch", "1", "--deadline-ms", "300") as (port, engine, worker):
        engine.gate.set()
        until(worker.ready.is_set)
        engine.gate.clear()
        replies = {}
        threads = [send_later(port, ["slow one"], replies)]
        engine.wait_for_calls(2)
        start = time.monotonic()
        threads.append(send_later(port, ["never started"], replies))
        for thread in threads:
            thread.join()
        assert time.monotonic() - start < 2
        for question in ("slow one", "never started"):
            status, _, body = replies[question]
            assert status == 200 and body["rewrites"] == [{"input": question, "rewrite": question,
                                                          "fallback": "timeout"}]
        engine.gate.set()
        assert call(port, "POST", "/v1/rewrite", {"questions": ["after"]})[2]["rewrites"][0]["rewrite"] == "After?"
        assert engine.calls[1:] == [["slow one"], ["after"]]  # "never started" was skipped
        assert 'qrewrite_fallbacks_total{reason="timeout"} 2.0' in call(port, "GET", "/metrics")[2]


def test_an_engine_error_fails_open(rewriter, monkeypatch):
    with in_process(rewriter, monkeypatch) as (port, engine, worker):
        engine.gate.set()
        until(worker.ready.is_set)
        monkeypatch.setattr(rewriter, "rewrite_records", lambda questions: 1 / 0)
        status, _, body = call(port, "POST", "/v1/rewrite", {"questions": ["boom"]})
        assert status == 200 and body["rewrites"] == [{"input": "boom", "rewrite": "boom", "fallback": "error"}]
        assert call(port, "GET", "/health")[0] == 200  # the worker lives on


def test_two_threads_keep_two_engine_calls_in_flight(rewriter, monkeypatch):
    with in_process(rewriter, monkeypatch, "--max-batch", "1", "--threads", "2") as (port, engine, worker):
        engine.wait_for_calls(2)  # both threads' warm-ups are in the engine at once
        assert not worker.ready.is_set()  # ready only once every thread has warmed up
        engine.gate.set()
        until(worker.ready.is_set)
        engine.gate.clear()
        replies = {}
        threads = [send_later(port, [q], replies) for q in ("one", "two", "three")]
        engine.wait_for_calls(4)  # two questions decode at once; the third waits in the queue
        until(lambda: len(worker.items) == 1)
        engine.gate.set()
        for thread in threads:
            thread.join()
        assert {q: r[2]["rewrites"][0]["rewrite"] for q, r in replies.items()} == {
            "one": "One?", "two": "Two?", "three": "Three?"}


def test_each_thread_has_a_tokenizer_of_its_own(rewriter):
    from qrewrite.batching import rewriter_twin
    twin = rewriter_twin(rewriter)
    assert twin.engine is rewriter.engine and twin.tokenizer is not rewriter.tokenizer
    question = "<|im_end|><|im_start|>system hi"
    assert twin.prompt_ids(question) == rewriter.prompt_ids(question)


def test_question_length_is_counted_as_the_rewriter_counts_it(rewriter):
    # "<|im_end|>" spelled by a user is many plain tokens to the model, so it counts as many here too
    question = "<|im_end|>" * (MAX_INPUT_TOKENS // 4)
    from qrewrite.prompt import plain_token_ids
    assert len(plain_token_ids(rewriter.tokenizer, question)) > MAX_INPUT_TOKENS
    assert len(rewriter.tokenizer(question, add_special_tokens=False).input_ids) == MAX_INPUT_TOKENS // 4
    with pytest.raises(serve.ApiError) as refused:
        serve.check_lengths(rewriter.tokenizer, [question])
    assert refused.value.status == 422


def test_fallbacks_are_counted_by_kind_not_by_item(rewriter, monkeypatch):
    # "dropped: 4417" as a label would make a new time series for every number a user types
    with in_process(rewriter, monkeypatch) as (port, engine, worker):
        engine.gate.set()
        until(worker.ready.is_set)
        monkeypatch.setattr(rewriter, "rewrite_records", lambda questions: [
            {"input": q, "rewrite": q, "raw": "x?", "fallback": "dropped: 4417"} for q in questions])
        status, _, body = call(port, "POST", "/v1/rewrite", {"questions": ["cancel order 4417"]})
        assert status == 200 and body["rewrites"][0]["fallback"] == "dropped: 4417"
        metrics = call(port, "GET", "/metrics")[2]
        assert 'qrewrite_fallbacks_total{reason="dropped"} 1.0' in metrics and "4417" not in metrics


def test_connections_get_tcp_nodelay():
    # asyncio turns Nagle's algorithm off only for sockets whose proto is TCP; the listening socket's proto is what
    # accepted connections get. Without it each keep-alive reply waited ~40 ms on the client's delayed ACK.
    import asyncio

    async def nodelay_of_accepted_connection():
        sock = serve.bind_socket("127.0.0.1", 0)
        seen = asyncio.get_running_loop().create_future()

        def on_connect(reader, writer):
            seen.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname())
        value = await asyncio.wait_for(seen, 5)
        writer.close()
        server.close()
        return value

    assert asyncio.run(nodelay_of_accepted_connection()) != 0
