"""The openvino engine: quantize.py --openvino's folder decoded by OpenVINO GenAI, against fp32 (transformers)."""
import json
import shutil

import pytest

from conftest import forward_mean, run_script
from qrewrite import cpu
from qrewrite.cpu import cpu_name
from qrewrite.engines import TorchEngine, open_engine
from qrewrite.errors import ModelError
from qrewrite.openvino_engine import OpenVINOEngine
from qrewrite.paths import OWNER_FILE, marker_entry, weights_digest
from qrewrite.rewriter import Rewriter
from quantize import export_converted_dir, quantize


@pytest.fixture(scope="module")
def run_dir(tiny_model_dir, tmp_path_factory):
    """weights/<run>/ as finetune.py leaves it (best/), with quantize.py --openvino's int8/ and openvino/ beside."""
    run = tmp_path_factory.mktemp("run")
    shutil.copytree(tiny_model_dir, run / "best")
    export_converted_dir("openvino", str(run / "best"), run / "openvino")
    quantize(str(run / "best"), run / "int8")
    return run


@pytest.fixture(scope="module")
def engines(run_dir):
    return (OpenVINOEngine(run_dir / "openvino", batch_size=3),
            TorchEngine(str(run_dir / "best"), batch_size=3, device="cpu"))


def test_greedy_tracks_fp32(engines, prompts):
    openvino, fp32 = engines
    limits = [10] * len(prompts)
    ours = [c[0][0] for c in openvino.generate(prompts, limits, set())]
    reference = [c[0][0] for c in fp32.generate(prompts, limits, set())]
    assert [len(ids) for ids in ours] == limits  # a random model rarely stops: each runs to its bound
    # int8 weights may flip a near-tie of the random model late in a sequence, not from the start
    assert sum(a[:3] == b[:3] for a, b in zip(ours, reference)) >= len(prompts) - 1
    assert sum(a == b for a, b in zip(ours, reference)) >= len(prompts) // 2
    one_at_a_time = openvino.batch_size
    openvino.batch_size = 1
    assert [c[0][0] for c in openvino.generate(prompts, limits, set())] == ours
    openvino.batch_size = one_at_a_time


def test_stop_ids_and_bounds(engines, prompts):
    openvino, _ = engines
    free = [c[0][0] for c in openvino.generate(prompts, [20] * len(prompts), set())]
    stop = free[1][4]  # a token the second prompt generates: its output ends right before it
    stopped = [c[0][0] for c in openvino.generate(prompts, [20] * len(prompts), {stop})]
    for ids, stopped_ids in zip(free, stopped):
        assert stopped_ids == ids[:ids.index(stop) if stop in ids else len(ids)]
    assert len(stopped[1]) <= 4
    assert [c[0][0] for c in openvino.generate(prompts, [3] * len(prompts), set())] == [ids[:3] for ids in free]


@pytest.mark.parametrize("beams", [1, 3])
def test_scores_are_mean_token_log_probs(engines, prompts, beams):
    """Each candidate's score is the mean log-prob of its tokens, the stop token included when it stopped (as
    TorchEngine scores them), checked against a forward pass of the fp32 model; int8 weights move it a little."""
    openvino, fp32 = engines
    limits = [12] * len(prompts)
    free = openvino.generate(prompts, limits, set(), beams)
    stop = free[-1][-1][0][-1]  # a token the candidates generate: with it as a stop id, some end early
    stopped = 0
    for found in (free, openvino.generate(prompts, limits, {stop}, beams)):
        for prompt, candidates in zip(prompts, found):
            assert len(candidates) == beams and len({tuple(ids) for ids, _ in candidates}) == beams
            assert [s for _, s in candidates] == sorted((s for _, s in candidates), reverse=True)  # best first
            for ids, score in candidates:
                assert stop not in ids or found is free
                scored = ids if len(ids) == 12 else ids + [stop]
                stopped += len(ids) < 12
                assert score == pytest.approx(forward_mean(fp32.model, prompt, scored), abs=0.02) and score < 0
    assert stopped and all(len(ids) == 12 for candidates in free for ids, _ in candidates)


def test_beams_track_fp32(engines, prompts):
    openvino, fp32 = engines
    limits = [8] * len(prompts)
    ours, reference = openvino.generate(prompts, limits, set(), 3), fp32.generate(prompts, limits, set(), 3)
    assert sum(a[0][0] == b[0][0] for a, b in zip(ours, reference)) >= len(prompts) // 2


