"""Step 4: int8 model for fast CPU inference, with its size, speed and quality measured.

Smooths the activations on a few training pairs (qrewrite/smoothing.py: exact in float, it moves
large activation channels into the weights), then converts the model with CTranslate2 (int8 weights,
one scale per row; activations int8 per token at run time) into weights/<run>/int8;
CTranslate2's C++ generator decodes a whole batch at once, greedy or with beam search
(qrewrite/engines.py). Any architecture CTranslate2's converter knows is supported (Llama and
Qwen2 are tested; smoothing applies to Llama, Qwen2 and Mistral layers, others convert as they are).
--gguf also writes weights/<run>/gguf/model-q8_0.gguf for llama.cpp and Ollama (Llama-architecture
models with SmolLM2's tokenizer, such as the embedded default and its fine-tunes). --openvino also writes
weights/<run>/openvino/, an OpenVINO model with int8 weights for the openvino engine (the `openvino` extra;
qrewrite/openvino_export.py), and measures it beside the others; --onnx writes weights/<run>/onnx/ for the onnx
engine (ONNX Runtime GenAI, the `onnx` extra), which --backend auto uses for one question alone on AMD CPUs.

Then measures, on the same validation questions: fp32 (transformers), the int8 engine, the same
engine on the model converted without smoothing, and, when llama-cpp-python is installed (the
`llama` extra), GGUF Q8_0 through llama.cpp one question at a time: size on disk, latency of one
question alone, new tokens/s at batch 1, 4, 16 and 64, valid BLEU and the share of greedy outputs
identical to fp32's; prints a table and writes <reports>/quantize.json (outputs/<run> by default).

    python quantize.py                                   # weights/full/best -> weights/full/int8
    python quantize.py --model weights/lora/best --out weights/lora/int8
    python quantize.py --skip-benchmark --gguf           # convert only, and write the GGUF file too
    python quantize.py --calibration my_train.json       # smooth on your own training pairs
    python quantize.py --skip-benchmark --openvino --onnx  # also weights/full/openvino and weights/full/onnx
    python infer.py --model weights/full/int8 "waht is teh capital of frnace"
"""
import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

import torch

from qrewrite import cpu
from qrewrite.cli import ArgumentParser, fail, positive_int
from qrewrite.data import load_pairs, write_json_atomic
from qrewrite.engines import CONVERTED, TorchEngine, int8_dir_for, load_tokenizer, open_engine
from qrewrite.errors import DataError, ModelError
from qrewrite.gguf_export import GGUF_NAME, export_gguf_q8_0
from qrewrite.metrics import score
from qrewrite.modeling import TRAINED_MODEL, load_model, resolve_model
from qrewrite.onnx_export import MODEL_DATA, MODEL_ONNX
from qrewrite.openvino_export import MODEL_BIN, MODEL_XML
from qrewrite.paths import (
    check_output_dir,
    check_reports_dir,
    discard,
    open_reports_dir,
    openvino_dir_for,
    replace_dir,
    reports_dir_for,
    staging_dir,
    weights_digest,
)
from qrewrite.prompt import training_example
from qrewrite.rewriter import Rewriter
from qrewrite.smoothing import smooth

OWNER = "quantize.py"
BATCH_SIZES = (4, 16, 64)  # new tokens/s is measured at batch 1 and at each of these


def quantize(model_dir, out_dir, calibration=None):
    """model_dir (safetensors) -> out_dir: a CTranslate2 int8 model plus the tokenizer files, swapped in whole.
    out_dir must be new, empty or an earlier output of quantize.py (check_output_dir). calibration: token id
    lists to smooth the activations on first (qrewrite/smoothing.py); None converts the model as it is.
    Returns whether it was smoothed."""
    from ctranslate2.converters import TransformersConverter

    source = resolve_model(model_dir)
    out_dir = check_output_dir(out_dir, OWNER, inputs=[model_dir])
    staged = staging_dir(out_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="smoothed.") as smoothed_dir:
            smoothed = False
            if calibration:
                model, tokenizer = load_model(model_dir, device="cpu", dtype=torch.float32)
                if smoothed := smooth(model, calibration):
                    model.save_pretrained(smoothed_dir)
                    tokenizer.save_pretrained(smoothed_dir)  # the converter reads the vocabulary from here
                    source = smoothed_dir
            TransformersConverter(source).convert(str(staged), quantization="int8", force=True)
            load_tokenizer(source).save_pretrained(staged)
        replace_dir(staged, out_dir, OWNER, hashed=["model.bin"], about={"converted_from": weights_digest(model_dir)})
    except (ValueError, NotImplementedError) as err:
        discard(staged)
        raise ModelError(f"{model_dir}: CTranslate2 cannot convert this model ({err})") from None
    except BaseException:
        discard(staged)
        raise
    return smoothed


