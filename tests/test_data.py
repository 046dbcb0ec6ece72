"""Validation of the dataset files: each problem gives one line naming the file and the record."""
import json
import os
import stat

import pytest

from conftest import run_script
from qrewrite.data import check_disjoint, load_pairs, read_mqr, split_pairs, write_json_atomic
from qrewrite.errors import DataError

BAD_FILES = [
    ("{not json", "not valid JSON"),
    ('{"input": "a", "output": "b"}', "expected a JSON list"),
    ('["just a string"]', "record 0: is str"),
    ('[{"input": "hi there?"}]', 'record 0: missing field "output"'),
    ('[{"input": "hi there?", "output": ""}]', 'record 0: field "output" is empty'),
    ('[{"input": "hi there?", "output": "   "}]', 'record 0: field "output" is empty'),
    ('[{"input": 3, "output": "Hi?"}]', 'record 0: field "input" is int'),
    ('[{"input": "a?", "output": "A?"}, {"input": "a?", "output": "A?"}]', "record 1: duplicate of record 0"),
    ('[{"input": "a?", "output": "A?", "family": 3}]', 'record 0: field "family" is int'),
]


@pytest.mark.parametrize("content, message", BAD_FILES)
def test_bad_file_names_file_and_record(tmp_path, content, message):
    path = tmp_path / "train.json"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        load_pairs(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_pairs(tmp_path / "nope.json")


def test_good_file_loads(pair_files):
    train = load_pairs(pair_files[0])
    assert len(train) == 6 and set(train[0]) == {"input", "output"}


def test_family_label_is_kept_and_reaches_the_processed_dataset(tmp_path):
    from datasets import load_from_disk

    from datamod import save_dataset

    path = tmp_path / "pairs.json"
    path.write_text(json.dumps([{"input": "waht is it?", "output": "What is it?", "family": "noise", "x": 1}]))
    pairs = load_pairs(path)
    assert pairs == [{"input": "waht is it?", "output": "What is it?", "family": "noise"}]
    save_dataset(pairs, pairs, tmp_path / "with")
    assert load_from_disk(str(tmp_path / "with"))["valid"].column_names == ["input", "output", "family"]
    unlabelled = [{"input": "hw r u?", "output": "How are you?"}]
    save_dataset(pairs, unlabelled, tmp_path / "without")  # a label on one split only: no family column at all
    dataset = load_from_disk(str(tmp_path / "without"))
    assert dataset["train"].column_names == dataset["valid"].column_names == ["input", "output"]


def test_same_pair_in_both_splits_is_refused():
    pairs = [{"input": "a?", "output": "A?"}]
    with pytest.raises(DataError, match=r"valid.json: record 0: same pair as train.json record 0"):
        check_disjoint("train.json", pairs, "valid.json", pairs)


def test_datamod_empty_output_exits_2_and_writes_nothing(tmp_path, pair_files):
    train, valid = pair_files
    records = json.loads(train.read_text())
    records[2]["output"] = ""
    train.write_text(json.dumps(records))
    out = tmp_path / "processed"
    result = run_script("datamod.py", "--train", train, "--valid", valid, "--out", out, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(train) in lines[0] and "record 2" in lines[0] and "empty" in lines[0]
    assert not out.exists()


def test_datamod_saves_dataset(tmp_path, pair_files):
    from datasets import load_from_disk

    out = tmp_path / "processed"
    run_script("datamod.py", "--train", pair_files[0], "--valid", pair_files[1], "--out", out)
    dataset = load_from_disk(str(out))
    assert dataset["train"].num_rows == 6 and dataset["valid"].num_rows == 2
    assert dataset["train"][0] == json.loads(pair_files[0].read_text())[0]


MQR_LINES = [
    "\tUnnamed: 0\tUnnamed: 0.1\tID\till formed\twell formed\tcategory",
    "1\t1\t1\t1\tSpaghetti carbonara, mixing\tHow to mix a spaghetti carbonara?\tcooking",
    "2\t2\t2\t2\tpython list sort reverse\tHow do I sort a list in reverse in Python?\tstackoverflow",
    "3\t3\t3\t3\tbest lens 4 portraits\tWhich lens is best for portraits?\tphoto",
    "4\t4\t4\t4\tbest lens 4 portraits\tWhich lens is best for portraits?\tphoto",
    "5\t5\t5\t5\tgit undo last commit\tHow do I undo the last commit in git?\tsuperuser",
]


def test_mqr_import(tmp_path):
    tsv = tmp_path / "mini.tsv"
    tsv.write_text("\n".join(MQR_LINES) + "\n")
    pairs = read_mqr(tsv)
    assert pairs[0] == {"input": "Spaghetti carbonara, mixing", "output": "How to mix a spaghetti carbonara?"}
    assert len(pairs) == 4  # the repeated row is kept once
    train, valid = split_pairs(pairs, 0.25, seed=0)
    assert len(valid) == 1 and len(train) == 3
    assert not {p["input"] for p in train} & {p["input"] for p in valid}
    assert split_pairs(pairs, 0.25, seed=0) == (train, valid)


def test_mqr_bad_header(tmp_path):
    tsv = tmp_path / "bad.tsv"
    tsv.write_text("question\tanswer\nA\tB\n")
    with pytest.raises(DataError, match="header lacks"):
        read_mqr(tsv)


def test_datamod_from_mqr_never_overwrites(tmp_path):
    tsv = tmp_path / "mini.tsv"
    tsv.write_text("\n".join(MQR_LINES) + "\n")
    json_dir, out = tmp_path / "mqr", tmp_path / "mqr-processed"
    args = ["datamod.py", "--from-mqr", tsv, "--json-dir", json_dir, "--out", out, "--valid-fraction", "0.25"]
    run_script(*args)
    train = json.loads((json_dir / "train.json").read_text())
    assert len(train) == 3 and (out / "dataset_dict.json").exists()
    again = run_script(*args, check=False)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert json.loads((json_dir / "train.json").read_text()) == train


def test_atomic_write_leaves_a_normal_file(tmp_path):
    old_umask = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "out" / "metrics.json", {"bleu": 1.0})
    finally:
        os.umask(old_umask)
    written = tmp_path / "out" / "metrics.json"
    assert json.loads(written.read_text()) == {"bleu": 1.0}
    assert stat.S_IMODE(written.stat().st_mode) == 0o644  # not mkstemp's owner-only 0600
    assert [p.name for p in written.parent.iterdir()] == ["metrics.json"]  # no temp file left behind
