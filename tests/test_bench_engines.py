"""bench_engines.py: its timing, its figures against fp32, its table, and a whole run on a tiny model."""
import json
import shutil

import pytest

import bench_engines
from conftest import run_script
from qrewrite import bench_ceiling, bench_report, bench_workers, cpu
from quantize import export_converted_dir, quantize


def test_groups_keep_order_and_bounds():
    groups = list(bench_workers.in_groups([[1], [2], [3]], [4, 5, 6], 2))
    assert groups == [([[1], [2]], [4, 5]), ([[3]], [6])]


def test_once_gives_its_result_or_its_failure_again():
    calls = []

    def convert():
        calls.append(1)
        raise bench_engines.CannotRun("no converter")

    get = bench_engines.once(convert)
    for _ in range(2):
        with pytest.raises(bench_engines.CannotRun, match="no converter"):
            get()
    assert len(calls) == 1


def test_measure_times_each_prompt_alone_then_batches():
    seen = []

    def generate(prompts, limits, stop_ids, batch):
        seen.append((len(prompts), batch))
        return [[7] * limit for limit in limits]

    job = {"prompts": [[1]] * 20, "max_new_tokens": [3] * 20, "stop_ids": [2], "batch": 16}
    result = bench_workers.measure(generate, job)
    assert seen == [(2, 1), (16, 16)] + [(1, 1)] * 20 + [(20, 16)]  # warm-up, alone, then batched
    assert len(result["seconds_alone"]) == 20 and result["alone"] == result["batched"] == [[7, 7, 7]] * 20
    seen.clear()
    bench_workers.measure(generate, {**job, "batch": 8})  # --batch 8
    assert seen == [(2, 1), (8, 8)] + [(1, 1)] * 20 + [(20, 8)]


def test_figures_cut_outputs_as_the_engines_do_and_compare_with_fp32():
    job = {"stop_ids": [2], "max_new_tokens": [3, 3]}
    result = {"alone": [[5, 2, 9], [6, 6, 6, 6]], "batched": [[5, 2], [6, 9]], "seconds_alone": [0.1, 0.3],
              "seconds_batched": 1.0}
    reference = [[5], [6, 6, 6]]  # fp32's outputs, cut
    row, alone = bench_engines.figures({"size_mb": 1.5}, result, job, reference, ["a b", "c d"],
                                       lambda ids: " ".join(map(str, ids)))
    assert alone == [[5], [6, 6, 6]]
    assert row["same_as_fp32_alone"] == 1.0 and row["same_as_fp32_batch"] == 0.5
    assert row["ms_alone"] == 200.0 and row["tokens_per_s_batch"] == 5.0  # (1 + 2) new ids, each + its end of turn
    assert row["size_mb"] == 1.5 and 0 <= row["bleu_batch"] <= 100


def test_table_names_the_cpu_every_row_and_what_could_not_run():
    row = {"size_mb": 1.0, "ms_alone": 2.0, "tokens_per_s_batch": 3.0, "same_as_fp32_alone": 1.0,
           "same_as_fp32_batch": 0.98, "bleu_batch": 50.0}
    report = {"cpu": "Some CPU (avx2 yes)", "threads": 2, "date": "2026-12-06", "questions": 2, "data": "d.json",
              "model": "m", "batch": 32, "engines": {"fp32": row}, "could_not_run": {"vLLM": "no wheel"},
              "ct2_backends": {"0": ["GEMM backend: x"]}}
    table = bench_report.markdown(report)
    assert table.startswith("CPU: Some CPU (avx2 yes); 2 threads; 2026-12-06")
    assert "new tok/s, batch 32 |" in table
    assert "| fp32 | 1.0 | 2.0 | 3.0 | 100.0% | 98.0% | 50.00 |" in table
    assert "- could not run: vLLM: no wheel" in table and "CT2_USE_MKL=0 (CT2_VERBOSE): GEMM backend: x" in table


