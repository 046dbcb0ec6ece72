"""Engines side by side: the project's int8 engine in each of its settings and the peers a user might pick,
on the same fine-tuned model, the same questions and the same prompt token ids, greedy, in one run.

Rows: fp32 transformers (the reference); CTranslate2Engine on each int8 backend it can use (CT2_USE_MKL=0 and =1:
picked once per process, so every row runs in a process of its own, with CT2_VERBOSE=1), each compute type this CPU
offers among int8, int8_float32, bfloat16 and int8_bfloat16, both thread layouts (2 workers x 1 thread, 1 worker x 2
threads) and the static prompt on and off; the openvino engine (OpenVINO GenAI, on quantize.py --openvino's folder
beside --model) and the onnx engine (ONNX Runtime GenAI, one question at a time, on quantize.py --onnx's); the peer
llama.cpp (GGUF Q8_0, several sequences per llama_decode).
(OpenVINO's LLMPipeline and vLLM's CPU build lost everywhere: results.md.) qrewrite/bench_workers.py runs each row.
qrewrite/bench_report.py writes the table and the goals.

Figures: ms for one question alone (median over the questions, batch 1), new tokens/s at batch 16 (--batch: 16 prompts
decoded together), the share of greedy outputs identical to fp32's (fp32 one question at a time is the reference),
corpus BLEU of the raw batch-16 outputs against the pairs' references (no guard), size on disk. A candidate that
cannot run gets one line saying why. Under the rows, the ceiling (qrewrite/bench_ceiling.py): the same job's matrix
multiplies alone on torch's int8 kernels, what no engine on such kernels passes on this CPU. The table starts with the
CPU (lscpu), the date and the threads, and ends with the goals for the settings the Rewriter picks on this CPU; it
is printed and written to <reports>/bench_engines.md, .json. The peer runs in a venv of its own (--peers-python;
the project's stays clean: llama-cpp-python compiles), its model converted once into --peer-models (reused when
present) by quantize.py's GGUF export.

    python bench_engines.py --model weights/full/best --peers-python /tmp/peers/bin/python   # alone on the machine
    python bench_engines.py --model weights/quick/best --limit 30 --only 'MKL=0|OpenVINO|ONNX'  # no MKL rows, no peer
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from qrewrite.bench_report import PROJECT_ONNX, PROJECT_OPENVINO, markdown
from qrewrite.bench_workers import BATCH, THREADS
from qrewrite.cpu import cpu_line

WORKER_TIMEOUT_S = 3600
CT2_BACKENDS = ("0", "1")  # CT2_USE_MKL: CTranslate2's default backend on this CPU, and Intel MKL
CT2_COMPUTE_TYPES = ("int8", "int8_float32", "bfloat16", "int8_bfloat16")  # each one this CPU lists
CT2_LAYOUTS = ((THREADS, 1), (1, THREADS))  # (workers, threads each)
REPORT_NAMES = ["bench_engines.json", "bench_engines.md"]
REPO = Path(__file__).resolve().parent  # the workers run from REPO: any venv finds qrewrite
WORKER_MODULE, CEILING_MODULE = "qrewrite.bench_workers", "qrewrite.bench_ceiling"


class CannotRun(Exception):
    """A candidate that cannot run here; its message is the one line the table gives it."""


def make_job(model, data, limit, batch):
    """The prompts as the Rewriter builds them (similar lengths together, as Rewriter.generate orders them), their
    bounds (max_new_tokens_for), the stop ids, the references, and a function that decodes ids to text."""
    from types import SimpleNamespace

    from qrewrite.data import load_pairs
    from qrewrite.engines import load_tokenizer
    from qrewrite.modeling import resolve_model
    from qrewrite.prompt import max_new_tokens_for, prompt_prefix_ids
    from qrewrite.rewriter import Rewriter

    pairs = load_pairs(data)[:limit]
    if len(pairs) < batch:
        from qrewrite.errors import DataError

        raise DataError(f"{data}: {len(pairs)} pairs measured (--limit {limit}), fewer than --batch {batch}; pass a "
                        f"larger --limit or a smaller --batch")
    tokenizer = load_tokenizer(resolve_model(model))
    rewriter = Rewriter(model, engine=SimpleNamespace(name="prompts only", tokenizer=tokenizer, beam_search=False))
    encoded = sorted(((rewriter.prompt_ids(p["input"]), p["output"]) for p in pairs), key=lambda e: len(e[0][0]))
    job = {"prompts": [ids for (ids, _), _ in encoded], "stop_ids": rewriter.stop_ids,
           "max_new_tokens": [max_new_tokens_for(n) for (_, n), _ in encoded], "batch": batch,
           "prefix": len(prompt_prefix_ids(tokenizer))}  # the tokens every prompt starts with
    decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=True).strip()  # as Rewriter.generate decodes
    return job, [reference for _, reference in encoded], decode


def size_mb(folder, pattern):
    return round(sum(f.stat().st_size for f in Path(folder).glob(pattern)) / 2**20, 1)


def converted(folder, marker, convert):
    """A peer model folder, converted once: reused when it holds `marker`, else written into a new hidden folder
    beside it (never one a user may have) and moved in when whole."""
    from qrewrite.paths import discard, link_or_other, staging_dir

    folder = Path(folder)
    if (folder / marker).is_file():
        return folder
    if link_or_other(folder, folder=True):
        raise CannotRun(f"{folder} is a link or not a folder; move it away or pass other --peer-models")
    if folder.is_dir() and any(folder.iterdir()):  # not ours: never deleted
        raise CannotRun(f"{folder} holds files but no {marker}; move it away or pass other --peer-models")
    staged = staging_dir(folder)
    start = time.perf_counter()
    try:
        convert(staged)
        if not (staged / marker).is_file():
            raise CannotRun(f"the conversion wrote no {marker}")
        staged.rename(folder)  # onto nothing, or an empty folder
    finally:
        discard(staged)  # a failed conversion's files; nothing once moved in
    print(f"converted {folder} in {time.perf_counter() - start:.0f} s", flush=True)
    return folder


def run_command(command, what):
    done = subprocess.run(command, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise CannotRun(f"{what} failed: {last_line(done.stdout + done.stderr)}")  # a traceback ends stderr


def last_line(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def export_gguf(model, out):
    from qrewrite.errors import ModelError
    from qrewrite.paths import check_output_dir
    from quantize import OWNER, export_gguf_dir

    try:
        export_gguf_dir(model, check_output_dir(out, OWNER, inputs=[model]))
    except ModelError as err:
        raise CannotRun(str(err)) from None


def has_module(python, module):
    done = subprocess.run([python, "-c", f"import importlib.util as u; exit(u.find_spec('{module}') is None)"],
                          capture_output=True)
    return done.returncode == 0


def ct2_compute_types(backend):
    """The compute types CTranslate2 lists for this CPU with CT2_USE_MKL=backend."""
    code = "import ctranslate2, json; print(json.dumps(sorted(ctranslate2.get_supported_compute_types('cpu'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "CT2_USE_MKL": backend})
    if done.returncode != 0:
        raise CannotRun(last_line(done.stderr))
    return json.loads(done.stdout)


def ctranslate2_candidates(int8_folder):
    """[candidate], [(label, why not)]: every backend x compute type x layout x static prompt."""
    candidates, skipped = [], []
    for backend in CT2_BACKENDS:
        try:
            listed = ct2_compute_types(backend)
        except CannotRun as err:
            skipped.append((f"CTranslate2, CT2_USE_MKL={backend}", str(err)))
            continue
        for compute_type in CT2_COMPUTE_TYPES:
            if compute_type not in listed:
                skipped.append((f"CTranslate2 {compute_type}, CT2_USE_MKL={backend}",
                                f"get_supported_compute_types('cpu') lists only {', '.join(listed)}"))
                continue
            for workers, each in CT2_LAYOUTS:
                for static in (True, False):
                    candidates.append({
                        "label": f"CTranslate2 {compute_type}, CT2_USE_MKL={backend}, {workers} worker(s) x {each} "
                                 f"thread(s), static prompt {'on' if static else 'off'}",
                        "kind": "ctranslate2", "python": sys.executable, "folder": str(int8_folder),
                        "compute_type": compute_type, "workers": workers, "static_prompt": static,
                        "env": {"CT2_USE_MKL": backend, "CT2_VERBOSE": "1"}, "size_mb": size_mb(int8_folder, "*.bin")})
    return candidates, skipped


def converted_candidates(model, batch):
    """[candidate], [(label, why not)]: the openvino and onnx engines on quantize.py's folders beside --model."""
    from qrewrite.engines import CONVERTED

    engines = {  # kind: label, weight files
        "openvino": (f"OpenVINO GenAI ContinuousBatchingPipeline ({PROJECT_OPENVINO}), int8 weights, {batch} at a "
                     "time", "openvino_model.*"),
        "onnx": (f"ONNX Runtime GenAI ({PROJECT_ONNX}), int8 weights (MatMulNBits), one question at a time",
                 "model.onnx*")}
    candidates, skipped = [], []
    for kind, (label, pattern) in engines.items():
        holds, beside, command, module = CONVERTED[kind]
        folder = beside(model)
        why = (f"{module} is not installed in this venv; pip install -e \".[{kind}]\""
               if not has_module(sys.executable, module) else None if holds(folder)
               else f"no {kind} model in {folder}; run `{command.format(model)}`")
        if why:
            skipped.append((label, why))
        else:
            candidates.append({"label": label, "kind": kind, "python": sys.executable, "folder": str(folder),
                               "env": {}, "size_mb": size_mb(folder, pattern)})
    return candidates, skipped