def calibration_examples(path, count, tokenizer):
    """Token ids (prompt and rewrite, as in training) of the first `count` pairs of a JSON file of pairs."""
    return [training_example(tokenizer, pair)["input_ids"] for pair in load_pairs(path)[:count]]


def export_gguf_dir(model_dir, out_dir):
    """out_dir: the GGUF Q8_0 model with the tokenizer files beside it, swapped in whole (check_output_dir first)."""
    model, tokenizer = load_model(model_dir, device="cpu", dtype=torch.float32)
    staged = staging_dir(out_dir)
    try:
        tokenizer.save_pretrained(staged)
        export_gguf_q8_0(model, tokenizer, staged / GGUF_NAME)
        replace_dir(staged, out_dir, OWNER, hashed=[GGUF_NAME])
    except BaseException:
        discard(staged)
        raise
    return Path(out_dir)


# --openvino and --onnx: the packages each conversion needs (the extra of the same name), its weight files
CONVERTERS = {"openvino": (("openvino", "openvino_genai", "nncf"), (MODEL_XML, MODEL_BIN)),
              "onnx": (("onnxruntime_genai", "onnx", "onnx_ir"), (MODEL_ONNX, MODEL_DATA))}


def export_converted_dir(kind, model_dir, out_dir):
    """out_dir: the `kind` model ("openvino": OpenVINO, int8 weights; "onnx": ONNX Runtime GenAI, int8 weights), its
    configs and tokenizer files, swapped in whole (check_output_dir first), marked with the weights it came from."""
    if kind == "openvino":
        from qrewrite.openvino_export import export_openvino as export
    else:
        from qrewrite.onnx_export import export_onnx as export
    staged = staging_dir(out_dir)
    try:
        export(model_dir, staged)
        replace_dir(staged, out_dir, OWNER, hashed=CONVERTERS[kind][1],
                    about={"converted_from": weights_digest(model_dir)})
    except BaseException:
        discard(staged)
        raise
    return Path(out_dir)


def check_installed(kind):
    for module in CONVERTERS[kind][0]:
        if importlib.util.find_spec(module) is None:
            raise ModelError(f"--{kind}: needs the {module} package; pip install -e \".[{kind}]\" (or drop --{kind})")


def gguf_dir_for(model_dir):
    """Where --gguf writes: weights/full/best -> weights/full/gguf."""
    return Path(model_dir).parent / "gguf"


class SequentialLlamaCpp:
    """GGUF Q8_0 through llama-cpp-python's Llama.generate, one question at a time, whatever the batch size:
    the comparison row for users of llama.cpp (installed with the `llama` extra)."""

    name = "int8"
    beam_search = False
    one_at_a_time = True

    def __init__(self, folder, batch_size=1):
        from llama_cpp import Llama

        self.batch_size = batch_size
        self.tokenizer = load_tokenizer(folder)
        self.llama = Llama(model_path=str(Path(folder) / GGUF_NAME), n_ctx=1024, n_batch=1024,
                           n_threads=torch.get_num_threads(), verbose=False)

    def generate(self, prompts, max_new_tokens, stop_ids, beams=1, progress=None):
        results = []
        for ids, limit in zip(prompts, max_new_tokens):
            new = []
            for token in self.llama.generate(ids, temp=0.0, top_k=1, reset=True):
                if token in stop_ids or len(new) >= limit:
                    break
                new.append(token)
            results.append([(new, 0.0)])
        return results


def folder_size_mb(path, pattern):
    return round(sum(f.stat().st_size for f in Path(path).glob(pattern)) / 2**20, 1)


def measure(rewriter, questions, references, batch_sizes, latency_questions):
    """Latency of one question alone, new tokens/s at each batch size (the generation only: prompt building and
    the engine, not the safety net, which is the same for every engine), valid BLEU of the rewrites as infer.py
    gives them (safety net included), and the raw greedy outputs of the largest batch."""
    result = {}
    count_tokens = lambda texts: sum(len(rewriter.tokenizer(t).input_ids) + 1 for t in texts)  # +1: end of turn
    rewriter.batch_size = 1
    rewriter.generate(questions[:2])  # warm-up
    start = time.perf_counter()
    outputs = [rewriter.generate([question])[0] for question in questions[:latency_questions]]  # the next after
    elapsed = time.perf_counter() - start
    result["latency_ms_batch1"] = round(1000 * elapsed / latency_questions, 1)
    result["tokens_per_s_batch1"] = round(count_tokens(outputs) / elapsed, 1)
    one_at_a_time = getattr(rewriter.engine, "one_at_a_time", False)  # the same at any batch size: timed once
    for batch_size in batch_sizes[-1:] if one_at_a_time else batch_sizes:
        rewriter.batch_size = batch_size
        start = time.perf_counter()
        outputs = rewriter.generate(questions)
        result[f"tokens_per_s_batch{batch_size}"] = round(count_tokens(outputs) / (time.perf_counter() - start), 1)
    for batch_size in batch_sizes:
        result.setdefault(f"tokens_per_s_batch{batch_size}", result[f"tokens_per_s_batch{batch_sizes[-1]}"])
    result["valid_bleu"] = score(rewriter.rewrite(questions), references)["bleu"]
    return result, outputs


