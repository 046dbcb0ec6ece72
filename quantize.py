"""Step 4: int8 model for fast CPU inference, with its size, speed and quality measured.

Writes the fine-tuned model as GGUF Q8_0 (8-bit weights in blocks of 32, one scale per block) and
runs it with llama.cpp (llama-cpp-python). Why not torch's int8: measured here, torch.ao dynamic
int8 lost 11-15 BLEU on real rewrites and torchao int8 weight-only ran at 0.6x the fp32 speed at
batch 1; block-wise Q8_0 keeps quality and llama.cpp's CPU kernels are several times faster.

Then measures fp32 (transformers) against int8 (llama.cpp) on the validation questions: size on
disk, latency per question at batch 1, new tokens/s at batch 8 and 16, and valid BLEU; prints a
table and writes outputs/quantize.json.

    python quantize.py                                   # weights/full/best -> weights/full/int8
    python quantize.py --model weights/lora/best --out weights/lora/int8
    python quantize.py --skip-benchmark                  # convert only
    python infer.py --model weights/full/int8 "waht is teh capital of frnace"

Supported: Llama-architecture models with the embedded SmolLM2 tokenizer (the GGUF's tokenizer
entries are copied from the embedded file). For other models, llama.cpp's convert_hf_to_gguf.py
with --outtype q8_0 does the same conversion.
"""
import argparse
import time
from pathlib import Path

import numpy as np
import torch

from qrewrite.cli import ArgumentParser, fail, positive_int
from qrewrite.data import DataError, load_pairs, write_json_atomic
from qrewrite.metrics import score
from qrewrite.modeling import TRAINED_MODEL, ModelError, embedded_gguf_path, load_model
from qrewrite.paths import (OUTPUTS, check_output_dir, check_outputs_dir, discard, open_outputs_dir, replace_dir,
                            staging_dir)
from qrewrite.rewriter import Rewriter, int8_dir_for

GGUF_NAME = "model-q8_0.gguf"
OWNER = "quantize.py"


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


def quantize(model_dir, out_dir):
    """model_dir (safetensors) -> out_dir/model-q8_0.gguf plus the tokenizer files, swapped in as a whole.
    out_dir must be new, empty or an earlier output of quantize.py (check_output_dir)."""
    model, tokenizer = load_model(model_dir, device="cpu", dtype=torch.float32)
    out_dir = check_output_dir(out_dir, OWNER, inputs=[model_dir])
    staged = staging_dir(out_dir)
    try:
        tokenizer.save_pretrained(staged)
        export_gguf_q8_0(model, tokenizer, staged / GGUF_NAME)
        replace_dir(staged, out_dir, OWNER, hashed=[GGUF_NAME])
    except BaseException:
        discard(staged)
        raise
    return out_dir / GGUF_NAME


def folder_size_mb(path, pattern):
    return round(sum(f.stat().st_size for f in Path(path).glob(pattern)) / 2**20, 1)


def measure(rewriter, questions, references, batch_sizes, latency_questions):
    """Valid BLEU at the largest batch, latency at batch 1, new tokens/s at each batch size."""
    result = {}
    count_tokens = lambda texts: sum(len(rewriter.tokenizer(t).input_ids) + 1 for t in texts)  # +1: end of turn
    rewriter.batch_size = 1
    rewriter.generate(questions[:2])  # warm-up
    start = time.perf_counter()
    outputs = rewriter.generate(questions[:latency_questions])
    elapsed = time.perf_counter() - start
    result["latency_ms_batch1"] = round(1000 * elapsed / latency_questions, 1)
    result["tokens_per_s_batch1"] = round(count_tokens(outputs) / elapsed, 1)
    for batch_size in batch_sizes:
        rewriter.batch_size = batch_size
        start = time.perf_counter()
        outputs = rewriter.generate(questions)
        result[f"tokens_per_s_batch{batch_size}"] = round(count_tokens(outputs) / (time.perf_counter() - start), 1)
    rewrites = [r["rewrite"] for r in rewriter.rewrite_records(questions)]
    result["valid_bleu"] = score(rewrites, references)["bleu"]
    return result


def main():
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=TRAINED_MODEL, help="fp32 model folder from finetune.py")
    parser.add_argument("--out", help="int8 model folder (default: <model>/../int8)")
    parser.add_argument("--valid", default="dataset/valid.json", help="pairs for the quality and speed figures")
    parser.add_argument("--limit", type=positive_int, default=200, help="validation pairs to measure on")
    parser.add_argument("--latency-questions", type=positive_int, default=32, help="questions timed one at a time")
    parser.add_argument("--outputs", default=OUTPUTS, help="folder for quantize.json")
    parser.add_argument("--skip-benchmark", action="store_true", help="convert only")
    args = parser.parse_args()

    out_dir = Path(args.out) if args.out else int8_dir_for(args.model)
    try:
        check_output_dir(out_dir, OWNER, inputs=[args.model, args.valid])
        if not args.skip_benchmark:
            pairs = load_pairs(args.valid)[:args.limit]
            outputs = check_outputs_dir(args.outputs, ["quantize.json"], inputs=[args.model, args.valid, out_dir])
        start = time.perf_counter()
        gguf_path = quantize(args.model, out_dir)
    except (DataError, ModelError) as err:
        fail(err)
    print(f"wrote {gguf_path} in {time.perf_counter() - start:.0f} s")
    if args.skip_benchmark:
        return

    questions, references = [p["input"] for p in pairs], [p["output"] for p in pairs]
    latency_questions = min(args.latency_questions, len(questions))
    report = {"model": args.model, "int8_model": str(out_dir), "valid": args.valid, "examples": len(pairs),
              "threads": torch.get_num_threads(),
              "size_mb": {"fp32": folder_size_mb(args.model, "*.safetensors"), "int8": folder_size_mb(out_dir, "*.gguf")}}
    for backend, folder in (("fp32", args.model), ("int8", out_dir)):
        print(f"measuring {backend} on {len(questions)} questions")
        report[backend] = measure(Rewriter(str(folder)), questions, references, (8, 16), latency_questions)
    fp32, int8 = report["fp32"], report["int8"]
    report["speedup_batch1"] = round(fp32["latency_ms_batch1"] / int8["latency_ms_batch1"], 2)
    report["bleu_change"] = round(int8["valid_bleu"] - fp32["valid_bleu"], 2)
    write_json_atomic(open_outputs_dir(outputs) / "quantize.json", report)

    print("\n| | size MB | ms/question (batch 1) | tok/s batch 1 | tok/s batch 8 | tok/s batch 16 | valid BLEU |")
    print("|---|---|---|---|---|---|---|")
    for backend in ("fp32", "int8"):
        m = report[backend]
        print(f"| {backend} | {report['size_mb'][backend]} | {m['latency_ms_batch1']} | {m['tokens_per_s_batch1']} | "
              f"{m['tokens_per_s_batch8']} | {m['tokens_per_s_batch16']} | {m['valid_bleu']:.2f} |")
    print(f"int8 is {report['speedup_batch1']}x fp32 at batch 1; BLEU change {report['bleu_change']:+.2f} "
          f"({len(pairs)} valid pairs, {report['threads']} threads); wrote {args.outputs}/quantize.json")


if __name__ == "__main__":
    main()
