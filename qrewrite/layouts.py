"""The int8 engine's thread layout (workers x threads a worker), measured once on the CPU it runs on and cached
beside the int8 model.

Which layout is faster is not a property of the CPU's vendor or family: on two AMD EPYC Zen 3 machines of the same
model, one question alone ran fastest in opposite layouts (docs/results.md). So the first load on a CPU times each
candidate layout on a fixed job (about 15 s for the 135M model on 2 cores) and keeps the result in
<int8 folder>/engine_layouts.json, keyed by the CPU, the thread count, the backend and compute type and
CTranslate2's version; a later load on the same CPU reads it. The job: one question alone, then a batch of 16; a
layout's cost is the time of both (or of the batch alone where a lone question goes to another engine:
engines.SplitByBatch). `--engine-settings workers=N,threads=M` skips the measurement.
"""
import json
import sys
import time
from pathlib import Path

from qrewrite import cpu
from qrewrite.data import write_json_atomic
from qrewrite.paths import link_or_other
from qrewrite.prompt import max_new_tokens_for, plain_token_ids, prompt_token_ids, stop_token_ids

CACHE_NAME = "engine_layouts.json"
BATCH = 16
REPEATS = 2  # each timing is the best of this many runs, after one warm-up run
JOB = [  # typed the way people type; fixed, so that every layout and every CPU runs the same job
    "hey so um waht is teh capital of frnace? thx",
    "how do i chnage my email adress on the app",
    "my internet is super slow only in the evenings, why would that happen",
    "whats the diffrence between a crocodile and an aligator",
    "can u recomend a good book for learning python, im a total beginner",
    "how many eggs can i eat a week",
    "why does my bread not rise, i followed the recipe exactly",
    "is it safe to leave my laptop charging overnight?",
]


def candidates(cores):
    """(workers, threads a worker) layouts that use every thread: each divisor of `cores` as the worker count, at
    most four of them (the two ends and the middle ones)."""
    workers = [w for w in range(1, cores + 1) if cores % w == 0]
    if len(workers) > 4:
        workers = [workers[0], workers[len(workers) // 3], workers[2 * len(workers) // 3], workers[-1]]
    return [(w, cores // w) for w in sorted(set(workers), reverse=True)]


def cache_key(settings, cores):
    import ctranslate2

    return (f"{cpu.cpu_line()}; {cores} threads; backend {settings['backend'] or 'default'}; "
            f"{settings['compute_type']}; ctranslate2 {ctranslate2.__version__}")


def job_prompts(tokenizer):
    """The job's prompts (the questions as plain text, as the Rewriter builds them) and their bounds."""
    ids = [plain_token_ids(tokenizer, question) for question in JOB]
    return [prompt_token_ids(tokenizer, q) for q in ids], [max_new_tokens_for(len(q)) + 1 for q in ids]


def best_time(run):
    run()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return round(min(times), 4)


def measure(engine):
    """{"alone_s": one question alone, "batch_s": a batch of BATCH questions} on an opened engine."""
    prompts, bounds = job_prompts(engine.tokenizer)
    stop_ids = stop_token_ids(engine.tokenizer)
    batch = [(prompts * BATCH)[:BATCH], (bounds * BATCH)[:BATCH]]
    return {"alone_s": best_time(lambda: engine.generate(prompts[:1], bounds[:1], stop_ids)),
            "batch_s": best_time(lambda: engine.generate(*batch, stop_ids))}


def cost(timing, batches_only):
    return timing["batch_s"] if batches_only else timing["alone_s"] + timing["batch_s"]


def pick(timings, batches_only=False):
    """The (workers, threads) of the cheapest layout in {"WxT": timing}."""
    label = min(timings, key=lambda name: cost(timings[name], batches_only))
    return tuple(int(n) for n in label.split("x"))


def read_cache(path, key):
    """The cached timings for `key`, or None (no file, another CPU, or not ours to read: a link, bad JSON)."""
    if path.is_symlink() or not path.is_file():
        return None
    try:
        timings = json.loads(path.read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    valid = isinstance(timings, dict) and timings and all(
        isinstance(t, dict) and {"alone_s", "batch_s"} <= t.keys() for t in timings.values())
    return timings if valid else None


def write_cache(path, key, timings):
    """Adds `key`'s timings to the cache; returns why not where it cannot (a read-only folder, a link)."""
    if link_or_other(path):
        return f"{path} is not a regular file"
    try:
        cached = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        cached = {}
    cached = cached if isinstance(cached, dict) else {}
    try:
        write_json_atomic(path, {**cached, key: timings})
    except OSError as err:
        return f"{path} cannot be written ({err.strerror or err})"
    return None


def layout_for(folder, settings, cores, open_layout, batches_only=False):
    """(workers, threads, why) for the int8 model in `folder`: from the cache, else measured now with
    open_layout(workers, threads) -> engine for each candidate, and cached."""
    path = Path(folder) / CACHE_NAME
    key = cache_key(settings, cores)
    timings = read_cache(path, key)
    if timings is None:
        print(f"measuring the int8 engine's thread layouts on this CPU, once: {len(candidates(cores))} layouts, each "
              f"a question alone and a batch of {BATCH}", file=sys.stderr)
        timings = {f"{w}x{t}": measure(open_layout(w, t)) for w, t in candidates(cores)}
        not_cached = write_cache(path, key, timings)
        summary = "; ".join(f"{name}: {t['alone_s'] * 1000:.0f} ms alone, {t['batch_s']:.2f} s for {BATCH}"
                            for name, t in timings.items())
        print(f"  {summary}" + (f" (not cached: {not_cached})" if not_cached else f" (cached in {path})"),
              file=sys.stderr)
    workers, threads = pick(timings, batches_only)
    regime = "a batch of 16" if batches_only else "one question alone plus a batch of 16"
    return workers, threads, f"measured fastest here for {regime}, {path.name}"
