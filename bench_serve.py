"""Load test of serve.py: the shipped valid questions at several concurrencies, beside the engine offline.

First the engine alone, in this process: Rewriter.rewrite_records on all the questions at the server's
--max-batch (throughput), then one question at a time (latency at batch 1). Then serve.py starts as a
subprocess on a free loopback port, and for each concurrency C, C client threads send the same
questions, one a request, until each has been sent once (a fixed number; it stops by itself). Printed
and written to <reports>/bench_serve.md and .json (outputs/<run> by default): p50/p95/p99 latency,
questions/s, new tokens/s (the server's qrewrite_generated_tokens_total), errors (not 200), lost (a reply
that does not hold its question) and timeouts (questions the deadline returned unchanged), and throughput
as a share of offline.

    python bench_serve.py --model weights/full/int8 --questions 128
    python bench_serve.py --model weights/base/int8 --concurrency 1 8 --questions 32   # a quick look

Run it alone on the machine: the server, the engine and the clients share its cores.
"""
import argparse
import http.client
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from qrewrite.batching import completion_tokens
from qrewrite.cli import ArgumentParser, fail, positive_int
from qrewrite.cpu import cpu_heading
from qrewrite.data import load_pairs, write_text_atomic
from qrewrite.errors import DataError
from qrewrite.paths import check_reports_dir, open_reports_dir, reports_dir_for
from qrewrite.rewriter import Rewriter, add_guard_arguments, guard_options

REPO = Path(__file__).resolve().parent