def engines_to_measure(model_dir, int8_dir, smoothed, compared_dir, openvino_dir=None):
    """{label: (a function that opens the engine, its size on disk in MB)}: fp32, the int8 engine, the same
    engine on the model converted without smoothing, llama.cpp (where it is installed and applies), and the
    openvino engine (with --openvino)."""
    threads = torch.get_num_threads()
    engines = {"fp32 transformers": (lambda: TorchEngine(model_dir, device="cpu"),
                                     folder_size_mb(resolve_model(model_dir), "*.safetensors"))}
    if importlib.util.find_spec("llama_cpp") is None:
        print("no llama.cpp comparison: llama-cpp-python is not installed (pip install -e \".[llama]\")")
    else:
        try:
            gguf_dir = export_gguf_dir(model_dir, Path(compared_dir) / "gguf")
            engines["int8 llama.cpp GGUF Q8_0, one at a time"] = (lambda: SequentialLlamaCpp(gguf_dir),
                                                                  folder_size_mb(gguf_dir, "*.gguf"))
        except ModelError as err:
            print(f"no llama.cpp comparison: {err}")
    if smoothed:
        plain_dir = Path(compared_dir) / "plain"
        quantize(model_dir, plain_dir)
        engines.update([int8_row(plain_dir, "not smoothed")])
    if openvino_dir:
        from qrewrite.openvino_engine import OpenVINOEngine

        engines[f"int8 OpenVINO GenAI, {threads} threads"] = (lambda: OpenVINOEngine(openvino_dir),
                                                             folder_size_mb(openvino_dir, "openvino_model.*"))
    label, row = int8_row(int8_dir, "smoothed" if smoothed else "not smoothed")
    engines[f"{label} (this model)"] = row
    return engines


def int8_row(folder, name):
    """(label, (opener, size in MB)) of an int8 folder's row, the engine opened now: its label names the thread
    layout measured fastest on this CPU at that first load (qrewrite/layouts.py), as every script opens it."""
    engine = open_engine(folder, backend="int8")
    layout = f"{engine.settings['workers']} worker(s) x {engine.settings['threads']} thread(s)"
    return f"int8 CTranslate2, {name}, {layout}", (lambda: engine, folder_size_mb(folder, "*.bin"))


