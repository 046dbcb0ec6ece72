"""End to end: the five scripts, run as a user runs them, on tiny data with a tiny model."""
import json

import pytest

from conftest import run_script
from qrewrite import cpu

pytestmark = pytest.mark.slow  # trains, converts or starts a server


def test_full_pipeline(tmp_path, pair_files, tiny_model_dir):
    data, weights, outputs = tmp_path / "processed", tmp_path / "weights", tmp_path / "outputs"
    run_script("datamod.py", "--train", pair_files[0], "--valid", pair_files[1], "--out", data)

    trained = run_script("finetune.py", "--data", data, "--model", tiny_model_dir, "--method", "full",
                         "--epochs", "2", "--batch-size", "2", "--lr", "1e-3", "--out", weights, "--reports", outputs)
    assert "loss on [bracketed] tokens only" in trained.stdout
    precision = "bf16" if cpu.has_bf16_instructions() else "fp32"  # --precision auto: bf16 where the CPU has it
    assert f"precision: {'bf16 mixed' if precision == 'bf16' else 'fp32'} (--precision auto" in trained.stdout
    assert "missing keys" not in trained.stderr  # the tied output layer is not reported as lost on reload
    summary = json.loads((outputs / "finetune_full.json").read_text())
    assert [row["epoch"] for row in summary["epochs"]] == [0, 1, 2] and summary["precision"] == precision
    chosen = [row for row in summary["epochs"] if row["chosen"]]
    trained_rows = summary["epochs"][1:]
    assert len(chosen) == 1 and chosen[0]["valid_loss"] == min(r["valid_loss"] for r in trained_rows)
    assert summary["chosen_epoch"] == chosen[0]["epoch"]
    assert trained_rows[-1]["train_loss"] < trained_rows[0]["train_loss"]
    assert (outputs / "finetune_full_loss.png").stat().st_size > 1000
    assert "| epoch | train loss | valid loss | learning rate | chosen |" in (outputs / "finetune_full.md").read_text()
    best = weights / "best"
    assert (best / "model.safetensors").exists() and (best / "tokenizer.json").exists()
    assert (best / "model.safetensors").stat().st_mode & 0o777 == 0o644  # readable by the user's other accounts

    run_script("score.py", "--model", best, "--data", data, "--reports", outputs, "--batch-size", "4")
    metrics = json.loads((outputs / "metrics.json").read_text())
    assert set(metrics["splits"]) == {"train", "valid"}
    valid = metrics["splits"]["valid"]
    assert valid["model"]["count"] == 2 and 0 <= valid["model"]["bleu"] <= 100
    assert valid["identity"]["bleu_01"] == round(valid["identity"]["bleu"] / 100, 4)
    io = json.loads((outputs / "valid_io.json").read_text())
    assert set(io[0]) == {"input", "reference", "prediction", "bleu", "raw", "fallback", "restored", "retried",
                          "confidence", "raw_confidence", "dropped", "invented", "changed", "meaning_changed"}
    assert {"kept", "invented", "changed", "over_correction", "content_recall"} <= set(valid["model"])
    assert metrics["retry_beams"] == 4 and valid["retried"] == sum(r["retried"] for r in io)

    quantized = run_script("quantize.py", "--model", best, "--calibration", pair_files[0], "--data", pair_files[1],
                           "--limit", "2", "--latency-questions", "2", "--reports", outputs)
    assert f"smoothed on 6 pairs of {pair_files[0]}" in quantized.stdout
    report = json.loads((outputs / "quantize.json").read_text())
    engines = report["engines"]
    assert report["smoothed"] and any(label.startswith("int8 CTranslate2, not smoothed") for label in engines)
    int8 = next(figures for label, figures in engines.items() if label.startswith("int8 CTranslate2, smoothed"))
    fp32 = engines["fp32 transformers"]
    assert int8["size_mb"] < fp32["size_mb"] and fp32["same_as_fp32"] == 1
    assert {"latency_ms_batch1", "tokens_per_s_batch1", "tokens_per_s_batch64", "valid_bleu"} <= set(int8)

    run_script("score.py", "--model", best, "--backend", "int8", "--data", pair_files[1], "--reports", outputs / "q",
               "--retry-beams", "1")
    int8_metrics = json.loads((outputs / "q" / "metrics.json").read_text())
    assert int8_metrics["backend"] == "int8" and int8_metrics["splits"]["valid"]["model"]["count"] == 2
    assert int8_metrics["retry_beams"] == 1 and int8_metrics["splits"]["valid"]["retried"] == 0

    rewritten = run_script("infer.py", "--model", weights / "int8", "hi waht is teh capital of frnace", "")
    assert len(rewritten.stdout.splitlines()) == 2


def test_lora_with_resume(tmp_path, pair_files, tiny_model_dir):
    data, weights, outputs = tmp_path / "processed", tmp_path / "weights", tmp_path / "outputs"
    run_script("datamod.py", "--train", pair_files[0], "--valid", pair_files[1], "--out", data)
    common = ["finetune.py", "--data", data, "--model", tiny_model_dir, "--method", "lora", "--batch-size", "3",
              "--evals-per-epoch", "1", "--out", weights, "--reports", outputs]
    run_script(*common, "--epochs", "1")
    # An earlier run's checkpoints are never discarded silently.
    refused = run_script(*common, "--epochs", "2", check=False)
    assert refused.returncode != 0 and "--resume" in refused.stderr
    run_script(*common, "--epochs", "2", "--resume")
    summary = json.loads((outputs / "finetune_lora.json").read_text())
    assert [row["epoch"] for row in summary["epochs"]] == [0, 1, 2]
    assert sorted(p.name for p in (weights / "checkpoints").glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    # The adapter is merged: the result loads as a plain model with the tiny model's tensor names.
    from safetensors import safe_open
    with safe_open(str(weights / "best" / "model.safetensors"), "pt") as f:
        assert not [k for k in f.keys() if "lora" in k]
    rewritten = run_script("infer.py", "--model", weights / "best", "--beams", "2", "how do i reset my pasword", "")
    assert len(rewritten.stdout.splitlines()) == 2