def once(make):
    """make(), called the first time only; later calls give its result, or raise its CannotRun, again."""
    outcome = []

    def get():
        if not outcome:
            try:
                outcome.append(make())
            except CannotRun as err:
                outcome.append(err)
        if isinstance(outcome[0], CannotRun):
            raise outcome[0]
        return outcome[0]
    return get


def peer_candidates(args):
    """[candidate], [(label, why not)] for the peers: each needs its package in its venv and its converted model."""
    python, models = args.peers_python, args.peer_models
    gguf = once(lambda: converted(models / "gguf", "model-q8_0.gguf", lambda out: export_gguf(args.model, out)))
    peers = [  # label, kind, its python, the module it needs, its model folder, its weight files
        (f"llama.cpp GGUF Q8_0, up to {args.batch} sequences a llama_decode", "llama_cpp", python, "llama_cpp", gguf,
         "*.gguf")]
    candidates, skipped = [], []
    for label, kind, peer_python, module, folder_of, pattern in peers:
        try:
            if not peer_python:
                raise CannotRun("no --peers-python given (the venv the peers are installed in)")
            if not has_module(peer_python, module):
                raise CannotRun(f"{module} is not installed in {peer_python}")
            folder = folder_of()
        except CannotRun as err:
            skipped.append((label, str(err)))
            continue
        candidates.append({"label": label, "kind": kind, "python": peer_python, "folder": str(folder),
                           "env": {}, "size_mb": size_mb(folder, pattern)})
    return candidates, skipped


