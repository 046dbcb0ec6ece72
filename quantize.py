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
qrewrite/openvino_export.py), and measures it beside the others.

Then measures, on the same validation questions: fp32 (transformers), the int8 engine, the same
engine on the model converted without smoothing, and, when llama-cpp-python is installed (the
`llama` extra), GGUF Q8_0 through llama.cpp one question at a time: size on disk, latency of one
question alone, new tokens/s at batch 1, 4, 16 and 64, valid BLEU and the share of greedy outputs
identical to fp32's; prints a table and writes <reports>/quantize.json (outputs/<run> by default).

    python quantize.py                                   # weights/full/best -> weights/full/int8
    python quantize.py --model weights/lora/best --out weights/lora/int8
    python quantize.py --skip-benchmark --gguf           # convert only, and write the GGUF file too
    python quantize.py --calibration my_train.json       # smooth on your own training pairs
    python quantize.py --skip-benchmark --openvino       # also weights/full/openvino (OpenVINO GenAI)
    python infer.py --model weights/full/int8 "waht is teh capital of frnace"
"""
import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from qrewrite import cpu
from qrewrite.cli import ArgumentParser, fail, positive_int
from qrewrite.data import load_pairs, write_json_atomic
from qrewrite.engines import TorchEngine, int8_dir_for, load_tokenizer, open_engine
from qrewrite.errors import DataError, ModelError
from qrewrite.metrics import score
from qrewrite.modeling import TRAINED_MODEL, embedded_gguf_path, load_model, resolve_model
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

GGUF_NAME = "model-q8_0.gguf"
OWNER = "quantize.py"
BATCH_SIZES = (4, 16, 64)  # new tokens/s is measured at batch 1 and at each of these


def rope_permute(weight, n_heads):
    """HF stores each head's rotary halves apart; llama.cpp expects them interleaved."""
    rows, cols = weight.shape
    return weight.reshape(n_heads, 2, rows // n_heads // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def export_gguf_q8_0(model, tokenizer, path):
    """Writes a Llama model as GGUF: 2-D weights in Q8_0, norms in fp32, tokenizer from the embedded GGUF."""
    import gguf

    config = model.config
    if config.model_type != "llama":
        raise ModelError(f"GGUF export supports Llama-architecture models, not '{config.model_type}'; "
                         "use llama.cpp's convert_hf_to_gguf.py --outtype q8_0")
    source = gguf.GGUFReader(embedded_gguf_path())
    vocab = source.fields["tokenizer.ggml.tokens"].contents()
    if tokenizer.convert_ids_to_tokens(list(range(len(vocab)))) != vocab or config.vocab_size != len(vocab):
        raise ModelError("the model's tokenizer differs from SmolLM2's; use llama.cpp's convert_hf_to_gguf.py")

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("question-rewrite")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(config.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    for key, field in source.fields.items():
        if key.startswith("tokenizer."):
            sub_type = field.types[1] if len(field.types) > 1 else None
            writer.add_key_value(key, field.contents(), field.types[0], sub_type=sub_type)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and config.tie_word_embeddings:
            continue  # tied: llama.cpp reuses token_embd as the output layer
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ModelError(f"no GGUF name for tensor {hf_name}")
        data = tensor.detach().float().cpu().numpy()
        if hf_name.endswith("q_proj.weight"):
            data = rope_permute(data, config.num_attention_heads)
        elif hf_name.endswith("k_proj.weight"):
            data = rope_permute(data, config.num_key_value_heads)
        if data.ndim == 2 and data.shape[1] % 32 == 0:
            writer.add_tensor(name, gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0),
                              raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(name, data.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


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


def export_openvino_dir(model_dir, out_dir):
    """out_dir: the OpenVINO model (int8 weights), its configs and tokenizer files, swapped in whole (check_output_dir
    first)."""
    from qrewrite.openvino_export import MODEL_BIN, MODEL_XML, export_openvino

    staged = staging_dir(out_dir)
    try:
        export_openvino(model_dir, staged)
        replace_dir(staged, out_dir, OWNER, hashed=[MODEL_XML, MODEL_BIN],
                    about={"converted_from": weights_digest(model_dir)})
    except BaseException:
        discard(staged)
        raise
    return Path(out_dir)


def check_openvino_installed():
    for module in ("openvino", "openvino_genai", "nncf"):
        if importlib.util.find_spec(module) is None:
            raise ModelError(f"--openvino: needs the {module} package; pip install -e \".[openvino]\" "
                             "(or drop --openvino)")


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
    ctranslate2 = lambda folder: lambda: open_engine(folder, backend="int8")  # the layout chosen for this CPU
    settings, _ = cpu.choose(threads)
    layout = f"{settings['workers']} worker(s) x {settings['threads']} thread(s)"
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
        engines[f"int8 CTranslate2, not smoothed, {layout}"] = (ctranslate2(plain_dir),
                                                                 folder_size_mb(plain_dir, "*.bin"))
    if openvino_dir:
        from qrewrite.openvino_engine import OpenVINOEngine

        engines[f"int8 OpenVINO GenAI, {threads} threads"] = (lambda: OpenVINOEngine(openvino_dir),
                                                             folder_size_mb(openvino_dir, "openvino_model.*"))
    label = f"int8 CTranslate2, {'smoothed' if smoothed else 'not smoothed'}, {layout} (this model)"
    engines[label] = (ctranslate2(int8_dir), folder_size_mb(int8_dir, "*.bin"))
    return engines


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
        if args.openvino:
            check_openvino_installed()
            check_output_dir(openvino_dir_for(args.model), OWNER, inputs=[args.model, out_dir], flag="--openvino")
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
    openvino_dir = None
    if args.openvino:
        start = time.perf_counter()
        try:
            openvino_dir = export_openvino_dir(args.model, openvino_dir_for(args.model))
        except ModelError as err:
            fail(err)
        print(f"wrote {openvino_dir} (OpenVINO, int8 weights) in {time.perf_counter() - start:.0f} s "
              f"(python infer.py --model {openvino_dir}, or --backend openvino)")
    if not args.skip_benchmark:
        benchmark(args, out_dir, pairs, smoothed, openvino_dir)


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
