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


# ---- calibration: fitted by score.py --calibrate, stored beside the model, applied by the Rewriter on load --------
import json  # noqa: E402
import random  # noqa: E402

import pytest  # noqa: E402

from qrewrite import calibration  # noqa: E402
from qrewrite.errors import ModelError, OutputError  # noqa: E402
from qrewrite.metrics import min_confidence_effects  # noqa: E402
from qrewrite.rewriter import Rewriter  # noqa: E402


def noisy_split(n=400, seed=1):
    """Raw confidences where higher means right more often, as a model's are."""
    rng = random.Random(seed)
    raw = [rng.random() for _ in range(n)]
    return raw, [rng.random() < value ** 2 for value in raw]


def test_the_stored_points_give_what_the_isotonic_fit_predicts():
    from sklearn.isotonic import IsotonicRegression

    raw, right = noisy_split()
    points = calibration.fit(raw, right)
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, [float(r) for r in right])
    probes = [-0.5, 0.0, 0.013, 0.25, 0.5, 0.77, 0.999, 1.0, 3.0] + raw[:50]
    for value, expected in zip(probes, fitted.predict(probes)):
        assert calibration.apply(points, value) == pytest.approx(expected, abs=1e-5)
    mapped = [calibration.apply(points, v / 100) for v in range(101)]
    assert mapped == sorted(mapped) and 0.0 <= mapped[0] and mapped[-1] <= 1.0


def test_calibrated_values_track_the_share_right_out_of_fold():
    raw, right = noisy_split(2000)
    held_out = calibration.cross_fitted(raw, right)
    report = confidence_report(held_out, right, edges=(0.0, 0.25, 0.5, 0.75, 1.0))
    for row in report["bins"]:
        assert abs(row["mean_confidence"] - row["right"]) < 0.08  # raw values are off by up to 0.25 here
    with pytest.raises(ValueError):
        calibration.fit([0.9, 0.8, 0.7], [True, True, True])  # nothing wrong to fit against


def test_the_rewriter_reports_calibrated_confidence_and_floors_on_it(tiny_model_dir, tmp_path, monkeypatch):
    model = tmp_path / "model"
    model.mkdir()
    for file in tiny_model_dir.iterdir():
        (model / file.name).symlink_to(file)
    points = {"x": [0.5, 0.9], "y": [0.1, 0.6]}
    calibration.save(model, points, {"fitted_on": "test"})
    rewriter = Rewriter(str(model), device="cpu", min_confidence=0.3)
    monkeypatch.setattr(rewriter, "generate_scored", lambda qs, progress=False, beams=None, protected_each=None:
                        [("What is the capital of France?", -0.1) for _ in qs])  # raw confidence 0.905
    record = rewriter.rewrite_records(["waht is teh capital of frnace"])[0]
    assert record["confidence"] == 0.6 and record["raw_confidence"] == pytest.approx(0.904837)
    assert record["fallback"] is None
    monkeypatch.setattr(rewriter, "generate_scored", lambda qs, progress=False, beams=None, protected_each=None:
                        [("What is the capital of France?", -0.4) for _ in qs])  # raw 0.670 -> 0.313: kept
    record = rewriter.rewrite_records(["waht is teh capital of frnace"])[0]
    assert record["confidence"] == pytest.approx(0.3129, abs=1e-4)
    rewriter.min_confidence = 0.4
    assert rewriter.rewrite_records(["waht is teh capital of frnace"])[0]["fallback"] == "low confidence"


def test_a_broken_or_foreign_calibration_file_is_refused_in_one_line(tmp_path):
    (tmp_path / calibration.CALIBRATION_FILE).write_text('{"x": [0.5, 0.2], "y": [0.1, 0.2]}')
    with pytest.raises(ModelError, match="not a calibration score.py wrote"):
        calibration.load(tmp_path)
    with pytest.raises(OutputError, match="not written by score.py"):
        calibration.check_writable(tmp_path)
    calibration.save(tmp_path, {"x": [0.2], "y": [0.3]}, {})
    calibration.check_writable(tmp_path)  # its own file may be fitted again
    assert json.loads((tmp_path / calibration.CALIBRATION_FILE).read_text())["written_by"] == calibration.WRITTEN_BY
    assert calibration.load(tmp_path / "nowhere") is None


def test_min_confidence_effects_count_what_a_floor_holds_back():
    rows = [{"input": "a b", "reference": "A b?", "prediction": "A b?", "fallback": None, "meaning_changed": False},
            {"input": "c d", "reference": "C d?", "prediction": "C x?", "fallback": None, "meaning_changed": True},
            {"input": "e f", "reference": "E f?", "prediction": "e f", "fallback": "changed: x",
             "meaning_changed": False}]
    effects = min_confidence_effects(rows, [0.9, 0.3, 0.1], thresholds=(0.2, 0.5, 0.95))
    assert (effects["rewrites"], effects["wrong"], effects["meaning_changed"]) == (2, 1, 1)
    held = [(t["held_back"], t["held_right"], t["held_meaning_changed"]) for t in effects["thresholds"]]
    assert held == [(0, 0, 0), (1, 0, 1), (2, 1, 1)]  # the fallback is never counted: it was kept as typed already