def run_worker(module, spec, folder, python=sys.executable, env=None):
    """Runs `python -m module spec.json` from REPO; its result, and its output (stdout and stderr)."""
    spec_file, result_file, log_file = (Path(folder) / f"{name}.json" for name in ("spec", "result", "log"))
    spec_file.write_text(json.dumps({**spec, "result": str(result_file)}), encoding="utf-8")
    result_file.unlink(missing_ok=True)
    with open(log_file, "w+", encoding="utf-8", errors="replace") as log:
        try:
            done = subprocess.run([python, "-m", module, str(spec_file)], cwd=REPO, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=WORKER_TIMEOUT_S, env={**os.environ, **(env or {})})
        except subprocess.TimeoutExpired:
            raise CannotRun(f"did not finish in {WORKER_TIMEOUT_S} s") from None
        log.seek(0)
        output = log.read()
    if done.returncode != 0 or not result_file.is_file():
        raise CannotRun(f"exited {done.returncode}: {last_line(output)}")
    return json.loads(result_file.read_text(encoding="utf-8")), output


def run_candidate(candidate, job_file, folder):
    """Runs one worker; its result, and the lines CTranslate2 logged about its backend (CT2_VERBOSE)."""
    result, output = run_worker(WORKER_MODULE, {**candidate, "job": str(job_file)}, folder, candidate["python"],
                                candidate["env"])
    backend = sorted({line.split("]")[-1].strip() for line in output.splitlines()
                      if "[ctranslate2]" in line and re.search(r"ISA|MKL|backend|CPU", line)})
    return result, backend


