"""The onnx engine: quantize.py --onnx's folder decoded by ONNX Runtime GenAI, against fp32 (transformers), and
--backend auto's split of one question alone from batches."""
import json
import shutil

import pytest

from conftest import forward_mean, run_script
from qrewrite import cpu
from qrewrite.engines import CTranslate2Engine, SplitByBatch, TorchEngine, open_engine
from qrewrite.errors import ModelError
from qrewrite.onnx_engine import OnnxEngine
from qrewrite.paths import OWNER_FILE, marker_entry, weights_digest
from qrewrite.rewriter import Rewriter
from quantize import export_converted_dir, quantize


@pytest.fixture(scope="module")
def run_dir(tiny_model_dir, tmp_path_factory):
    """weights/<run>/ as finetune.py leaves it (best/), with quantize.py --onnx's int8/ and onnx/ beside."""
    run = tmp_path_factory.mktemp("run")
    shutil.copytree(tiny_model_dir, run / "best")
    export_converted_dir("onnx", str(run / "best"), run / "onnx")
    quantize(str(run / "best"), run / "int8")
    return run


@pytest.fixture(scope="module")
def engines(run_dir):
    return OnnxEngine(run_dir / "onnx"), TorchEngine(str(run_dir / "best"), batch_size=3, device="cpu")


def test_greedy_tracks_fp32_and_scores_are_mean_token_log_probs(engines, prompts):
    onnx, fp32 = engines
    limits = [10] * len(prompts)
    ours, reference = onnx.generate(prompts, limits, set()), fp32.generate(prompts, limits, set())
    assert [len(found[0][0]) for found in ours] == limits  # a random model rarely stops: each runs to its bound
    # int8 weights may flip a near-tie of the random model late in a sequence, not from the start
    assert sum(a[0][0][:3] == b[0][0][:3] for a, b in zip(ours, reference)) >= len(prompts) - 1
    for prompt, [(ids, score)] in zip(prompts, ours):
        assert score == pytest.approx(forward_mean(fp32.model, prompt, ids), abs=0.02) and score < 0


def test_stop_ids_bounds_and_no_beams(engines, prompts):
    onnx, fp32 = engines
    free = [found[0][0] for found in onnx.generate(prompts, [20] * len(prompts), set())]
    stop = free[1][4]  # a token the second prompt generates: its output ends right before it, scored with it
    stopped = onnx.generate(prompts, [20] * len(prompts), {stop})
    for prompt, ids, [(stopped_ids, score)] in zip(prompts, free, stopped):
        assert stopped_ids == ids[:ids.index(stop) if stop in ids else len(ids)]
        scored = stopped_ids + [stop] if stop in ids else stopped_ids
        assert score == pytest.approx(forward_mean(fp32.model, prompt, scored), abs=0.02)
    assert [found[0][0] for found in onnx.generate(prompts, [3] * len(prompts), set())] == [ids[:3] for ids in free]
    with pytest.raises(ModelError, match="no beam search"):
        onnx.generate(prompts[:1], [5], set(), beams=2)


def test_rewriter_on_the_onnx_folder(run_dir):
    rewriter = Rewriter(str(run_dir / "best"), backend="onnx", retry_beams=4)
    assert rewriter.backend == "onnx" and "ONNX Runtime GenAI" in rewriter.engine_choice
    records = rewriter.rewrite_records(["where is teh eiffel tower", "hi", ""])
    assert records[0]["fallback"] and not records[0]["retried"]  # no beams to search again with
    assert 0 < records[0]["raw_confidence"] < 1 and records[2]["rewrite"] == ""
    with pytest.raises(ModelError, match="no beam search"):
        Rewriter(str(run_dir / "onnx"), beams=2)
    with pytest.raises(ModelError, match="quantize.py --onnx"):
        open_engine(str(run_dir / "int8" / "nowhere"), backend="onnx")


@pytest.mark.parametrize("vendor", ["AuthenticAMD", "GenuineIntel"])
def test_auto_decodes_one_question_alone_on_the_onnx_model_on_amd(run_dir, prompts, monkeypatch, vendor):
    monkeypatch.setattr(cpu, "cpu_vendor", lambda: vendor)
    monkeypatch.setattr(cpu, "has_bf16_instructions", lambda: False)  # batches: the int8 engine
    source = weights_digest(run_dir / "best")
    assert source and marker_entry(run_dir / "onnx", "converted_from") == source
    engine = open_engine(str(run_dir / "int8"))
    if vendor == "GenuineIntel":
        assert isinstance(engine, CTranslate2Engine)
        return
    assert isinstance(engine, SplitByBatch) and engine.name == "int8" and engine.beam_search
    assert "one question alone: onnx engine" in engine.choice
    calls = []
    for part in ("alone", "batched"):
        inner = getattr(engine, part)
        monkeypatch.setattr(inner, "generate", lambda *args, part=part, real=inner.generate: calls.append(part)
                            or real(*args))
    engine.generate(prompts[:1], [4], set())
    engine.generate(prompts[:3], [4] * 3, set())
    engine.generate(prompts[:1], [4], set(), 2)  # beams: the batch engine's
    assert calls == ["alone", "batched", "batched"]
    engine.batch_size = 5
    assert engine.batched.batch_size == 5
    assert open_engine(str(run_dir / "int8"), backend="int8").name == "int8"  # not split


def test_auto_keeps_one_engine_when_the_onnx_model_holds_other_weights(run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(cpu, "cpu_vendor", lambda: "AuthenticAMD")
    for name in ("int8", "onnx"):
        shutil.copytree(run_dir / name, tmp_path / name)
    marker = tmp_path / "onnx" / OWNER_FILE
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "converted_from": "0" * 64}))
    engine = open_engine(str(tmp_path / "int8"))
    assert not isinstance(engine, SplitByBatch) and "not known to be converted from the same weights" in engine.choice


@pytest.mark.slow
def test_quantize_onnx_writes_its_folder_and_infer_uses_it(tiny_model_dir, tmp_path):
    """quantize.py --onnx writes weights/<run>/onnx (marked as its own), infer.py --backend onnx runs on it; a
    folder there that quantize.py did not write is refused, exit 2, one line, nothing changed."""
    best = shutil.copytree(tiny_model_dir, tmp_path / "run" / "best")
    run_script("quantize.py", "--model", best, "--skip-benchmark", "--no-smoothing", "--onnx")
    folder = tmp_path / "run" / "onnx"
    written = {p.name for p in folder.iterdir()}
    assert {"model.onnx", "model.onnx.data", "genai_config.json", "tokenizer.json"} <= written
    assert json.loads((folder / OWNER_FILE).read_text())["written_by"] == "quantize.py"
    done = run_script("infer.py", "--model", best, "--backend", "onnx", "where is teh eiffel tower")
    assert "onnx engine" in done.stderr and done.stdout.strip() == "where is teh eiffel tower"  # random model: kept
    other = shutil.copytree(tiny_model_dir, tmp_path / "other" / "best")
    (tmp_path / "other" / "onnx").mkdir()
    (tmp_path / "other" / "onnx" / "notes.txt").write_text("mine")
    refused = run_script("quantize.py", "--model", other, "--skip-benchmark", "--onnx", check=False)
    assert refused.returncode == 2 and "--onnx" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert [p.name for p in (tmp_path / "other" / "onnx").iterdir()] == ["notes.txt"]
