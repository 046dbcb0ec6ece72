"""Nothing a user owns is destroyed, and every mistake gets one clear line (exit 2, nothing changed).

Each row of BAD_INPUTS runs one script as a user would, in a workspace holding a user's files (a dataset, a
model, an earlier run, an int8 model, a folder of their own, a FIFO, a symbolic link). The script must exit
2 with one line that says what is wrong, and every file of the workspace must be byte-identical afterwards.
"""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import PAIRS, REPO, run_script


def snapshot(root):
    """Every path under root with its kind and bytes: what must not change."""
    state = {}
    for path in sorted(Path(root).rglob("*")):
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            state[str(path)] = ("link", os.readlink(path))
        elif stat.S_ISREG(mode):
            state[str(path)] = ("file", path.read_bytes())
        else:
            state[str(path)] = ("dir" if stat.S_ISDIR(mode) else "special", None)
    return state


@pytest.fixture(scope="module")
def int8_model(tiny_model_dir, tmp_path_factory):
    from quantize import quantize
    out = tmp_path_factory.mktemp("int8") / "int8"
    quantize(str(tiny_model_dir), out)
    return out


@pytest.fixture
def workspace(tmp_path, tiny_model_dir, int8_model):
    """A user's folder: dataset JSON, a model, an earlier finetune run, an int8 model, their own files."""
    ws = tmp_path / "ws"
    (ws / "dataset").mkdir(parents=True)
    for name, pairs in (("train", PAIRS[:6]), ("valid", PAIRS[6:])):
        (ws / "dataset" / f"{name}.json").write_text(json.dumps([{"input": i, "output": o} for i, o in pairs]))
    (ws / "dataset" / "generate.py").write_text("# the user's generator\n")
    shutil.copytree(tiny_model_dir, ws / "model")
    shutil.copytree(int8_model, ws / "int8")
    run = ws / "run"  # an earlier finetune.py run
    (run / "checkpoints" / "checkpoint-3").mkdir(parents=True)
    (run / "checkpoints" / "checkpoint-3" / "trainer_state.json").write_text("{}")
    shutil.copytree(tiny_model_dir, run / "best")
    for folder in (run, run / "best"):
        (folder / ".qrewrite-owner.json").write_text('{"written_by": "finetune.py", "files": {}}')
    (ws / "half" / "best").mkdir(parents=True)  # a run folder of ours holding a best/ that is not
    (ws / "half" / ".qrewrite-owner.json").write_text('{"written_by": "finetune.py", "files": {}}')
    (ws / "half" / "best" / "model.safetensors").write_text("the user's model")
    (ws / "mine").mkdir()
    (ws / "linked" / "best").mkdir(parents=True)  # a run folder of ours whose checkpoints/ links to the user's
    (ws / "linked" / ".qrewrite-owner.json").write_text('{"written_by": "finetune.py", "files": {}}')
    (ws / "linked" / "checkpoints").symlink_to(ws / "mine")
    (ws / "mine" / "notes.txt").write_text("the user's notes\n")
    (ws / "questions.txt").write_text("hi waht is teh capital\nhow do i reset my pasword\n")
    (ws / "latin1.txt").write_bytes("caf\xe9 ou th\xe9?\n".encode("latin-1"))
    (ws / "bad.jsonl").write_text('{"input": "hi"}\n\n{"input": "ok" oops}\n')
    (ws / "empty.json").write_text("[]")
    os.mkfifo(ws / "fifo")
    (ws / "link.jsonl").symlink_to(ws / "mine" / "notes.txt")
    (ws / "linkdir").symlink_to(ws / "mine")
    (ws / "a").mkdir()
    (ws / "b").mkdir()
    shutil.copy(ws / "dataset" / "valid.json", ws / "a" / "valid.json")
    shutil.copy(ws / "dataset" / "valid.json", ws / "b" / "valid.json")
    return ws


