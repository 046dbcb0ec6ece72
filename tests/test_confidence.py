"""The confidence report score.py prints: AUROC against exactly-right rewrites, and a reliability table."""
from qrewrite.metrics import auroc, confidence_report


def test_auroc_ranks_right_rewrites_above_wrong_ones():
    assert auroc([0.9, 0.8, 0.3, 0.2], [True, True, False, False]) == 1.0
    assert auroc([0.9, 0.8, 0.3, 0.2], [False, False, True, True]) == 0.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5  # a tie counts half
    assert auroc([0.9, 0.4, 0.6, 0.1], [True, True, False, False]) == 0.75
    assert auroc([1.0], [True]) is None  # nothing to rank against


def test_the_reliability_table_bins_every_rewrite_once():
    report = confidence_report([0.99, 0.6, 0.3, 1.0, 0.72], [True, False, False, True, True])
    assert sum(b["count"] for b in report["bins"]) == report["count"] == 5
    top = report["bins"][-1]
    assert (top["from"], top["to"], top["count"], top["right"]) == (0.95, 1.0, 2, 1.0)
    assert [b["count"] for b in report["bins"]] == [1, 1, 1, 2]
