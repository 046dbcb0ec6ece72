"""serve.py over real HTTP, the real script on the tiny model: both endpoints, every error path, concurrent
requests, health, metrics, its log lines, a clean SIGTERM and one-line errors. The queue, batching, deadline and
warm-up cases run in-process with a gated fake engine, so that they are exact: test_serve_inprocess.py. The
OpenAI client, streamed and not: test_serve_openai.py."""
import http.client
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import serve
from conftest import REPO, run_script
from qrewrite.rewriter import MAX_INPUT_TOKENS

pytestmark = pytest.mark.slow  # trains, converts or starts a server

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
def served(tiny_model_dir, tmp_path_factory):
    """serve.py on the tiny model for a module's tests: (port, path of its stderr log)."""
    path = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(path, "w") as log:
        proc, port = start_server(tiny_model_dir, "--max-questions", str(MAX_QUESTIONS),
                                  "--max-body-bytes", str(MAX_BODY), "--deadline-ms", "60000", log=log)
        yield port, path
        proc.terminate()
        proc.wait(timeout=60)


@pytest.fixture(scope="module")
def server(served):
    return served[0]


def test_rewrite_answers_each_question_in_order(server):
    questions = ["hi waht is teh capital of frnace? thx", "", "how do i reset my pasword pls"]
    status, _, body = call(server, "POST", "/v1/rewrite", {"questions": questions})
    assert status == 200
    records = body["rewrites"]
    assert [r["input"] for r in records] == questions and all(
        set(r) == {"input", "rewrite", "fallback", "restored", "confidence", "edits"} for r in records)
    assert records[1] == {"input": "", "rewrite": "", "fallback": None, "restored": [], "confidence": 1.0, "edits": []}
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
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "q"}], "stream": "yes"}, 422,
     '"stream"'),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "q"}], "stream": True,
                                      "stream_options": True}, 422, '"stream_options"'),
    ("POST", "/v1/chat/completions", {"messages": [{"role": "system", "content": "q"}], "stream": True}, 422,
     '"user"'),  # a streamed request's errors are JSON too: no event is sent before the rewrite is done
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


def test_the_log_has_startup_lines_and_one_access_line_a_request(served):
    port, log = served
    call(port, "POST", "/v1/rewrite", {"questions": ["one waht", "two"]})
    call(port, "GET", "/v2/access-log-probe")
    lines = log.read_text().splitlines()
    assert any("INFO qrewrite.serve: model " in line and " loaded (fp32) in " in line for line in lines)
    assert any(line.endswith(f"INFO qrewrite.serve: listening on http://127.0.0.1:{port}") for line in lines)
    probe = [line for line in lines if "/v2/access-log-probe" in line]  # uvicorn's own access line would be a 2nd
    assert len(probe) == 1 and re.search(
        r"INFO qrewrite\.serve\.access: GET /v2/access-log-probe 404 questions=0 ms=[0-9.]+ fallbacks=0$", probe[0])
    rewrite = [line for line in lines if "POST /v1/rewrite 200 questions=2 " in line]
    assert rewrite and re.search(r"ms=[0-9.]+ fallbacks=(0|[12] \(.+\))$", rewrite[-1])


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


def test_bench_serve_loads_a_server_it_starts_on_the_paths_given_in_the_users_folder(tiny_model_dir, tmp_path,
                                                                                     pair_files):
    shutil.copytree(tiny_model_dir, tmp_path / "model")
    done = run_script("bench_serve.py", "--model", "model", "--data", pair_files[1], "--questions", "3",
                      "--concurrency", "2", "--reports", "reports", cwd=tmp_path)
    report = json.loads((tmp_path / "reports" / "bench_serve.json").read_text())
    assert [row["run"] for row in report["rows"]][:2] == ["offline, batch 16", "offline, batch 1"]
    served = report["rows"][2]
    assert (served["errors"], served["lost"], report["server_exit"]) == (0, 0, 0)
    table = (tmp_path / "reports" / "bench_serve.md").read_text()
    assert table.startswith("CPU: ") and table in done.stdout
    bad = run_script("bench_serve.py", "--model", "model", "--data", "missing.json", cwd=tmp_path, check=False)
    assert bad.returncode == 2 and "missing.json" in bad.stderr and "Traceback" not in bad.stderr
