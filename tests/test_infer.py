"""Inference: each input form, the fallback, long and empty inputs, and refusing a bad model."""
import json
import shutil

import pytest

from conftest import run_script
from qrewrite.errors import ModelError
from qrewrite.modeling import load_model
from qrewrite.rewriter import MAX_INPUT_TOKENS, Rewriter, fallback_reason, guarded_rewrite, pick_candidate


@pytest.fixture(scope="module")
def rewriter(tiny_model_dir):
    return Rewriter(str(tiny_model_dir), batch_size=4, device="cpu")


def test_fallback_reasons():
    question = "hey waht is teh capital of frnace"
    assert fallback_reason(question, "What is the capital of France?") is None
    assert fallback_reason(question, "   ") == "empty"
    assert fallback_reason(question, "The capital of France is Paris.") == "not a question"
    assert fallback_reason(question, "What " * 40 + "?") == "longer than input"


def test_rewrite_keeps_order_empty_lines_and_falls_back(rewriter):
    questions = ["hi waht is teh capital of frnace? thx", "", "how do i reset my pasword pls"]
    records = rewriter.rewrite_records(questions)
    assert [r["input"] for r in records] == questions
    assert records[1] == {"input": "", "rewrite": "", "raw": "", "fallback": None, "restored": [], "retried": False,
                          "confidence": 1.0, "raw_confidence": 1.0, "edits": []}
    for record in (records[0], records[2]):
        # A random model cannot write a clean question: its output must be flagged and the input kept.
        assert (record["rewrite"], record["fallback"], record["restored"]) == guarded_rewrite(record["input"],
                                                                                             record["raw"])
    assert rewriter.rewrite(questions) == [r["rewrite"] for r in records]


def test_batching_does_not_change_outputs(tiny_model_dir, rewriter):
    questions = ["where is teh eiffel tower", "can i not pay by card", "um when does the store on 5th street open"]
    one_by_one = Rewriter(str(tiny_model_dir), batch_size=1, device="cpu").generate(questions)
    assert rewriter.generate(questions) == one_by_one


def test_pick_candidate_weighs_confidence_against_keeping_the_input():
    question = "does my employer match count toward the 401k limit"
    # The trained model's two best beams on this valid question: the likelier one drops "count toward".
    candidates = [("Does my employer match the 401k limit?", -0.031),
                  ("Does my employer match count toward the 401k limit?", -0.110)]
    assert pick_candidate(question, candidates) == candidates[1][0]
    # Confidence still counts: a far less likely candidate is not picked for copying more of the input.
    assert pick_candidate(question, [candidates[0], (candidates[1][0], -2.0)]) == candidates[0][0]
    # A candidate that would fall back is passed over, unless all would.
    assert pick_candidate(question, [(question, -0.01), candidates[0]]) == candidates[0][0]
    assert pick_candidate(question, [("", -0.1)]) == ""


def test_beam_search_gives_each_question_its_own_beams(tiny_model_dir):
    # Same token count, so the batch has no padding and the same length bound as one-by-one runs.
    questions = ["where is teh eiffel tower", "wat time does teh bank open"]
    batched = Rewriter(str(tiny_model_dir), batch_size=2, device="cpu", beams=3)
    assert batched.prompt_ids(questions[0])[1] == batched.prompt_ids(questions[1])[1]
    one_by_one = Rewriter(str(tiny_model_dir), batch_size=1, device="cpu", beams=3)
    outputs = batched.generate(questions)
    assert outputs == one_by_one.generate(questions) and outputs[0] != outputs[1]


def test_new_tokens_are_bounded_by_input(rewriter):
    output = rewriter.generate(["hi?"])[0]
    assert len(rewriter.tokenizer(output).input_ids) <= 2 * 2 + 16 + 1


def test_long_input_is_cut_with_a_warning(rewriter, capsys):
    ids, n_tokens = rewriter.prompt_ids("word " * (MAX_INPUT_TOKENS + 100))
    assert n_tokens == MAX_INPUT_TOKENS and len(ids) < MAX_INPUT_TOKENS + 40
    assert "cut to" in capsys.readouterr().err


def test_missing_model_is_one_line_error(tmp_path):
    with pytest.raises(ModelError) as err:
        load_model(str(tmp_path / "no-such-model"))
    assert "\n" not in str(err.value) and "no-such-model" in str(err.value)


def test_corrupt_model_is_one_line_error(tiny_model_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in tiny_model_dir.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError) as err:
        load_model(str(broken))
    assert "\n" not in str(err.value) and "cannot load model" in str(err.value)


def test_read_questions_from_each_file_form(tmp_path):
    from qrewrite.stream import read_questions

    expected = ["hi waht is teh capital", "", "how do i reset my pasword"]
    (tmp_path / "q.txt").write_text("hi waht is teh capital\n\nhow do i reset my pasword\n")
    (tmp_path / "q.json").write_text(json.dumps([{"input": q} for q in expected]))
    (tmp_path / "q.jsonl").write_text("".join(json.dumps({"input": q, "id": i}) + "\n" for i, q in enumerate(expected)))
    for name in ("q.txt", "q.json", "q.jsonl"):
        assert list(read_questions(tmp_path / name)) == expected


