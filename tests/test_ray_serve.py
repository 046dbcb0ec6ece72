"""serve_ray.py over real HTTP, the real script joining a local Ray instance of 2 CPUs (--address), 2 replicas of the
tiny model: serve.py's endpoint tests run against it unchanged (both endpoints, the openai client streamed and not,
each error, concurrent requests, health, metrics); every bad request gets byte for byte serve.py's answer;
concurrent requests share engine calls (its batch-size metric); SIGTERM deletes the app and exits 0."""
import signal
import subprocess
import sys
import threading

import pytest
import test_serve
from prometheus_client.parser import text_string_to_metric_families
from test_serve import (  # noqa: F401 -- serve.py's tests, collected here to run against serve_ray.py
    BAD_REQUESTS,
    MAX_BODY,
    MAX_QUESTIONS,
    call,
    free_port,
    test_a_chunked_body_over_the_limit_is_refused_without_reading_it_all,
    test_bad_requests_get_one_clear_json_error,
    test_chat_completions_takes_what_an_openai_client_sends,
    test_concurrent_requests_are_all_answered_in_order,
    test_health_and_metrics,
    test_rewrite_answers_each_question_in_order,
    wait_healthy,
)
from test_serve_openai import (  # noqa: F401
    client,
    expected,
    test_a_bad_streamed_request_is_an_ordinary_error,
    test_a_streamed_reply_is_the_same_rewrite_in_openai_chunks,
    test_the_client_gets_the_rewrite,
    test_the_events_on_the_wire_are_openais_with_the_usage_last,
    whole,
)

from conftest import REPO

pytestmark = pytest.mark.slow  # starts Ray, two replicas and serve.py

LIMITS = ["--max-questions", str(MAX_QUESTIONS), "--max-body-bytes", str(MAX_BODY), "--deadline-ms", "60000"]


@pytest.fixture(scope="module")
def served_ray(tiny_model_dir, ray_cluster, tmp_path_factory):
    """serve_ray.py on the tiny model, 2 replicas on the test's Ray instance: (port, process)."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve_ray") / "serve_ray.log"
    with open(log, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "serve_ray.py", "--model", str(tiny_model_dir), "--address",
                                 ray_cluster, "--port", str(port), "--replicas", "2", "--max-wait-ms", "50", *LIMITS],
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            wait_healthy(port, proc, timeout=600)
        except AssertionError:
            proc.kill()
            raise AssertionError(log.read_text()[-3000:]) from None
        yield port, proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)


@pytest.fixture(scope="module")
def server(served_ray):
    """The port serve.py's tests (collected above) send their requests to."""
    return served_ray[0]


@pytest.fixture(scope="module")
def serve_py(tiny_model_dir):
    """serve.py on the same model and limits, to compare answers with."""
    proc, port = test_serve.start_server(tiny_model_dir, *LIMITS)
    yield port
    proc.terminate()
    proc.wait(timeout=60)


def test_two_replicas_run(server, ray_cluster):
    from ray import serve

    status = serve.status().applications["qrewrite"]
    assert status.status == "RUNNING"
    assert status.deployments["Rewriter"].replica_states == {"RUNNING": 2}


@pytest.mark.parametrize("method, path, body, status, fragment", BAD_REQUESTS)
def test_bad_requests_get_serve_pys_answer_byte_for_byte(server, serve_py, method, path, body, status, fragment):
    ray_status, ray_headers, ray_reply = call(server, method, path, body)
    status, headers, reply = call(serve_py, method, path, body)
    assert (ray_status, ray_reply) == (status, reply)
    assert ray_headers["content-type"] == headers["content-type"] == "application/json"


def batch_counts(port):
    """(engine calls, engine calls of one question, questions) so far, from /metrics (summed over replicas)."""
    samples = {(s.name, s.labels.get("le")): s.value for family in text_string_to_metric_families(
        call(port, "GET", "/metrics")[2]) for s in family.samples}
    return (samples[("qrewrite_batch_size_count", None)], samples[("qrewrite_batch_size_bucket", "1.0")],
            samples[("qrewrite_questions_total", None)])


def test_concurrent_requests_share_engine_calls(server):
    calls, singles, questions = batch_counts(server)
    replies = [None] * 24

    def send(i):
        replies[i] = call(server, "POST", "/v1/rewrite", {"questions": [f"question {i} waht is teh time"]})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(replies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(status == 200 for status, _, _ in replies)
    calls_after, singles_after, questions_after = batch_counts(server)
    assert questions_after - questions == 24  # every question rewritten once, on one replica or the other
    assert (calls_after - calls) - (singles_after - singles) >= 1  # some engine call held more than one question
    assert calls_after - calls < 24


def test_sigterm_deletes_the_app_and_exits_0(served_ray, ray_cluster):
    import ray

    port, proc = served_ray
    assert any(a["name"].startswith("SERVE_REPLICA") for a in ray.util.list_named_actors(all_namespaces=True))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 0
    # the app's replicas are gone, and Serve with them: it ran no other app (the cluster is left as it was found)
    assert not any(a["name"].startswith("SERVE_") for a in ray.util.list_named_actors(all_namespaces=True))
    with pytest.raises(OSError):
        call(port, "GET", "/health")


def test_a_missing_model_is_one_line_error_before_ray_starts(tmp_path):
    result = subprocess.run([sys.executable, "serve_ray.py", "--model", str(tmp_path / "no-such-model")],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and "no-such-model" in result.stderr


@pytest.mark.parametrize("flags", [["--replicas", "0"], ["--port", "0"], ["--min-replicas", "2"],
                                   ["--min-replicas", "3", "--max-replicas", "2"], ["--max-queued-requests", "0"],
                                   ["--replica-cpus", "-1"], ["--replica-gpus", "-1"]])
def test_bad_flags_are_one_line_errors(flags, capsys):
    import serve_ray

    with pytest.raises(SystemExit) as exit_:
        serve_ray.parse_args(flags)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1
