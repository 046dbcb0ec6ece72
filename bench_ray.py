"""What Ray costs and gives on one machine: serve.py against serve_ray.py, infer.py against infer_ray.py, in one run.

    python bench_ray.py --model weights/full/int8 --questions 256 --infer-questions 2000
    python bench_ray.py --model weights/quick/int8 --questions 64 --concurrency 1 8 --infer-questions 300  # a look

Services: serve.py, then serve_ray.py with --replicas replicas on a local Ray instance, each started on a free
loopback port with the same model and flags, get the same first --questions inputs of --data, one a request, each
once, at each --concurrency (bench_serve.py's load test): p50/p95/p99 latency, questions/s, errors and lost
replies. Batch: --infer-questions questions (the inputs repeated) in a .txt file go through infer.py --out and
infer_ray.py --out (a local Ray instance, one actor per CPU): wall time (start-up included) and the rate
after Ray has started (infer_ray.py's own figure; the actors' start and model loads are still in it). For each,
the memory of the whole process tree (Ray's own processes included: GCS, raylet, workers), sampled every half
second: at rest once healthy, and at its peak.
Printed, and written to <reports>/bench_ray.md and .json (outputs/<run> by default).

Run it alone on the machine: the servers, the jobs and the clients share its cores.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench_serve import free_port, load_level, server_flags, start_server
from qrewrite.cli import ArgumentParser, fail, positive_int
from qrewrite.cpu import cpu_heading
from qrewrite.data import load_pairs, write_text_atomic
from qrewrite.errors import DataError
from qrewrite.paths import check_reports_dir, open_reports_dir, reports_dir_for
from qrewrite.rewriter import add_guard_arguments

REPO = Path(__file__).resolve().parent
SAMPLE_S = 0.5  # how often the process tree's memory is sampled


class TreeMemory:
    """The resident memory of a process and all its descendants, sampled in a thread: now, and the peak."""

    def __init__(self, pid):
        self.root, self.peak_mb, self.stopped = psutil.Process(pid), 0.0, threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def now_mb(self):
        total = 0
        for proc in [self.root, *self.root.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:  # a process that ended between the listing and the reading
                pass
        return total / 2**20

    def sample(self):
        while not self.stopped.wait(SAMPLE_S):
            try:
                self.peak_mb = max(self.peak_mb, self.now_mb())
            except psutil.Error:
                return

    def stop(self):
        self.stopped.set()
        self.thread.join()
        return round(self.peak_mb)


def bench_service(name, command, port, questions, args, log):
    """Starts one service, loads it at each concurrency, stops it: its rows, its memory at rest and at peak."""
    proc, port = start_server(command, port, log)
    memory = TreeMemory(proc.pid)
    at_rest = round(memory.now_mb())
    rows = []
    for concurrency in args.concurrency:
        rows.append({"service": name, **load_level(port, questions, concurrency)})
        print(f"{name}, concurrency {concurrency}: {rows[-1]}", file=sys.stderr)
    peak = memory.stop()
    proc.send_signal(signal.SIGTERM)
    exit_code = proc.wait(timeout=600)
    for row in rows:
        row.update(memory_at_rest_mb=at_rest, memory_peak_mb=peak, exit_code=exit_code)
    return rows


def services(args, questions, reports):
    with open(reports / "bench_ray.log", "w") as log:
        port = free_port()
        serve_py = [sys.executable, str(REPO / "serve.py"), *server_flags(args), "--port", str(port),
                    "--queue-size", str(max(256, max(args.concurrency)))]
        rows = bench_service("serve.py", serve_py, port, questions, args, log)
        port = free_port()
        serve_ray = [sys.executable, str(REPO / "serve_ray.py"), *server_flags(args), "--port", str(port),
                     "--replicas", str(args.replicas), "--max-queued-requests", "-1"]
        return rows + bench_service(f"serve_ray.py, {args.replicas} replicas", serve_ray, port, questions, args, log)


def run_job(name, command, n_questions, output):
    """Runs infer.py or infer_ray.py to its end: wall time, rate, the rewriting rate it reports, memory."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    memory = TreeMemory(proc.pid)
    _, stderr = proc.communicate()
    wall_s, peak = time.perf_counter() - start, memory.stop()
    if proc.returncode != 0:
        fail(f"{name} exited {proc.returncode}: {stderr.strip()[-500:]}")
    lines = Path(output).read_text(encoding="utf-8").splitlines()
    if len(lines) != n_questions:
        fail(f"{name} wrote {len(lines)} records for {n_questions} questions")
    reported = re.search(r"rewrote \d+ questions in [0-9.]+ s \(([0-9.]+) questions/s", stderr)
    return {"job": name, "questions": n_questions, "wall_s": round(wall_s, 1),
            "questions_per_s": round(n_questions / wall_s, 2),
            "rewriting_questions_per_s": float(reported.group(1)) if reported else None, "memory_peak_mb": peak}