def measure_ceiling(model, job_file, reference, folder):
    """The ceiling (qrewrite/bench_ceiling.py) for the job and the fp32 reference's new tokens, or why it could not
    be measured."""
    try:
        return run_worker(CEILING_MODULE, {"folder": model, "job": str(job_file),
                                           "new_tokens": new_token_counts(reference)}, folder)[0]
    except CannotRun as err:
        return {"could_not_run": str(err)}


def picked_layout(int8_folder):
    """The int8 engine's layout as the Rewriter opens it here, measured at its first load on this CPU and cached
    (qrewrite/layouts.py): {"workers": N, "threads": M}, or {"could_not_run": why}."""
    code = ("import json, sys; from qrewrite.engines import open_engine; engine = open_engine(sys.argv[1]); "
            "settings = getattr(getattr(engine, 'batched', engine), 'settings', {}); "
            "print(json.dumps({key: settings.get(key) for key in ('workers', 'threads')}))")
    done = subprocess.run([sys.executable, "-c", code, str(int8_folder)], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "OMP_NUM_THREADS": str(THREADS)})
    if done.returncode != 0:
        return {"could_not_run": last_line(done.stderr)}
    return json.loads(done.stdout.strip().splitlines()[-1])


def new_token_counts(outputs):
    """The new tokens of each output as cut: its ids, and its end of turn (decoded too)."""
    return [len(ids) + 1 for ids in outputs]


def figures(candidate, result, job, reference, references, decode):
    """The row of one candidate: its outputs cut as the project's engines cut them, against fp32's."""
    from qrewrite.engines import cut_at_stop
    from qrewrite.metrics import score

    limits = job["max_new_tokens"]
    cut = lambda outputs: [cut_at_stop(ids, job["stop_ids"], limit) for ids, limit in zip(outputs, limits)]
    alone, batched = cut(result["alone"]), cut(result["batched"])
    reference = reference or alone
    same = lambda outputs: round(sum(a == b for a, b in zip(outputs, reference)) / len(reference), 3)
    return {"ms_alone": round(1000 * statistics.median(result["seconds_alone"]), 1),
            "tokens_per_s_batch": round(sum(new_token_counts(batched)) / result["seconds_batched"], 1),
            "same_as_fp32_alone": same(alone), "same_as_fp32_batch": same(batched),
            "bleu_batch": score([decode(ids) for ids in batched], references)["bleu"],
            "size_mb": candidate["size_mb"]}, alone


def parse_args():
    from qrewrite.cli import ArgumentParser, positive_int
    from qrewrite.modeling import TRAINED_MODEL

    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(TRAINED_MODEL),
                        help="fp32 model folder (finetune.py's best/); its int8 model is the folder int8/ beside it")
    parser.add_argument("--data", default="dataset/valid.json", help="JSON pairs: the questions and references")
    parser.add_argument("--limit", type=positive_int, default=50, help="questions measured")
    parser.add_argument("--batch", type=positive_int, default=BATCH,
                        help="prompts decoded together for the new tokens/s column (the goal: 16 or more)")
    parser.add_argument("--reports", renamed_from=["--outputs"],
                        help="folder for bench_engines.md and .json (default: outputs/<run>)")
    parser.add_argument("--peers-python", help="python of the venv the peers are installed in (not the project's)")
    parser.add_argument("--only", type=re.compile, metavar="PATTERN",
                        help="measure only the rows whose label matches this regular expression (the fp32 "
                             "reference always runs), e.g. 'MKL=0|OpenVINO'")
    parser.add_argument("--peer-models", type=Path,
                        help="folder for the peers' converted models (default: peers/ beside --model)")
    return parser.parse_args()


