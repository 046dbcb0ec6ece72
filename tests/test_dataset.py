"""The shipped dataset is exactly what the project's generator writes, and it meets its datasheet."""
from collections import Counter

from conftest import REPO, run_script
from qrewrite.data import check_disjoint, load_pairs
from qrewrite.metrics import score


def test_shipped_dataset_is_the_generators_output(tmp_path):
    run_script("dataset/generate.py", "--out-dir", tmp_path)
    for name in ("train.json", "valid.json", "README.md"):
        assert (tmp_path / name).read_bytes() == (REPO / "dataset" / name).read_bytes(), name


def test_noise_table_is_well_formed():
    """One draw per group needs its families next to each other, in one stage, sharing at most the whole draw;
    the datasheet lists every family once."""
    from dataset.noise import DATASHEET_ORDER, NOISE_FAMILIES

    names = [family.name for family in NOISE_FAMILIES]
    assert len(set(names)) == len(names) and sorted(names) == sorted(DATASHEET_ORDER)
    stages = [family.stage for family in NOISE_FAMILIES]
    assert stages == sorted(stages, key=["fillers", "tokens", "text"].index)
    for group in {family.group for family in NOISE_FAMILIES if family.group}:
        rows = [i for i, family in enumerate(NOISE_FAMILIES) if family.group == group]
        assert rows == list(range(rows[0], rows[-1] + 1)), f"group {group!r} is split"
        assert len({NOISE_FAMILIES[i].stage for i in rows}) == 1
        assert sum(NOISE_FAMILIES[i].rate for i in rows) <= 1
    assert all(0 < family.rate <= 1 for family in NOISE_FAMILIES)


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
