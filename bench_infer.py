"""Large runs of infer.py: questions/s and peak memory at several input sizes, side by side in one run.

For each size N, N questions are made by repeating the shipped valid inputs (dataset/valid.json) into a
temporary .txt file, and `infer.py --input FILE --out FILE.jsonl` runs on it as a user would run it, in
its own process: wall time (model load included), questions/s, and the process's peak resident memory
(its maximum RSS, from wait4). infer.py streams, so the peak should not grow with N. Printed, and written to
outputs/bench_infer.md and .json.

    python bench_infer.py --model weights/full/int8 --sizes 2000 20000
    python bench_infer.py --model weights/full/int8 --sizes 100000 --batch-size 16   # about an hour here

Run it alone on the machine: the rewrites use every core.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qrewrite.cli import ArgumentParser, fail, positive_int
from qrewrite.cpu import cpu_heading
from qrewrite.data import load_pairs, write_text_atomic
from qrewrite.errors import DataError
from qrewrite.paths import check_reports_dir, open_reports_dir, reports_dir_for

REPO = Path(__file__).resolve().parent


def run_infer(args, questions, folder):
    """Runs infer.py on the questions; returns its row: wall time, rate, peak memory, fallbacks."""
    source, output = Path(folder) / f"questions_{len(questions)}.txt", Path(folder) / f"rewrites_{len(questions)}.jsonl"
    source.write_text("".join(q + "\n" for q in questions), encoding="utf-8")
    command = [sys.executable, str(REPO / "infer.py"), "--model", args.model, "--input", str(source),
               "--out", str(output), "--batch-size", str(args.batch_size)]
    with open(Path(folder) / "stderr.txt", "w+") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: Popen must not wait again
        if process.returncode != 0:
            stderr.seek(0)
            fail(f"infer.py exited {process.returncode} on {len(questions)} questions: {stderr.read()[-500:]}")
    with open(output, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    assert [r["input"] for r in records] == questions, "infer.py lost or reordered a question"
    return {"questions": len(questions), "wall_s": round(wall_s, 1),
            "questions_per_s": round(len(questions) / wall_s, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024),  # Linux reports KiB
            "fallbacks": sum(r["fallback"] is not None for r in records)}


def markdown(rows, args):
    lines = [cpu_heading(), "",
             f"infer.py on repeated valid inputs, model `{args.model}`, batch {args.batch_size} (wall time includes "
             "loading the model)", "",
             "| questions | wall s | questions/s | peak memory (RSS) | kept unchanged |", "|---|---|---|---|---|"]
    lines += [f"| {r['questions']:,} | {r['wall_s']} | {r['questions_per_s']} | {r['peak_rss_mb']} MB | "
              f"{r['fallbacks']:,} |" for r in rows]
    return "\n".join(lines) + "\n"


def main():
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="weights/full/int8", help="model folder, as infer.py takes it")
    parser.add_argument("--data", default="dataset/valid.json", help="JSON pairs whose inputs are repeated")
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=[2000, 20000])
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--reports", renamed_from=["--outputs"],
                        help="folder for bench_infer.md and .json (default: outputs/<run>)")
    args = parser.parse_args()
    try:
        inputs = [p["input"] for p in load_pairs(args.data)]
        reports = check_reports_dir(args.reports or reports_dir_for(args.model), ["bench_infer.md", "bench_infer.json"],
                                    inputs=[args.data])
    except DataError as err:
        fail(err)

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_infer.") as folder:
        for size in args.sizes:
            questions = [inputs[i % len(inputs)] for i in range(size)]
            rows.append(run_infer(args, questions, folder))
            print(f"{size} questions: {rows[-1]}", file=sys.stderr)
    table = markdown(rows, args)
    print(table, end="")
    open_reports_dir(reports)
    write_text_atomic(reports / "bench_infer.md", table)
    write_text_atomic(reports / "bench_infer.json", json.dumps({"args": vars(args), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