def main():
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=TRAINED_MODEL, help="fp32 model folder from finetune.py")
    parser.add_argument("--out", help="int8 model folder (default: <model>/../int8)")
    parser.add_argument("--calibration", default="dataset/train.json",
                        help="pairs (the model's training data) whose activations set the smoothing")
    parser.add_argument("--calibration-size", type=positive_int, default=256, help="calibration pairs used")
    parser.add_argument("--no-smoothing", action="store_true", help="convert without smoothing the activations")
    parser.add_argument("--gguf", action="store_true",
                        help="also write weights/<run>/gguf/model-q8_0.gguf for llama.cpp and Ollama")
    parser.add_argument("--openvino", action="store_true",
                        help="also write weights/<run>/openvino/ (OpenVINO, int8 weights) for the openvino engine "
                             "(--backend openvino; needs the openvino extra)")
    parser.add_argument("--onnx", action="store_true",
                        help="also write weights/<run>/onnx/ (ONNX Runtime GenAI, int8 weights) for the onnx engine, "
                             "the fastest for one question alone on AMD CPUs (needs the onnx extra)")
    parser.add_argument("--data", default="dataset/valid.json", renamed_from=["--valid"],
                        help="the pairs in: JSON pairs for the quality and speed figures")
    parser.add_argument("--limit", type=positive_int, default=200, help="validation pairs to measure on")
    parser.add_argument("--latency-questions", type=positive_int, default=32, help="questions timed one at a time")
    parser.add_argument("--reports", renamed_from=["--outputs"],
                        help="folder for quantize.json (default: outputs/<run>)")
    parser.add_argument("--skip-benchmark", action="store_true", help="convert only")
    args = parser.parse_args()

    out_dir = Path(args.out) if args.out else int8_dir_for(args.model)
    args.reports = Path(args.reports or reports_dir_for(args.model))
    try:
        check_output_dir(out_dir, OWNER, inputs=[args.model, args.data, args.calibration])
        if args.gguf:
            check_output_dir(gguf_dir_for(args.model), OWNER, inputs=[args.model, out_dir])
        for kind in converted_kinds(args):
            check_installed(kind)
            check_output_dir(converted_dir_for(kind, args.model), OWNER, inputs=[args.model, out_dir], flag=f"--{kind}")
        pairs = []
        if not args.skip_benchmark:
            pairs = load_pairs(args.data)[:args.limit]
            check_reports_dir(args.reports, ["quantize.json"], inputs=[args.model, args.data, out_dir])
        calibration = None
        if not args.no_smoothing:
            calibration = calibration_examples(args.calibration, args.calibration_size,
                                               load_tokenizer(resolve_model(args.model)))
        start = time.perf_counter()
        smoothed = quantize(args.model, out_dir, calibration)
    except (DataError, ModelError) as err:
        fail(err)
    how = "smoothed on {} pairs of {}".format(len(calibration), args.calibration) if smoothed else "not smoothed"
    print(f"wrote {out_dir / 'model.bin'} ({how}) in {time.perf_counter() - start:.0f} s")
    if args.gguf:
        try:
            gguf_dir = export_gguf_dir(args.model, gguf_dir_for(args.model))
        except ModelError as err:
            fail(err)
        print(f"wrote {gguf_dir / GGUF_NAME} (llama.cpp: llama-cli -m {gguf_dir / GGUF_NAME})")
    for kind in converted_kinds(args):
        start = time.perf_counter()
        try:
            folder = export_converted_dir(kind, args.model, converted_dir_for(kind, args.model))
        except ModelError as err:
            fail(err)
        print(f"wrote {folder} ({kind}, int8 weights) in {time.perf_counter() - start:.0f} s (--backend {kind})")
    if not args.skip_benchmark:
        benchmark(args, out_dir, pairs, smoothed, openvino_dir_for(args.model) if args.openvino else None)


def converted_kinds(args):
    return [kind for kind in CONVERTERS if getattr(args, kind)]


def converted_dir_for(kind, model_dir):
    return CONVERTED[kind][1](model_dir)  # openvino_dir_for, onnx_dir_for


def benchmark(args, out_dir, pairs, smoothed, openvino_dir=None):
    """Every engine on the same questions; prints a table and writes outputs/quantize.json."""
    questions, references = [p["input"] for p in pairs], [p["output"] for p in pairs]
    report = {"cpu": cpu.cpu_line(), "model": args.model, "int8_model": str(out_dir), "smoothed": smoothed,
              "valid": args.data, "examples": len(pairs), "threads": torch.get_num_threads(),
              "batch_sizes": [1, *BATCH_SIZES], "engines": {}}
    with tempfile.TemporaryDirectory() as compared_dir:
        fp32_outputs = None
        for label, (open_engine, size_mb) in engines_to_measure(args.model, out_dir, smoothed, compared_dir,
                                                                           openvino_dir).items():
            print(f"measuring {label} on {len(questions)} questions", flush=True)
            # greedy only (no second search of refused outputs): the engines' own speed and drift
            rewriter = Rewriter(args.model, engine=open_engine(), retry_beams=1)
            figures, outputs = measure(rewriter, questions, references, BATCH_SIZES,
                                       min(args.latency_questions, len(questions)))
            fp32_outputs = fp32_outputs or outputs
            figures["same_as_fp32"] = round(sum(a == b for a, b in zip(outputs, fp32_outputs)) / len(outputs), 3)
            figures["size_mb"] = size_mb
            report["engines"][label] = figures
            print(f"  {figures}", flush=True)
    write_json_atomic(open_reports_dir(args.reports) / "quantize.json", report)
    print_table(report)
    print(f"wrote {args.reports}/quantize.json")


def print_table(report):
    batch_sizes = report["batch_sizes"]
    print(f"\nCPU: {report['cpu']}; {report['examples']} valid questions, {report['threads']} threads")
    print("| engine | size MB | ms/question, batch 1 | " + " | ".join(f"tok/s batch {b}" for b in batch_sizes)
          + " | valid BLEU | greedy output = fp32 |")
    print("|---" * (len(batch_sizes) + 5) + "|")
    for label, m in report["engines"].items():
        print(f"| {label} | {m['size_mb']} | {m['latency_ms_batch1']} | "
              + " | ".join(str(m[f"tokens_per_s_batch{b}"]) for b in batch_sizes)
              + f" | {m['valid_bleu']:.2f} | {m['same_as_fp32']:.1%} |")


if __name__ == "__main__":
    main()