def test_rewriter_on_the_openvino_folder(run_dir):
    rewriter = Rewriter(str(run_dir / "openvino"), retry_beams=4)
    assert rewriter.backend == "openvino" and "OpenVINO GenAI" in rewriter.engine_choice
    assert cpu_name() in rewriter.engine_choice
    records = rewriter.rewrite_records(["where is teh eiffel tower", "hi", ""])
    assert set(records[0]) >= {"input", "rewrite", "raw", "fallback", "restored", "retried", "confidence", "edits"}
    assert records[0]["retried"]  # a random model's output falls back: searched again with 4 beams
    assert 0 < records[0]["raw_confidence"] < 1
    assert records[2]["rewrite"] == ""
    # --backend openvino finds it beside the fp32 folder; --backend fp32 refuses it
    assert open_engine(str(run_dir / "best"), backend="openvino").folder == run_dir / "openvino"
    with pytest.raises(ModelError, match="pass the fp32 folder"):
        open_engine(str(run_dir / "openvino"), backend="fp32")
    with pytest.raises(ModelError, match="quantize.py --openvino"):
        open_engine(str(run_dir / "openvino" / "nowhere"), backend="openvino")


@pytest.mark.parametrize("bf16", [True, False])
def test_auto_runs_an_int8_folder_on_the_openvino_model_where_that_is_faster(run_dir, monkeypatch, bf16):
    monkeypatch.setattr(cpu, "has_bf16_instructions", lambda: bf16)
    source = weights_digest(run_dir / "best")
    assert source and marker_entry(run_dir / "int8", "converted_from") == source
    assert marker_entry(run_dir / "openvino", "converted_from") == source
    engine = open_engine(str(run_dir / "int8"))
    assert engine.name == ("openvino" if bf16 else "int8")
    if bf16:
        assert engine.folder == run_dir / "openvino" and "--backend int8 to keep int8" in engine.choice
    assert open_engine(str(run_dir / "int8"), backend="int8").name == "int8"
    assert open_engine(str(run_dir / "openvino")).name == "openvino"  # an openvino folder runs as passed
    assert open_engine(str(run_dir / "best")).name == "fp32"  # and an fp32 folder


def test_auto_keeps_int8_when_the_openvino_model_beside_it_holds_other_weights(run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(cpu, "has_bf16_instructions", lambda: True)
    for name in ("int8", "openvino"):
        shutil.copytree(run_dir / name, tmp_path / name)
    marker = tmp_path / "openvino" / OWNER_FILE
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "converted_from": "0" * 64}))
    engine = open_engine(str(tmp_path / "int8"))
    assert engine.name == "int8" and "not known to be converted from the same weights" in engine.choice


def test_a_changed_weights_file_is_refused(run_dir, tmp_path):
    copy = shutil.copytree(run_dir / "openvino", tmp_path / "openvino")
    with open(copy / "openvino_model.bin", "ab") as weights:
        weights.write(b"\0")
    with pytest.raises(ModelError, match="checksum"):
        open_engine(str(copy))


@pytest.mark.slow
def test_quantize_openvino_writes_its_folder_and_infer_uses_it(tiny_model_dir, tmp_path):
    """quantize.py --openvino writes weights/<run>/openvino (marked as its own), infer.py --backend openvino runs on
    it; a folder there that quantize.py did not write is refused, exit 2, one line, nothing changed."""
    best = shutil.copytree(tiny_model_dir, tmp_path / "run" / "best")
    run_script("quantize.py", "--model", best, "--skip-benchmark", "--no-smoothing", "--openvino")
    folder = tmp_path / "run" / "openvino"
    assert {"openvino_model.xml", "openvino_model.bin", "config.json", "tokenizer.json"} <= {
        p.name for p in folder.iterdir()}
    assert json.loads((folder / OWNER_FILE).read_text())["written_by"] == "quantize.py"
    done = run_script("infer.py", "--model", best, "--backend", "openvino", "where is teh eiffel tower")
    assert "openvino engine" in done.stderr and done.stdout.strip() == "where is teh eiffel tower"  # random model: kept
    # the int8 folder runs on the openvino engine where that is the faster one (a CPU with bf16 instructions)
    auto = run_script("infer.py", "--model", tmp_path / "run" / "int8", "where is teh eiffel tower")
    expected = "openvino engine" if cpu.has_bf16_instructions() else "int8 engine"
    assert any(line.startswith(expected) for line in auto.stderr.splitlines()), auto.stderr
    run_script("quantize.py", "--model", best, "--skip-benchmark", "--no-smoothing", "--openvino")  # its own: replaced

    other = shutil.copytree(tiny_model_dir, tmp_path / "other" / "best")
    (tmp_path / "other" / "openvino").mkdir()
    (tmp_path / "other" / "openvino" / "notes.txt").write_text("mine")
    refused = run_script("quantize.py", "--model", other, "--skip-benchmark", "--openvino", check=False)
    assert refused.returncode == 2 and "--openvino" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert [p.name for p in (tmp_path / "other" / "openvino").iterdir()] == ["notes.txt"]
    assert not (tmp_path / "other" / "int8").exists()  # checked before anything was written