@pytest.mark.parametrize("bf16", [True, False])
def test_the_goals_are_those_of_the_engine_the_rewriter_picks(monkeypatch, bf16):
    monkeypatch.setattr(cpu, "has_bf16_instructions", lambda: bf16)
    monkeypatch.setattr(cpu, "cpu_vendor", lambda: "AuthenticAMD")
    row = lambda speed: {"size_mb": 1.0, "ms_alone": 2.0, "tokens_per_s_batch": speed, "same_as_fp32_alone": 1.0,
                         "same_as_fp32_batch": 0.98, "bleu_batch": 50.0}
    int8 = "CTranslate2 int8, CT2_USE_MKL=0, 1 worker(s) x 2 thread(s), static prompt on"
    openvino = f"OpenVINO GenAI ContinuousBatchingPipeline ({bench_report.PROJECT_OPENVINO}), 16 at a time"
    other_int8 = int8.replace("1 worker(s) x 2 thread(s)", "2 worker(s) x 1 thread(s)")
    report = {"batch": 16, "engines": {"fp32": row(1.0), int8: row(150.0), other_int8: row(160.0),
                                       openvino: row(450.0)}, "int8_layout": {"workers": 2, "threads": 1}}
    lines = bench_report.goals(report)
    assert lines[1] == f"goals, for the settings the Rewriter picks on this CPU ({openvino if bf16 else other_int8}):"
    report["int8_layout"] = {"workers": 1, "threads": 2}  # the layout the Rewriter measured fastest at load
    lines = bench_report.goals(report)
    picked = openvino if bf16 else int8
    assert lines[1] == f"goals, for the settings the Rewriter picks on this CPU ({picked}):"
    assert lines[2].startswith(f"- {450.0 if bf16 else 150.0} new tok/s at batch 16")
    onnx = f"ONNX Runtime GenAI ({bench_report.PROJECT_ONNX}), one question at a time"
    report["engines"].update({onnx: {**row(60.0), "ms_alone": 1.5}, "llama.cpp": {**row(90.0), "ms_alone": 1.8}})
    lines = bench_report.goals(report)
    assert lines[1] == f"goals, for the settings the Rewriter picks on this CPU ({picked}; one question alone: {onnx}):"
    assert lines[2].startswith(f"- {450.0 if bf16 else 150.0} new tok/s")  # batches: still the batch engine's
    assert lines[3] == "- one question alone: 1.5 ms; the fastest peer, llama.cpp, 1.8 ms (goal: no slower): met"
    if bf16:  # on Intel no split (not measured there): the onnx row is a figure only
        monkeypatch.setattr(cpu, "cpu_vendor", lambda: "GenuineIntel")
        lines = bench_report.goals(report)
        assert lines[1] == f"goals, for the settings the Rewriter picks on this CPU ({openvino}):"
        assert lines[3].startswith("- one question alone: 2.0 ms;") and lines[3].endswith("not met")


def test_the_ceilings_passes_follow_the_decoding_of_each_group():
    # prompts of 20, 22 and 30 tokens sharing a 10-token prefix; 3, 1 and 2 new tokens each; batch 2
    schedule = list(bench_ceiling.passes([20, 22, 30], [3, 1, 2], 10, 2))
    assert schedule == [(22, 2), (1, 1), (1, 1), (20, 1), (1, 1)]  # each group's prompts, then a step per token
    assert list(bench_ceiling.passes([20], [1], 10, 1)) == [(10, 1)]  # one new token: the prompt's pass only


def test_the_ceiling_counts_the_new_tokens_over_the_passes_time():
    time_rows = lambda kind, rows: rows * (0.001 if kind == "blocks" else 0.01)
    top = bench_ceiling.ceiling([20, 22, 30], [3, 1, 2], 10, 2, time_rows)
    batched = (22 + 1 + 1 + 20 + 1) * 0.001 + (2 + 1 + 1 + 1 + 1) * 0.01
    assert top["tokens_per_s_batch"] == round(6 / batched, 1)
    alone = [0.010 + 0.01 + 2 * 0.011, 0.012 + 0.01, 0.020 + 0.01 + 0.011]  # the prompt's pass, then 1 row a step
    assert top["ms_alone"] == round(1000 * sorted(alone)[1], 1)


def test_the_ceilings_layers_are_the_models_and_run_in_int8():
    config = {"hidden_size": 576, "intermediate_size": 1536, "num_attention_heads": 9, "num_key_value_heads": 3,
              "num_hidden_layers": 30, "vocab_size": 49152}  # SmolLM2-135M's
    block, output = bench_ceiling.layer_shapes(config)
    assert sum(a * b for a, b in block) + output[0] * output[1] == 134_515_008 - 61 * 576  # but the norms
    tiny = {**config, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
            "num_hidden_layers": 2, "vocab_size": 100}
    time_rows = bench_ceiling.int8_timer(tiny, 1)
    first = time_rows("blocks", 5)
    assert first > 0 and time_rows("blocks", 5) == first and time_rows("output", 5) > 0  # timed once, remembered


def test_the_goal_says_when_the_ceiling_puts_it_out_of_reach():
    row = {"size_mb": 1.0, "ms_alone": 2.0, "tokens_per_s_batch": 150.0, "same_as_fp32_alone": 1.0,
           "same_as_fp32_batch": 0.98, "bleu_batch": 50.0}
    int8 = "CTranslate2 int8, CT2_USE_MKL=0, 1 worker(s) x 2 thread(s), static prompt on"
    report = {"batch": 16, "engines": {"fp32": row, int8: row}, "cpu": "c", "threads": 2, "date": "d",
              "questions": 2, "data": "d", "model": "m", "could_not_run": {}, "ct2_backends": {},
              "int8_layout": {"workers": 1, "threads": 2}}
    for speed, said in ((250.0, "; out of reach on this CPU at batch 16: the ceiling is 250.0"), (900.0, "")):
        report["ceiling"] = {"ms_alone": 90.0, "tokens_per_s_batch": speed}
        table = bench_report.markdown(report)
        assert f"the shared prompt prefix once; no attention, no overhead): 90.0 ms one question alone, {speed} new " \
               f"tok/s at batch 16" in table
        assert "\n- 150.0 new tok/s at batch 16 (goal >= 400): not met" + said + "\n" in table
    report["ceiling"] = {"could_not_run": "exited 1: no torch"}
    assert "ceiling: could not be measured: exited 1: no torch" in bench_report.markdown(report)