DATA = ["--train", "{ws}/dataset/train.json", "--valid", "{ws}/dataset/valid.json"]
# (script, arguments with {ws} for the workspace, words the one-line message must hold)
BAD_INPUTS = [
    ("datamod.py", DATA + ["--limit-train", "16", "--out", "{ws}/dataset"], "holds the input"),
    ("datamod.py", DATA + ["--out", "{ws}"], "holds the input"),
    ("datamod.py", DATA + ["--out", "{ws}/questions.txt"], "not a folder"),
    ("datamod.py", DATA + ["--out", "{ws}/mine"], "holds files not written by datamod.py"),
    ("datamod.py", DATA + ["--out", "{ws}/linkdir"], "symbolic link"),
    ("datamod.py", DATA + ["--out", "{ws}/run/best"], "written by finetune.py"),
    ("datamod.py", DATA + ["--limit-train", "0", "--out", "{ws}/new"], "--limit-train"),
    ("datamod.py", DATA + ["--limit-valid", "-1", "--out", "{ws}/new"], "--limit-valid"),
    ("datamod.py", ["--train", "{ws}/empty.json", "--valid", "{ws}/dataset/valid.json", "--out", "{ws}/new"],
     "the list is empty"),
    ("datamod.py", ["--train", "{ws}/latin1.txt", "--valid", "{ws}/dataset/valid.json", "--out", "{ws}/new"],
     "not valid JSON"),
    ("infer.py", ["--model", "{ws}/model", "--input", "{ws}/questions.txt", "--out", "{ws}/link.jsonl"],
     "symbolic link"),
    ("infer.py", ["--model", "{ws}/model", "--input", "{ws}/questions.txt", "--out", "{ws}/fifo"],
     "not a regular file"),
    ("infer.py", ["--model", "{ws}/model", "--input", "{ws}/questions.txt", "--out", "{ws}/questions.txt"],
     "is the input"),
    ("infer.py", ["--model", "{ws}/model", "--input", "{ws}/questions.txt", "--out", "{ws}/mine"],
     "not a regular file"),
    ("infer.py", ["--model", "{ws}/model", "--protect", "{ws}/nope.txt", "hi"], "--protect"),
    ("infer.py", ["--model", "{ws}/model", "--protect", "{ws}/latin1.txt", "hi"], "not UTF-8"),
    ("infer.py", ["--model", "{ws}/model", "--batch-size", "0", "hi"], "--batch-size"),
    ("infer.py", ["--model", "{ws}/model", "--batch-size", "-1", "hi"], "--batch-size"),
    ("infer.py", ["--model", "{ws}/model", "--beams", "0", "hi"], "--beams"),
    ("infer.py", ["--model", "{ws}/model", "--retry-beams", "0", "hi"], "--retry-beams"),
    ("infer.py", ["--model", "{ws}/model", "--input", "{ws}/latin1.txt"], "not UTF-8"),
    ("infer.py", ["--model", "{ws}/model", "--input", "{ws}/bad.jsonl"], "line 3"),
    ("infer.py", ["--model", "nope/model", "hi"], "nope/model"),
    ("infer.py", ["--model", "{ws}/run/best", "--backend", "int8", "hi"], "quantize.py"),
    ("infer_ray.py", ["--model", "{ws}/model", "--input", "{ws}/questions.txt", "--out", "{ws}/link.jsonl"],
     "symbolic link"),
    ("infer_ray.py", ["--model", "{ws}/model", "--input", "{ws}/questions.txt", "--out", "{ws}/fifo"],
     "not a regular file"),
    ("infer_ray.py", ["--model", "{ws}/model", "--input", "{ws}/questions.txt", "--out", "{ws}/questions.txt"],
     "is the input"),
    ("infer_ray.py", ["--model", "{ws}/model", "--input", "{ws}/latin1.txt", "--out", "{ws}/new.jsonl"],
     "not UTF-8"),
    ("infer_ray.py", ["--model", "{ws}/model", "--input", "{ws}/bad.jsonl", "--out", "{ws}/new.jsonl"], "line 3"),
    ("infer_ray.py", ["--model", "nope/model", "--input", "{ws}/questions.txt", "--out", "{ws}/new.jsonl"],
     "nope/model"),
    ("infer_ray.py", ["--model", "{ws}/model", "--input", "{ws}/questions.txt", "--out", "{ws}/new.jsonl",
                      "--chunk-size", "0"], "--chunk-size"),
    ("serve_ray.py", ["--model", "nope/model"], "nope/model"),
    ("serve_ray.py", ["--model", "{ws}/model", "--max-batch", "0"], "--max-batch"),
    ("finetune.py", ["--overwrite", "--data", "{ws}/typo", "--model", "{ws}/model", "--out", "{ws}/run",
                     "--reports", "{ws}/outputs"], "no dataset"),
    ("finetune.py", ["--overwrite", "--epochs", "0", "--out", "{ws}/run"], "--epochs"),
    ("finetune.py", ["--batch-size", "0", "--out", "{ws}/run"], "--batch-size"),
    ("finetune.py", ["--lr", "-1", "--out", "{ws}/run"], "--lr"),
    ("finetune.py", ["--data", "{ws}/dataset", "--model", "{ws}/model", "--out", "{ws}/mine"],
     "holds files not written by finetune.py"),
    ("finetune.py", ["--data", "{ws}/dataset", "--model", "{ws}/model", "--out", "{ws}/half", "--reports",
                     "{ws}/outputs"], "half/best: holds files not written by finetune.py"),
    ("finetune.py", ["--data", "{ws}/dataset", "--model", "{ws}/model", "--out", "{ws}/run", "--reports",
                     "{ws}/outputs"], "--resume"),
    ("finetune.py", ["--data", "{ws}/dataset", "--model", "{ws}/model", "--out", "{ws}/new", "--reports",
                     "{ws}/mine"], "holds files not written"),
    ("finetune.py", ["--overwrite", "--data", "{ws}/dataset", "--model", "{ws}/model", "--out", "{ws}/linked",
                     "--reports", "{ws}/outputs"], "linked/checkpoints: a link or a file"),
    ("score.py", ["--model", "{ws}/model", "--data", "{ws}/a/valid.json", "{ws}/b/valid.json", "--reports",
                     "{ws}/out"], "also named 'valid'"),
    ("score.py", ["--model", "{ws}/model", "--data", "{ws}/dataset/valid.json", "--limit", "0"], "--limit"),
    ("score.py", ["--model", "{ws}/model", "--data", "{ws}/dataset/valid.json", "--reports", "{ws}/mine"],
     "holds files not written"),
    ("score.py", ["--model", "{ws}/model", "--data", "{ws}/dataset/valid.json", "--reports", "{ws}/dataset"],
     "holds the input"),
    ("score.py", ["--model", "{ws}/model", "--data", "{ws}/empty.json", "--reports", "{ws}/out"],
     "the list is empty"),
    ("quantize.py", ["--model", "{ws}/model", "--out", "{ws}/model", "--skip-benchmark"], "holds the input"),
    ("quantize.py", ["--model", "{ws}/model", "--out", "{ws}/mine", "--skip-benchmark"],
     "holds files not written by quantize.py"),
    ("quantize.py", ["--model", "{ws}/model", "--out", "{ws}/run/best", "--skip-benchmark"],
     "written by finetune.py"),
    ("quantize.py", ["--model", "{ws}/model", "--out", "{ws}/new", "--limit", "0"], "--limit"),
    ("quantize.py", ["--model", "{ws}/model", "--out", "{ws}/new", "--calibration", "{ws}/nope.json",
                     "--skip-benchmark"], "nope.json"),
    ("quantize.py", ["--model", "{ws}/model", "--out", "{ws}/new", "--calibration", "{ws}/empty.json",
                     "--skip-benchmark"], "the list is empty"),
]