@pytest.mark.slow
def test_infer_cli_args_stdin_and_files(tiny_model_dir, tmp_path):
    model = ["--model", tiny_model_dir]
    by_args = run_script("infer.py", *model, "hi waht is teh capital", "how do i reset my pasword").stdout
    assert len(by_args.splitlines()) == 2
    by_stdin = run_script("infer.py", *model, stdin="hi waht is teh capital\n\nhow do i reset my pasword\n").stdout
    assert by_stdin.splitlines() == [by_args.splitlines()[0], "", by_args.splitlines()[1]]

    source, out = tmp_path / "q.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"input": "hi waht is teh capital"}\n{"input": "how do i reset my pasword"}\n')
    old_flag = run_script("infer.py", *model, "--input", source, "--output", out, "--batch-size", "2")
    assert "note: --output is now --out" in old_flag.stderr  # the old spelling still works, with a notice
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["input"] for r in records] == ["hi waht is teh capital", "how do i reset my pasword"]
    assert [r["rewrite"] for r in records] == by_args.splitlines()
    assert all(set(r) == {"input", "rewrite", "fallback", "restored", "confidence", "edits"} for r in records)


@pytest.mark.slow
def test_infer_cli_bad_inputs(tiny_model_dir, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"question": "x"}]')
    result = run_script("infer.py", "--model", tiny_model_dir, "--input", bad, check=False)
    assert result.returncode == 2 and "record 0" in result.stderr
    result = run_script("infer.py", "--model", tmp_path / "missing", "hi", check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def big_input(tmp_path, n):
    """n questions, every fifth a repeat and every seventh empty: the order and the empty lines must survive."""
    words = ["waht", "is", "teh", "capital", "of", "frnace", "how", "do", "i", "reset", "my", "pasword", "pls"]
    lines = ["" if i % 7 == 3 else " ".join(words[(i * 3 + k) % len(words)] for k in range(2 + i % 5))
             for i in range(n)]
    source = tmp_path / "many.txt"
    source.write_text("".join(line + "\n" for line in lines))
    return source, lines


@pytest.mark.slow
def test_large_run_streams_in_chunks_and_resumes_after_a_kill(tiny_model_dir, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO
    source, lines = big_input(tmp_path, 120)
    common = ["infer.py", "--model", tiny_model_dir, "--input", source, "--batch-size", "4"]
    whole = tmp_path / "whole.jsonl"
    run_script(*common, "--out", whole)  # one chunk of 512
    records = [json.loads(line) for line in whole.read_text().splitlines()]
    assert [r["input"] for r in records] == lines

    killed = tmp_path / "killed.jsonl"
    partial = tmp_path / "killed.jsonl.partial"
    process = subprocess.Popen([sys.executable, *map(str, common), "--out", killed, "--chunk-size", "10"],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while process.poll() is None and (not partial.exists() or partial.read_text().count("\n") < 30):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL and not killed.exists()  # it really died mid-run
    kept = partial.read_text().count("\n")
    assert 30 <= kept < len(lines) and kept % 10 == 0  # whole chunks, each one written when done
    with open(partial, "a") as handle:  # a chunk cut short: one whole (wrong) record, then a torn one
        handle.write(json.dumps({"input": lines[kept], "rewrite": "Not this one?", "fallback": None}) + "\n")
        handle.write('{"input": "torn')
    refused = run_script(*common, "--out", killed, check=False)
    assert refused.returncode == 2 and "--resume" in refused.stderr and partial.exists()
    run_script(*common, "--out", killed, "--chunk-size", "10", "--resume")
    assert killed.read_bytes() == whole.read_bytes() and not partial.exists()


@pytest.mark.slow
def test_resume_refuses_another_runs_partial_file(tiny_model_dir, tmp_path):
    source, lines = big_input(tmp_path, 12)
    out = tmp_path / "out.jsonl"
    (tmp_path / "out.jsonl.partial").write_text(json.dumps({"input": "something else", "rewrite": "x",
                                                            "fallback": None}) + "\n")
    args = ["infer.py", "--model", tiny_model_dir, "--input", source, "--out", out]
    result = run_script(*args, "--resume", check=False)
    assert result.returncode == 2 and "record 1" in result.stderr and "another run" in result.stderr
    assert not out.exists()
    result = run_script("infer.py", "--model", tiny_model_dir, "--resume", "hi", check=False)
    assert result.returncode == 2 and "--out" in result.stderr


def test_progress_bar_counts_every_question_once(rewriter):
    import io

    from tqdm import tqdm
    questions = ["hi waht is teh capital", "", "hello", "how do i reset my pasword", "wie spät ist es in Berlin"]
    with tqdm(total=len(questions), file=io.StringIO()) as bar:
        rewriter.rewrite_records(questions, progress=bar)
        assert bar.n == len(questions)


@pytest.mark.slow
def test_bench_infer_runs_infer_py_on_the_paths_given_in_the_users_folder(tiny_model_dir, tmp_path, pair_files):
    shutil.copytree(tiny_model_dir, tmp_path / "model")
    done = run_script("bench_infer.py", "--model", "model", "--data", pair_files[1], "--sizes", "3",
                      "--batch-size", "2", "--reports", "reports", cwd=tmp_path)
    report = json.loads((tmp_path / "reports" / "bench_infer.json").read_text())
    assert [(row["questions"], row["peak_rss_mb"] > 0) for row in report["rows"]] == [(3, True)]
    table = (tmp_path / "reports" / "bench_infer.md").read_text()
    assert table.startswith("CPU: ") and table in done.stdout
