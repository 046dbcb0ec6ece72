"""The original work's architecture, Qwen2, through the five scripts: a tiny random Qwen2 (biases on q/k/v, untied
embeddings) whose tokenizer has no chat template, so the ChatML fallback of qrewrite.prompt formats every prompt."""
import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import run_script
from qrewrite.prompt import CHATML_TEMPLATE

pytestmark = pytest.mark.slow  # trains, converts or starts a server

PROJECTIONS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
               "mlp.up_proj", "mlp.down_proj")


def test_qwen2_full_fine_tuning_evaluate_quantize_infer(tmp_path, pair_files, tiny_qwen2_dir):
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(tiny_qwen2_dir).chat_template is None
    data, weights, outputs = tmp_path / "processed", tmp_path / "weights", tmp_path / "outputs"
    run_script("datamod.py", "--train", pair_files[0], "--valid", pair_files[1], "--out", data)
    trained = run_script("finetune.py", "--data", data, "--model", tiny_qwen2_dir, "--method", "full", "--epochs", "1",
                         "--batch-size", "2", "--lr", "1e-3", "--out", weights, "--reports", outputs)
    assert "<|im_start|>system\nRewrite the question cleanly.<|im_end|>\n<|im_start|>user\n" in trained.stdout
    best = weights / "best"
    assert AutoTokenizer.from_pretrained(best).chat_template == CHATML_TEMPLATE  # saved with the model
    assert json.loads((best / "config.json").read_text())["model_type"] == "qwen2"
    trained_weights = load_file(str(best / "model.safetensors"))
    assert "model.layers.0.self_attn.q_proj.bias" in trained_weights and "lm_head.weight" in trained_weights

    run_script("score.py", "--model", best, "--data", data, "--splits", "valid", "--reports", outputs)
    assert json.loads((outputs / "metrics.json").read_text())["splits"]["valid"]["model"]["count"] == 2
    run_script("quantize.py", "--model", best, "--skip-benchmark")
    rewritten = run_script("infer.py", "--model", weights / "int8", "--out", tmp_path / "rewrites.jsonl",
                           "hi waht is teh capital of frnace", "")
    records = [json.loads(line) for line in (tmp_path / "rewrites.jsonl").read_text().splitlines()]
    assert rewritten.returncode == 0 and [r["input"] for r in records] == ["hi waht is teh capital of frnace", ""]
    assert records[1]["rewrite"] == ""


def test_qwen2_lora_adapts_every_projection_and_keeps_the_biases(tmp_path, pair_files, tiny_qwen2_dir):
    data, weights = tmp_path / "processed", tmp_path / "weights"
    run_script("datamod.py", "--train", pair_files[0], "--valid", pair_files[1], "--out", data)
    run_script("finetune.py", "--data", data, "--model", tiny_qwen2_dir, "--method", "lora", "--epochs", "1",
               "--batch-size", "2", "--lr", "1e-3", "--out", weights, "--reports", tmp_path / "outputs")
    base = load_file(str(tiny_qwen2_dir / "model.safetensors"))
    merged = load_file(str(weights / "best" / "model.safetensors"))
    assert merged.keys() == base.keys()  # merged: no adapter tensors left
    # "all-linear" reaches the attention and MLP projections of every layer; the rest is frozen.
    adapted = {k for k in base if not torch.equal(base[k], merged[k])}
    assert adapted == {f"model.layers.{i}.{p}.weight" for i in range(2) for p in PROJECTIONS}
    rewritten = run_script("infer.py", "--model", weights / "best", "how do i reset my pasword pls", "")
    assert len(rewritten.stdout.splitlines()) == 2
