"""infer_ray.py, the real script joining a local Ray instance of 2 CPUs (--address), on the tiny model: the file
infer.py writes, byte for byte, from the same questions; JSONL input with line numbers as ids; an actor killed
mid-run loses and repeats no record; a resumed run; bad input as one line, exit 2, nothing written."""
import json
import signal
import subprocess
import sys
import time

import psutil
import pytest

from conftest import PAIRS, REPO, run_script

pytestmark = pytest.mark.slow  # starts Ray and runs the scripts on a model

QUESTIONS = [q for q, _ in PAIRS] + ["", "whats teh wether in paris tmrw", "hey how r u", "can i not pay by card"]


@pytest.fixture(scope="module")
def questions_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("infer_ray") / "questions.txt"
    path.write_text("".join(q + "\n" for q in QUESTIONS * 2), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def infer_py_records(tiny_model_dir, questions_file):
    """infer.py's file on the questions, one question an engine call (so that padding cannot differ), one thread
    (as an actor of one CPU has)."""
    out = questions_file.with_name("infer_py.jsonl")
    run_script("infer.py", "--model", tiny_model_dir, "--input", questions_file, "--out", out, "--batch-size", "1",
               env={"OMP_NUM_THREADS": "1"})
    return out.read_bytes()


def infer_ray(model, ray_cluster, *args, check=True):
    return run_script("infer_ray.py", "--model", model, "--address", ray_cluster, *args, check=check)


def test_the_file_is_infer_pys_byte_for_byte(tiny_model_dir, ray_cluster, questions_file, infer_py_records):
    out = questions_file.with_name("infer_ray.jsonl")
    result = infer_ray(tiny_model_dir, ray_cluster, "--input", questions_file, "--out", out, "--batch-size", "1",
                       "--chunk-size", "5")
    assert out.read_bytes() == infer_py_records
    assert len(infer_py_records.splitlines()) == 2 * len(QUESTIONS)
    assert "rewrote 24 questions" in result.stderr and not out.with_name(out.name + ".partial").exists()


def test_jsonl_records_carry_their_line_numbers(tiny_model_dir, ray_cluster, questions_file, infer_py_records):
    source = questions_file.with_name("questions.jsonl")
    lines = [json.dumps({"input": q, "user": i}) for i, q in enumerate(QUESTIONS)]
    source.write_text("\n".join(lines[:3] + ["", "   "] + lines[3:]) + "\n", encoding="utf-8")  # blank lines skipped
    out = questions_file.with_name("with_ids.jsonl")
    infer_ray(tiny_model_dir, ray_cluster, "--input", source, "--out", out, "--batch-size", "1", "--ids")
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == [1, 2, 3] + list(range(6, 6 + len(QUESTIONS) - 3))
    expected = [json.loads(line) for line in infer_py_records.decode().splitlines()][:len(QUESTIONS)]
    assert [{k: v for k, v in r.items() if k != "id"} for r in records] == expected


def actor_processes():
    """The Rewriter actors' processes: descendants of this process, which started the Ray instance."""
    return [p for p in psutil.Process().children(recursive=True) if "RewriteChunk" in " ".join(p.cmdline())]


def test_an_actor_killed_mid_run_loses_and_repeats_no_record(tiny_model_dir, ray_cluster, tmp_path):
    source, out = tmp_path / "many.txt", tmp_path / "many.jsonl"
    questions = [f"{q} ({i})" for i in range(25) for q in QUESTIONS]  # 300, each distinct
    source.write_text("".join(q + "\n" for q in questions), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "infer_ray.py", "--model", str(tiny_model_dir), "--address", ray_cluster,
                             "--input", str(source), "--out", str(out), "--chunk-size", "4", "--retry-beams", "1"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    partial = out.with_name(out.name + ".partial")
    end = time.monotonic() + 600
    while not (partial.exists() and len(partial.read_bytes().splitlines()) >= 8):
        assert proc.poll() is None and time.monotonic() < end, "the job ended before any actor could be killed"
        time.sleep(0.2)
    victims = actor_processes()
    assert len(victims) == 2
    victims[0].send_signal(signal.SIGKILL)
    assert proc.poll() is None and not out.exists()  # killed mid-run
    _, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr[-3000:]
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["input"] for r in records] == questions
    assert all(r["rewrite"] for r in records if r["input"])


def test_a_resumed_run_finishes_the_file(tiny_model_dir, ray_cluster, questions_file, infer_py_records):
    out = questions_file.with_name("resumed.jsonl")
    head = b"".join(infer_py_records.splitlines(keepends=True)[:7])
    out.with_name(out.name + ".partial").write_bytes(head + b'{"input": "torn')  # an interrupted run's file
    infer_ray(tiny_model_dir, ray_cluster, "--input", questions_file, "--out", out, "--batch-size", "1", "--resume")
    assert out.read_bytes() == infer_py_records


@pytest.mark.parametrize("case", ["missing input", "json list", "bad jsonl line", "out is input", "partial left"])
def test_bad_input_is_one_line_and_writes_nothing(case, tiny_model_dir, tmp_path):
    source, out = tmp_path / "q.txt", tmp_path / "out.jsonl"
    source.write_text("how do i reset my pasword pls\n", encoding="utf-8")
    args = {"missing input": ["--input", tmp_path / "nothing.txt", "--out", out],
            "json list": ["--input", tmp_path / "q.json", "--out", out],
            "bad jsonl line": ["--input", tmp_path / "q.jsonl", "--out", out],
            "out is input": ["--input", source, "--out", source],
            "partial left": ["--input", source, "--out", out]}[case]
    (tmp_path / "q.json").write_text('["a question"]', encoding="utf-8")
    (tmp_path / "q.jsonl").write_text('{"input": "fine"}\n{"input": \n', encoding="utf-8")
    if case == "partial left":
        out.with_name("out.jsonl.partial").write_text("", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = run_script("infer_ray.py", "--model", tiny_model_dir, *args, check=False)
    assert result.returncode == 2 and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
