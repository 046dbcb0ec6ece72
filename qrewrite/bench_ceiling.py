"""The ceiling bench_engines.py prints under its rows: this CPU's time for the model's matrix multiplies alone, on
torch's int8 kernels (weights and activations in int8, as CTranslate2's int8 engine runs them), for the job's own
prompts and the fp32 reference's own new tokens, each prompt's shared prefix computed once (a static prompt), the
output layer at the last position only. No attention, no norms, no sampling, no copies: an engine running these
kernels cannot beat it, so a goal above it is out of reach on this CPU at this batch.

    python -m qrewrite.bench_ceiling SPEC.json   # SPEC: {"folder", "job", "new_tokens", "result"}

Only the standard library at the top, as in bench_workers.py.
"""
import json
import statistics
import sys
import time
from pathlib import Path

REPEATS = 3  # timings of each row count M, after one untimed; the median is kept


def layer_shapes(config):
    """(in, out) of every linear layer of one transformer block, and of the output layer, from config.json
    (Llama, SmolLM2, Qwen2: q, k, v, o, gate, up, down)."""
    hidden, inner = config["hidden_size"], config["intermediate_size"]
    head_dim = config.get("head_dim") or hidden // config["num_attention_heads"]
    kv = config.get("num_key_value_heads", config["num_attention_heads"]) * head_dim
    block = [(hidden, hidden), (hidden, kv), (hidden, kv), (hidden, hidden), (hidden, inner), (hidden, inner),
             (inner, hidden)]
    return block * config["num_hidden_layers"], (hidden, config["vocab_size"])


def passes(prompt_lengths, new_tokens, prefix, batch):
    """The forward passes of decoding the prompts `batch` at a time, as (rows through the blocks, rows through the
    output layer): one pass for each group's prompts (their tokens after the shared prefix; logits at each prompt's
    last token), then one pass a step for the sequences still running (a sequence of n new tokens needs n - 1)."""
    for start in range(0, len(prompt_lengths), batch):
        lengths, news = prompt_lengths[start:start + batch], new_tokens[start:start + batch]
        yield sum(length - prefix for length in lengths), len(lengths)
        for step in range(1, max(news)):
            running = sum(n > step for n in news)
            yield running, running


def seconds(schedule, time_rows):
    """The time of a schedule of passes, from time_rows(kind, rows) for kind "blocks" or "output"."""
    return sum(time_rows("blocks", rows) + time_rows("output", out_rows) for rows, out_rows in schedule)


def int8_timer(config, threads):
    """time_rows(kind, rows): the median time of the blocks' (or the output layer's) linear layers on `rows` rows,
    int8 weights and dynamically quantized int8 activations; each (kind, rows) timed once and remembered."""
    import torch

    torch.set_num_threads(threads)
    block, output = layer_shapes(config)
    quantize = lambda shape: torch.ao.quantization.quantize_dynamic(
        torch.nn.Sequential(torch.nn.Linear(*shape, bias=False)), {torch.nn.Linear}, dtype=torch.qint8)[0]
    layers = {"blocks": [quantize(shape) for shape in block], "output": [quantize(output)]}
    known = {}

    @torch.inference_mode()
    def time_rows(kind, rows):
        if (kind, rows) not in known:
            inputs = [torch.randn(rows, layer.in_features) for layer in layers[kind]]
            times = []
            for _ in range(REPEATS + 1):
                start = time.perf_counter()
                for layer, x in zip(layers[kind], inputs):
                    layer(x)
                times.append(time.perf_counter() - start)
            known[kind, rows] = statistics.median(times[1:])
        return known[kind, rows]
    return time_rows


def ceiling(prompt_lengths, new_tokens, prefix, batch, time_rows):
    """{"ms_alone": median over prompts, each alone; "tokens_per_s_batch": all of them `batch` at a time}."""
    alone = [seconds(passes([length], [n], prefix, 1), time_rows) for length, n in zip(prompt_lengths, new_tokens)]
    batched = seconds(passes(prompt_lengths, new_tokens, prefix, batch), time_rows)
    return {"ms_alone": round(1000 * statistics.median(alone), 1),
            "tokens_per_s_batch": round(sum(new_tokens) / batched, 1)}


def run(spec_file):
    from qrewrite.bench_workers import THREADS

    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    job = json.loads(Path(spec["job"]).read_text(encoding="utf-8"))
    config = json.loads((Path(spec["folder"]) / "config.json").read_text(encoding="utf-8"))
    result = ceiling([len(p) for p in job["prompts"]], spec["new_tokens"], job["prefix"], job["batch"],
                     int8_timer(config, THREADS))
    Path(spec["result"]).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    run(sys.argv[1])