def check_inputs(args):
    """The job and the folders, checked before anything is converted or measured."""
    from qrewrite.engines import holds_int8_model
    from qrewrite.errors import ModelError
    from qrewrite.paths import check_reports_dir, int8_dir_for, reports_dir_for

    args.reports = check_reports_dir(args.reports or reports_dir_for(args.model), REPORT_NAMES,
                                     inputs=[args.model, args.data])
    args.model = str(Path(args.model).absolute())  # the workers and converters run in other folders
    args.peer_models = (args.peer_models or Path(args.model).parent / "peers").absolute()
    int8_folder = int8_dir_for(args.model)
    if not holds_int8_model(int8_folder):
        raise ModelError(f"no int8 model in {int8_folder}; run `python quantize.py --model {args.model}`")
    return int8_folder


def main():
    from qrewrite.cli import fail
    from qrewrite.data import write_json_atomic, write_text_atomic
    from qrewrite.errors import DataError, ModelError
    from qrewrite.paths import open_reports_dir

    args = parse_args()
    try:
        job, references, decode = make_job(args.model, args.data, args.limit, args.batch)
        int8_folder = check_inputs(args)
    except (DataError, ModelError) as err:
        fail(err)
    fp32 = {"label": "fp32 transformers (reference)", "kind": "fp32", "python": sys.executable, "folder": args.model,
            "env": {}, "size_mb": size_mb(args.model, "*.safetensors")}
    ct2, ct2_skipped = (a + b for a, b in zip(ctranslate2_candidates(int8_folder),
                                              converted_candidates(args.model, args.batch)))
    peers, peers_skipped = peer_candidates(args)
    if args.only:
        ct2, peers = ([c for c in group if args.only.search(c["label"])] for group in (ct2, peers))
    report = {"cpu": cpu_line(), "date": date.today().isoformat(), "threads": THREADS, "model": args.model,
              "data": args.data, "questions": len(references), "batch": args.batch, "engines": {},
              "could_not_run": dict(ct2_skipped + peers_skipped), "ct2_backends": {}}
    reference = None
    with tempfile.TemporaryDirectory(prefix="bench_engines.") as folder:
        job_file = Path(folder) / "job.json"
        job_file.write_text(json.dumps(job), encoding="utf-8")
        print("measuring the int8 engine's layouts as the Rewriter does at its first load", flush=True)
        report["int8_layout"] = picked_layout(int8_folder)
        for candidate in [fp32, *ct2, *peers]:
            print(f"measuring {candidate['label']}", flush=True)
            try:
                result, backend = run_candidate(candidate, job_file, folder)
            except CannotRun as err:
                if reference is None:
                    fail(f"the fp32 reference could not run: {err}")
                report["could_not_run"][candidate["label"]] = str(err)
                print(f"  could not run: {err}", flush=True)
                continue
            row, alone = figures(candidate, result, job, reference, references, decode)
            if reference is None:
                reference = alone
                print("measuring the ceiling: the matrix multiplies alone", flush=True)
                report["ceiling"] = measure_ceiling(args.model, job_file, reference, folder)
                print(f"  {report['ceiling']}", flush=True)
            report["engines"][candidate["label"]] = row
            if backend:
                report["ct2_backends"][candidate["env"]["CT2_USE_MKL"]] = backend
            print(f"  {row}", flush=True)
    table = markdown(report)
    print("\n" + table, end="")
    open_reports_dir(args.reports)
    write_json_atomic(args.reports / "bench_engines.json", report)
    write_text_atomic(args.reports / "bench_engines.md", table)
    print(f"wrote {args.reports}/bench_engines.md and .json")


if __name__ == "__main__":
    main()
