"""The README's commands in the order written, on tiny settings, in a checkout of their own: the quick start,
then the full reproduction, then int8. Each run's files land in its own folders, so neither blocks the other."""
import json
import shutil

import pytest

from conftest import PAIRS, run_script


@pytest.mark.slow
def test_quick_start_then_full_reproduction(tmp_path, tiny_model_dir):
    (tmp_path / "dataset").mkdir()
    for name, pairs in (("train.json", PAIRS[:6]), ("valid.json", PAIRS[6:])):
        (tmp_path / "dataset" / name).write_text(json.dumps([{"input": i, "output": o} for i, o in pairs]))
    shutil.copytree(tiny_model_dir, tmp_path / "base")
    run = lambda *args: run_script(*args, cwd=tmp_path)
    tiny = ["--model", "base", "--epochs", "1", "--batch-size", "2"]

    # quickstart.sh's steps (the preset's sizes cut to the tiny data)
    run("datamod.py", "--limit-train", "4", "--limit-valid", "2", "--out", "data/quick")
    run("finetune.py", "--data", "data/quick", "--method", "full", *tiny, "--out", "weights/quick", "--overwrite")
    run("score.py", "--model", "weights/quick/best", "--data", "data/quick")
    run("quantize.py", "--model", "weights/quick/best", "--limit", "2", "--latency-questions", "1")
    assert run("infer.py", "--model", "weights/quick/int8", "where is teh eiffel tower").stdout.strip()

    # the full reproduction, with the defaults the README uses
    run("datamod.py")
    run("finetune.py", "--method", "full", *tiny)
    # a random model: too few right to fit
    done = run("score.py", "--model", "weights/full/best", "--splits", "valid", "--calibrate")
    assert "no calibration written" in done.stderr and not (tmp_path / "weights/full/best/calibration.json").exists()
    run("quantize.py", "--model", "weights/full/best", "--skip-benchmark", "--gguf")
    run("score.py", "--model", "weights/full/int8", "--data", "dataset/valid.json")
    assert run("infer.py", "--model", "weights/full/int8", "where is teh eiffel tower").stdout.strip()

    for name in ("quick", "full"):
        reports = tmp_path / "outputs" / name
        assert (reports / "finetune_full.json").is_file() and (reports / "metrics.json").is_file()
        assert (tmp_path / "weights" / name / "best" / "model.safetensors").is_file()
        assert (tmp_path / "weights" / name / "int8" / "model.bin").is_file()
    assert (tmp_path / "outputs" / "quick" / "quantize.json").is_file()
    assert json.loads((tmp_path / "outputs" / "full" / "int8" / "metrics.json").read_text())["backend"] == "int8"
    assert (tmp_path / "weights" / "full" / "gguf" / "model-q8_0.gguf").is_file()
