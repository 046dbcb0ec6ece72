"""bench_engines.py's workers: one engine in a process of its own, timed on a job's prompts.

bench_engines.py runs it with each candidate's python (the project's venv, or the peers' venv, where qrewrite is
found from the repository folder), so only the standard library is imported at the top; each engine's library is
imported where it is opened.

    python -m qrewrite.bench_workers SPEC.json     # SPEC: {"kind", "folder", "job", "result", ...}
"""
import json
import sys
import time
from pathlib import Path

THREADS = 2
BATCH = 16  # new tokens/s is measured with this many prompts decoded together (bench_engines.py --batch)
WARMUP_QUESTIONS = 2  # decoded alone, and one batch decoded together, before anything is timed
LLAMA_CONTEXT_PER_SEQUENCE = 1024  # prompt (at most 256 question tokens + template) + at most 528 new tokens
LLAMA_BATCH_TOKENS = 8192  # most prompt tokens one llama_decode call takes

# Each opener returns generate(prompts, max_new_tokens, stop_ids, batch) -> new token ids for each prompt (the
# driver cuts them at the first stop id and the prompt's bound, as the project's engines do).


def in_groups(prompts, limits, batch):
    for start in range(0, len(prompts), batch):
        yield prompts[start:start + batch], limits[start:start + batch]


def project_engine(engine):
    """An engine behind the project's interface (qrewrite/engines.py), one candidate each."""
    def generate(prompts, limits, stop_ids, batch):
        engine.batch_size = batch
        return [found[0][0] for found in engine.generate(prompts, limits, stop_ids)]
    return generate


def open_fp32(spec):
    import torch

    from qrewrite.engines import TorchEngine

    torch.set_num_threads(THREADS)
    return project_engine(TorchEngine(spec["folder"], device="cpu"))


def open_ctranslate2(spec):
    from qrewrite.engines import CTranslate2Engine

    engine = CTranslate2Engine(spec["folder"], threads=THREADS, inter_threads=spec["workers"],
                               compute_type=spec["compute_type"])
    if not spec["static_prompt"]:
        engine.prompt_prefix = []  # split_static_prompt then gives every prompt whole
    return project_engine(engine)


def open_openvino(spec):
    from qrewrite.openvino_engine import OpenVINOEngine

    return project_engine(OpenVINOEngine(spec["folder"], threads=THREADS))


def open_onnx(spec):
    from qrewrite.onnx_engine import OnnxEngine

    return project_engine(OnnxEngine(spec["folder"], threads=THREADS))


def open_llama_cpp(spec):
    """llama.cpp through llama-cpp-python's low-level API: the prompts of a batch go into one llama_decode call as
    sequences of their own, then one token of every unfinished sequence per call (greedy: the argmax)."""
    import llama_cpp
    import numpy as np
    from llama_cpp import _internals

    gguf_file = next(Path(spec["folder"]).glob("*.gguf"))
    model = _internals.LlamaModel(path_model=str(gguf_file), params=llama_cpp.llama_model_default_params(),
                                  verbose=False)
    params = llama_cpp.llama_context_default_params()
    params.n_ctx, params.n_seq_max = spec["batch"] * LLAMA_CONTEXT_PER_SEQUENCE, spec["batch"]
    params.n_batch, params.n_ubatch = LLAMA_BATCH_TOKENS, 512
    params.n_threads = params.n_threads_batch = THREADS
    context = _internals.LlamaContext(model=model, params=params, verbose=False)
    tokens = _internals.LlamaBatch(n_tokens=LLAMA_BATCH_TOKENS, embd=0, n_seq_max=1, verbose=False)
    n_vocab = model.n_vocab()

    def add_token(token, position, sequence):
        batch, i = tokens.batch, tokens.batch.n_tokens
        batch.token[i], batch.pos[i], batch.seq_id[i][0], batch.n_seq_id[i], batch.logits[i] = (
            token, position, sequence, 1, True)
        batch.n_tokens += 1
        return i

    def decode_group(group, limits, stop_ids):
        if sum(map(len, group)) > LLAMA_BATCH_TOKENS:
            raise ValueError(f"{sum(map(len, group))} prompt tokens in one batch; raise LLAMA_BATCH_TOKENS")
        context.kv_cache_clear()
        tokens.reset()
        rows, ends = {}, 0
        for sequence, prompt in enumerate(group):
            tokens.add_sequence(prompt, sequence, False)  # logits at its last token only
            ends += len(prompt)
            rows[sequence] = ends - 1
        context.decode(tokens)
        new = [[] for _ in group]
        while rows:
            picks = {s: int(np.ctypeslib.as_array(context.get_logits_ith(row), shape=(n_vocab,)).argmax())
                     for s, row in rows.items()}
            tokens.reset()
            rows = {}
            for s, token in picks.items():
                new[s].append(token)
                if token not in stop_ids and len(new[s]) < limits[s]:
                    rows[s] = add_token(token, len(group[s]) + len(new[s]) - 1, s)
            if rows:
                context.decode(tokens)
        return new

    def generate(prompts, limits, stop_ids, batch):
        return [ids for group, group_limits in in_groups(prompts, limits, batch)
                for ids in decode_group(group, group_limits, stop_ids)]
    return generate


OPENERS = {"fp32": open_fp32, "ctranslate2": open_ctranslate2, "openvino": open_openvino,
           "onnx": open_onnx, "llama_cpp": open_llama_cpp}


def measure(generate, job):
    """Each prompt alone (batch 1, timed one by one), then all of them the job's batch at a time (timed as a
    whole)."""
    prompts, limits, stop_ids, batch = job["prompts"], job["max_new_tokens"], job["stop_ids"], job["batch"]
    generate(prompts[:WARMUP_QUESTIONS], limits[:WARMUP_QUESTIONS], stop_ids, 1)
    generate(prompts[:batch], limits[:batch], stop_ids, batch)
    alone, seconds = [], []
    for prompt, limit in zip(prompts, limits):
        start = time.perf_counter()
        alone += generate([prompt], [limit], stop_ids, 1)
        seconds.append(time.perf_counter() - start)
    start = time.perf_counter()
    batched = generate(prompts, limits, stop_ids, batch)
    return {"seconds_alone": seconds, "seconds_batched": time.perf_counter() - start,
            "alone": [list(map(int, ids)) for ids in alone], "batched": [list(map(int, ids)) for ids in batched]}


def run_worker(spec_file):
    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    job = json.loads(Path(spec["job"]).read_text(encoding="utf-8"))
    result = measure(OPENERS[spec["kind"]]({**spec, "batch": job["batch"]}), job)
    Path(spec["result"]).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    run_worker(sys.argv[1])
