"""The shipped dataset is exactly what the project's generator writes, and it meets its datasheet."""
from collections import Counter

from conftest import REPO, run_script
from qrewrite.data import check_disjoint, load_pairs
from qrewrite.metrics import score


def test_shipped_dataset_is_the_generators_output(tmp_path):
    run_script("dataset/generate.py", "--out-dir", tmp_path, "--no-readme")
    for name in ("train.json", "valid.json"):
        assert (tmp_path / name).read_bytes() == (REPO / "dataset" / name).read_bytes(), name


def test_shipped_dataset_properties():
    train_path, valid_path = REPO / "dataset" / "train.json", REPO / "dataset" / "valid.json"
    train, valid = load_pairs(train_path), load_pairs(valid_path)
    check_disjoint(train_path, train, valid_path, valid)
    assert len(train) >= 3000 and len(valid) >= 400
    # Split by source question: no clean question appears in both splits.
    assert not {p["output"] for p in train} & {p["output"] for p in valid}
    # Few variants of many questions: a target seen often is learnt by heart, not rewritten.
    assert max(Counter(p["output"] for p in train).values()) <= 2
    for split in (train, valid):
        clean = sum(p["input"] == p["output"] for p in split) / len(split)
        assert 0.08 <= clean <= 0.12
        assert all(p["output"][0].isupper() and p["output"].endswith("?") for p in split)
    identity = score([p["input"] for p in valid], [p["output"] for p in valid])
    assert identity["bleu"] <= 60