def jobs(args, inputs):
    questions = [inputs[i % len(inputs)] for i in range(args.infer_questions)]
    with tempfile.TemporaryDirectory(prefix="bench_ray.") as folder:
        source = Path(folder) / "questions.txt"
        source.write_text("".join(q + "\n" for q in questions), encoding="utf-8")
        common = ["--model", args.model, "--input", str(source), "--batch-size", str(args.max_batch),
                  "--retry-beams", str(args.retry_beams), "--min-confidence", str(args.min_confidence)]
        infer_py = [sys.executable, str(REPO / "infer.py"), *common, "--out", str(Path(folder) / "infer_py.jsonl")]
        infer_ray = [sys.executable, str(REPO / "infer_ray.py"), *common, "--out", str(Path(folder) / "ray.jsonl")]
        return [run_job("infer.py", infer_py, len(questions), Path(folder) / "infer_py.jsonl"),
                run_job("infer_ray.py", infer_ray, len(questions), Path(folder) / "ray.jsonl")]


def markdown(service_rows, job_rows, args):
    lines = [cpu_heading(), "",
             f"model `{args.model}`, max batch {args.max_batch}, retry beams {args.retry_beams}", "",
             "| service | clients | errors | lost | p50 ms | p95 ms | p99 ms | questions/s | memory at rest | peak |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in service_rows:
        lines.append(f"| {r['service']} | {r['run'].rsplit(' ', 1)[-1]} | {r['errors']} | {r['lost']} | "
                     f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {r['questions_per_s']:.2f} | "
                     f"{r['memory_at_rest_mb']} MB | {r['memory_peak_mb']} MB |")
    lines += ["", "| job | questions | wall s | questions/s, start-up included | questions/s after Ray's start "
                  "| peak memory |", "|---|---|---|---|---|---|"]
    for r in job_rows:
        rate = r["rewriting_questions_per_s"] or "-"
        lines.append(f"| {r['job']} | {r['questions']:,} | {r['wall_s']} | {r['questions_per_s']} | {rate} | "
                     f"{r['memory_peak_mb']} MB |")
    return "\n".join(lines) + "\n"


def main():
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="weights/full/int8")
    parser.add_argument("--data", default="dataset/valid.json", help="JSON pairs; their inputs are sent")
    parser.add_argument("--questions", type=positive_int, default=128, help="questions a load level (the first N)")
    parser.add_argument("--concurrency", type=positive_int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--replicas", type=positive_int, default=2, help="serve_ray.py's replicas")
    parser.add_argument("--max-batch", type=positive_int, default=16, help="the servers' and the jobs' batch")
    add_guard_arguments(parser)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--deadline-ms", type=float, default=120000.0,
                        help="the servers' deadline; long by default, so that every question is rewritten")
    parser.add_argument("--infer-questions", type=positive_int, default=2000, help="questions of the batch jobs")
    parser.add_argument("--reports", help="folder for bench_ray.md, .json and .log (default: outputs/<run>)")
    args = parser.parse_args()
    try:
        inputs = [p["input"] for p in load_pairs(args.data)]
        reports = check_reports_dir(args.reports or reports_dir_for(args.model),
                                    [f"bench_ray{suffix}" for suffix in (".md", ".json", ".log")],
                                    inputs=[args.data, args.model])
    except DataError as err:
        fail(err)
    print(f"model {args.model}; {os.cpu_count()} CPUs", file=sys.stderr)
    open_reports_dir(reports)
    service_rows = services(args, inputs[:args.questions], reports)
    job_rows = jobs(args, inputs)
    table = markdown(service_rows, job_rows, args)
    print(table, end="")
    write_text_atomic(reports / "bench_ray.md", table)
    write_text_atomic(reports / "bench_ray.json", json.dumps(
        {"args": vars(args), "services": service_rows, "jobs": job_rows}, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