def percentile(values, p):
    """Nearest-rank percentile (p in 0-100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency_row(name, latencies_s, wall_s, n_questions, new_tokens):
    ms = [1000 * x for x in latencies_s] if latencies_s else [math.nan]
    return {"run": name, "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95), "p99_ms": percentile(ms, 99),
            "questions_per_s": n_questions / wall_s, "new_tokens_per_s": new_tokens / wall_s}


def offline_rows(args, questions):
    """The engine called directly: all questions at --max-batch, then one at a time."""
    rewriter = Rewriter(args.model, batch_size=args.max_batch, **guard_options(args))
    rewriter.rewrite_records(questions[:1])  # warm-up, as the server does

    def tokens(records):
        return sum(completion_tokens(rewriter.tokenizer, r["raw"]) for r in records)

    start = time.perf_counter()
    records = rewriter.rewrite_records(questions)
    batched = latency_row(f"offline, batch {args.max_batch}", [], time.perf_counter() - start, len(questions),
                          tokens(records))
    rewriter.batch_size = 1
    latencies, n_tokens, start = [], 0, time.perf_counter()
    for question in questions:
        t0 = time.perf_counter()
        n_tokens += tokens(rewriter.rewrite_records([question]))
        latencies.append(time.perf_counter() - t0)
    single = latency_row("offline, batch 1", latencies, time.perf_counter() - start, len(questions), n_tokens)
    return batched, single


def post(conn, questions):
    conn.request("POST", "/v1/rewrite", body=json.dumps({"questions": questions}),
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def generated_tokens(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    for family in text_string_to_metric_families(text):
        if family.name == "qrewrite_generated_tokens":
            return sum(s.value for s in family.samples if s.name.endswith("_total"))
    return 0.0


def load_level(port, questions, concurrency):
    """Sends every question once, `concurrency` requests in flight; a row plus errors, lost and timeouts."""
    next_index, lock = iter(range(len(questions))), threading.Lock()
    latencies, counts = [], {"errors": 0, "lost": 0, "timeouts": 0}

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                break
            t0 = time.perf_counter()
            try:
                status, body = post(conn, [questions[index]])
            except (OSError, http.client.HTTPException):
                status, body = None, b""
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                count_outcome(counts, status, body, questions[index])
        conn.close()

    tokens_before, start = generated_tokens(port), time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    row = latency_row(f"served, concurrency {concurrency}", latencies, wall, len(questions),
                      generated_tokens(port) - tokens_before)
    return {**row, **counts}


def count_outcome(counts, status, body, question):
    if status != 200:
        counts["errors"] += 1
        return
    rewrites = json.loads(body).get("rewrites", [])
    if len(rewrites) != 1 or rewrites[0]["input"] != question:
        counts["lost"] += 1
    elif rewrites[0]["fallback"] == "timeout":
        counts["timeouts"] += 1


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_flags(args):
    """The flags bench_serve.py passes on to the server it starts (serve.py, or serve_ray.py in bench_ray.py)."""
    return ["--model", args.model, "--max-batch", str(args.max_batch), "--retry-beams", str(args.retry_beams),
            "--min-confidence", str(args.min_confidence), "--max-wait-ms", str(args.max_wait_ms),
            "--deadline-ms", str(args.deadline_ms)]


def start_server(command, port, log, timeout_s=600):
    """Starts a server command listening on `port` and waits until /health answers 200: (process, port)."""
    proc = subprocess.Popen(command, stdout=log, stderr=log)
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and proc.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    sys.exit(f"error: {Path(command[1]).name} did not become healthy (see {log.name})")


def markdown(rows, offline_qps):
    head = ("| run | errors | lost | timeouts | p50 ms | p95 ms | p99 ms | questions/s | new tok/s | "
            "of offline batched |\n|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        cells = [r["run"], r.get("errors", "-"), r.get("lost", "-"), r.get("timeouts", "-")]
        cells += ["-" if math.isnan(r[k]) else f"{r[k]:.0f}" for k in ("p50_ms", "p95_ms", "p99_ms")]
        cells += [f"{r['questions_per_s']:.2f}", f"{r['new_tokens_per_s']:.1f}",
                  f"{100 * r['questions_per_s'] / offline_qps:.0f}%"]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return head + "\n".join(lines) + "\n"


def main():
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="weights/full/int8")
    parser.add_argument("--data", default="dataset/valid.json", help="JSON pairs; their inputs are sent")
    parser.add_argument("--questions", type=positive_int, default=128, help="questions per run (the first N)")
    parser.add_argument("--concurrency", type=positive_int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--max-batch", type=positive_int, default=16, help="the server's, and the offline batch size")
    add_guard_arguments(parser)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--deadline-ms", type=float, default=120000.0,
                        help="the server's deadline; long by default, so that every question is rewritten")
    parser.add_argument("--reports", help="folder for bench_serve.md, .json and .log (default: outputs/<run>)")
    args = parser.parse_args()

    reports = Path(args.reports or reports_dir_for(args.model))
    try:  # the folder follows the reports rules (qrewrite/paths.py), so the other scripts can share it
        check_reports_dir(reports, [f"bench_serve{suffix}" for suffix in (".md", ".json", ".log")],
                          inputs=[args.data, args.model])
        questions = [pair["input"] for pair in load_pairs(args.data)][:args.questions]
    except DataError as err:
        fail(err)
    print(f"{len(questions)} questions from {args.data}; model {args.model}; {os.cpu_count()} CPUs", file=sys.stderr)
    batched, single = offline_rows(args, questions)
    rows = [batched, single]
    open_reports_dir(reports)
    with open(reports / "bench_serve.log", "w") as log:
        port = free_port()
        command = [sys.executable, str(REPO / "serve.py"), *server_flags(args), "--port", str(port),
                   "--queue-size", str(max(256, max(args.concurrency)))]
        proc, port = start_server(command, port, log)
        for concurrency in args.concurrency:
            rows.append(load_level(port, questions, concurrency))
            print(f"concurrency {concurrency}: {rows[-1]}", file=sys.stderr)
        proc.send_signal(signal.SIGTERM)
        server_exit = proc.wait(timeout=600)
    table = cpu_heading() + "\n\n" + markdown(rows, batched["questions_per_s"])
    print(table + f"server exit code after SIGTERM: {server_exit}")
    write_text_atomic(reports / "bench_serve.md", table)
    summary = {"args": vars(args), "rows": rows, "server_exit": server_exit}
    write_text_atomic(reports / "bench_serve.json", json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