@pytest.mark.slow
def test_a_run_on_a_tiny_model(tiny_model_dir, tmp_path, pair_files):
    best = tmp_path / "weights" / "tiny" / "best"
    shutil.copytree(tiny_model_dir, best)
    quantize(str(best), best.parent / "int8")
    for kind in ("openvino", "onnx"):  # the openvino and onnx engines' rows
        export_converted_dir(kind, str(best), best.parent / kind)
    reports = tmp_path / "reports"
    done = run_script("bench_engines.py", "--model", "weights/tiny/best", "--data", pair_files[1], "--limit", "2",
                      "--batch", "2", "--reports", "reports", cwd=tmp_path)  # paths relative to a user's folder
    report = json.loads((reports / "bench_engines.json").read_text())
    fp32 = report["engines"]["fp32 transformers (reference)"]
    assert fp32["same_as_fp32_alone"] == 1.0 and report["questions"] == 2 and report["batch"] == 2
    ct2 = [label for label in report["engines"] if label.startswith("CTranslate2 int8, CT2_USE_MKL=0")]
    assert len(ct2) == 4  # two thread layouts, static prompt on and off
    openvino = next(m for label, m in report["engines"].items()
                    if label.startswith("OpenVINO GenAI") and "2 at a time" in label)
    assert openvino["ms_alone"] > 0 and openvino["tokens_per_s_batch"] > 0 and openvino["size_mb"] > 0
    onnx = next(m for label, m in report["engines"].items() if bench_report.PROJECT_ONNX in label)
    assert onnx["ms_alone"] > 0 and onnx["same_as_fp32_alone"] >= 0.5 and onnx["size_mb"] > 0
    llama = next(why for label, why in report["could_not_run"].items() if "llama.cpp" in label)
    assert "no --peers-python given" in llama
    assert report["ceiling"]["tokens_per_s_batch"] > 0 and report["ceiling"]["ms_alone"] > 0
    layout = report["int8_layout"]  # measured as the Rewriter does at load, and cached beside the int8 model
    assert layout["workers"] * layout["threads"] == 2 and (best.parent / "int8" / "engine_layouts.json").is_file()
    assert (reports / "bench_engines.md").read_text() in done.stdout


def test_a_conversion_never_deletes_a_folder_it_did_not_write(tmp_path):
    mine = tmp_path / "gguf.partial"  # the name an interrupted conversion used to leave, and delete
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's file")

    def fails(out):
        (out / "half.bin").write_bytes(b"x")
        raise bench_engines.CannotRun("converter crashed")

    with pytest.raises(bench_engines.CannotRun, match="crashed"):
        bench_engines.converted(tmp_path / "gguf", "model.gguf", fails)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gguf.partial"]  # its own half-written files gone
    assert (mine / "notes.txt").read_text() == "a user's file"

    (tmp_path / "gguf").mkdir()  # an empty folder is filled
    done = bench_engines.converted(tmp_path / "gguf", "model.gguf", lambda out: (out / "model.gguf").write_bytes(b"m"))
    assert (done / "model.gguf").read_bytes() == b"m" and (mine / "notes.txt").is_file()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.txt").write_text("kept")
    with pytest.raises(bench_engines.CannotRun, match="holds files but no model.gguf"):
        bench_engines.converted(tmp_path / "other", "model.gguf", lambda out: None)
    assert (tmp_path / "other" / "a.txt").read_text() == "kept"
    (tmp_path / "link").symlink_to(tmp_path / "empty", target_is_directory=True)  # a link to the user's folder
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("mine")
    for name in ("link", "file"):
        with pytest.raises(bench_engines.CannotRun, match="is a link or not a folder"):
            bench_engines.converted(tmp_path / name, "model.gguf", lambda out: (out / "model.gguf").write_bytes(b"m"))
    assert (tmp_path / "link").is_symlink() and not any((tmp_path / "empty").iterdir())
    assert (tmp_path / "file").read_text() == "mine"


def test_a_batch_larger_than_the_questions_is_refused(tiny_model_dir, pair_files):
    for args, words in ((["--limit", "2", "--batch", "4"], "2 pairs measured (--limit 2), fewer than --batch 4"),
                        (["--limit", "50", "--batch", "16"], "(--limit 50), fewer than --batch 16")):
        done = run_script("bench_engines.py", "--model", tiny_model_dir, "--data", pair_files[1], *args, check=False)
        assert done.returncode == 2 and words in done.stderr and len(done.stderr.strip().splitlines()) == 1