@pytest.mark.slow
@pytest.mark.parametrize("script, args, words", BAD_INPUTS, ids=[f"{s}:{' '.join(a[-2:])}" for s, a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_changes_nothing(workspace, script, args, words):
    before = snapshot(workspace)
    result = run_script(script, *[a.format(ws=workspace) for a in args], check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], result.stderr[-2000:]
    assert snapshot(workspace) == before


@pytest.mark.slow
def test_non_utf8_stdin_is_one_line(tiny_model_dir):
    result = subprocess.run([sys.executable, "infer.py", "--model", str(tiny_model_dir)], cwd=REPO,
                            input="caf\xe9?\n".encode("latin-1"), capture_output=True, timeout=300)
    assert result.returncode == 2 and result.stderr.decode().strip() == (
        "error: stdin: line 1: not UTF-8 text (invalid continuation byte); save it as UTF-8")


def test_byte_order_mark_is_read(tiny_model_dir, tmp_path):
    source = tmp_path / "q.txt"
    source.write_bytes("\ufeffhi waht is teh capital\n".encode("utf-8"))
    from qrewrite.stream import read_questions
    assert list(read_questions(source)) == ["hi waht is teh capital"]


def test_int8_folder_without_tokenizer_or_with_garbage(int8_model, tmp_path):
    from qrewrite.errors import ModelError
    from qrewrite.rewriter import Rewriter

    no_tokenizer = tmp_path / "no-tokenizer"
    no_tokenizer.mkdir()
    for name in ("model.bin", "config.json", "vocabulary.json"):
        shutil.copy(int8_model / name, no_tokenizer / name)
    with pytest.raises(ModelError, match="tokenizer"):
        Rewriter(str(no_tokenizer))
    garbage = tmp_path / "garbage"
    shutil.copytree(int8_model, garbage)
    data = bytearray((garbage / "model.bin").read_bytes())
    data[len(data) // 2:len(data) // 2 + 4096] = os.urandom(4096)  # the header stays valid
    (garbage / "model.bin").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        Rewriter(str(garbage))


@pytest.mark.slow
def test_outputs_are_replaced_only_where_owned(workspace):
    # A second run into its own folder replaces it; the folder it made holds nothing stale.
    args = ["datamod.py", "--train", workspace / "dataset/train.json", "--valid", workspace / "dataset/valid.json",
            "--out", workspace / "processed"]
    run_script(*args)
    (workspace / "processed" / "stale.txt").write_text("left from an older run")
    run_script(*args, "--limit-train", "2")
    assert not (workspace / "processed" / "stale.txt").exists()
    assert json.loads((workspace / "processed" / ".qrewrite-owner.json").read_text())["written_by"] == "datamod.py"


@pytest.mark.slow
def test_kill_during_training_then_resume_gives_identical_weights(tmp_path, pair_files, tiny_model_dir):
    from safetensors.torch import load_file

    data = tmp_path / "processed"
    run_script("datamod.py", "--train", pair_files[0], "--valid", pair_files[1], "--out", data)
    common = ["finetune.py", "--data", data, "--model", tiny_model_dir, "--epochs", "6", "--batch-size", "2",
              "--lr", "1e-3"]
    run_script(*common, "--out", tmp_path / "whole", "--reports", tmp_path / "o1")

    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, *map(str, common), "--out", killed, "--reports", tmp_path / "o2"],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = killed / "checkpoints" / "checkpoint-3" / "trainer_state.json"
    deadline = time.time() + 600
    while not first.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL and not (killed / "best").exists()  # it really died mid-run
    run_script(*common, "--out", killed, "--reports", tmp_path / "o2", "--resume")
    whole, resumed = (load_file(str(d / "best" / "model.safetensors")) for d in (tmp_path / "whole", killed))
    assert whole.keys() == resumed.keys() and all((whole[k] == resumed[k]).all() for k in whole)


@pytest.mark.slow
def test_unknown_split_and_empty_train_split(workspace):
    from datasets import Dataset, DatasetDict

    processed = workspace / "processed"
    run_script("datamod.py", "--train", workspace / "dataset/train.json", "--valid", workspace / "dataset/valid.json",
               "--out", processed)
    empty_train = workspace / "empty-train"
    DatasetDict({"train": Dataset.from_list([{"input": "a", "output": "b"}]).select([]),
                 "valid": Dataset.from_list([{"input": "a", "output": "b"}])}).save_to_disk(str(empty_train))
    before = snapshot(workspace)
    cases = [(["score.py", "--model", workspace / "model", "--data", processed, "--splits", "test"],
              "--splits test"),
             (["finetune.py", "--data", empty_train, "--model", workspace / "model", "--out", workspace / "new",
               "--reports", workspace / "outputs"], "--data")]
    for args, words in cases:
        result = run_script(*args, check=False)
        assert result.returncode == 2 and result.stderr.strip().splitlines() == [result.stderr.strip()]
        assert words in result.stderr
    assert snapshot(workspace) == before


@pytest.mark.slow
def test_resume_from_a_checkpoint_inside_an_epoch_gives_identical_weights(tmp_path, pair_files, tiny_model_dir):
    from safetensors.torch import load_file

    data = tmp_path / "processed"
    run_script("datamod.py", "--train", pair_files[0], "--valid", pair_files[1], "--out", data)
    common = ["finetune.py", "--data", data, "--model", tiny_model_dir, "--epochs", "1", "--evals-per-epoch", "2",
              "--batch-size", "1", "--lr", "1e-3"]
    run_script(*common, "--out", tmp_path / "whole", "--reports", tmp_path / "o1")
    checkpoints = sorted((tmp_path / "whole" / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name[11:]))
    assert len(checkpoints) == 2  # one inside the epoch, one at its end

    stopped = tmp_path / "stopped"  # the run as a kill right after its first checkpoint leaves it
    shutil.copytree(tmp_path / "whole", stopped, symlinks=True)
    shutil.rmtree(stopped / "best")
    shutil.rmtree(stopped / "checkpoints" / checkpoints[1].name)
    run_script(*common, "--out", stopped, "--reports", tmp_path / "o2", "--resume")
    whole, resumed = (load_file(str(d / "best" / "model.safetensors")) for d in (tmp_path / "whole", stopped))
    assert whole.keys() == resumed.keys() and all((whole[k] == resumed[k]).all() for k in whole)


def test_the_training_order_is_the_seeds_and_the_epochs_alone():
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from finetune import EpochSeededOrder

    def order(seed, epoch, noise):
        torch.manual_seed(noise)  # the global random state, which a resumed run does not share
        sampler = EpochSeededOrder(LengthGroupedSampler(4, lengths=[i % 7 + 1 for i in range(64)]), seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert order(42, 0, noise=1) == order(42, 0, noise=2)
    assert order(42, 0, noise=1) != order(42, 1, noise=1) and sorted(order(42, 1, noise=1)) == list(range(64))
    assert order(42, 0, noise=1) != order(43, 0, noise=1)


def test_a_reports_folder_made_inside_another_leaves_both_usable(tmp_path):
    from qrewrite.paths import OutputError, check_reports_dir, open_reports_dir

    users = tmp_path / "mine"
    users.mkdir()
    (users / "notes.txt").write_text("a user's file")
    open_reports_dir(check_reports_dir(tmp_path / "outputs" / "int8" / "bench", ["metrics.json"]))
    assert check_reports_dir(tmp_path / "outputs" / "int8", ["metrics.json"])  # made above: ours, usable
    open_reports_dir(check_reports_dir(users / "bench", ["metrics.json"]))
    with pytest.raises(OutputError, match="holds files not written by"):
        check_reports_dir(users, ["metrics.json"])  # the user's folder is not claimed
