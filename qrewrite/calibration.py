"""Calibrated confidence: a monotone map from the model's raw confidence (exp of the output's mean token log-prob)
to the share of rewrites that came out exactly right at that raw confidence on the valid split.

`score.py --calibrate` fits it (isotonic regression, scikit-learn) and stores it as calibration.json in the model
folder; the Rewriter applies it on load (linear interpolation between the fitted points, as scikit-learn's
predict does), so `confidence` and `--min-confidence` speak of the chance that a rewrite is right. A folder
without the file keeps the raw confidence. Each model folder is calibrated on its own: the int8 model's raw
scores differ from the fp32 model's.
"""
import json
import random
from bisect import bisect_right
from pathlib import Path

from qrewrite.data import write_json_atomic
from qrewrite.errors import ModelError, OutputError
from qrewrite.paths import link_or_other

CALIBRATION_FILE = "calibration.json"
WRITTEN_BY = "score.py --calibrate"
FOLDS = 2  # the reliability reported beside the fit is out-of-fold: each half is mapped by a fit on the other
MIN_EACH = 2  # right and wrong rewrites needed to fit


def fit(raw, right):
    """{"x": raw confidences, "y": calibrated values}: the isotonic fit's points, increasing in x."""
    from sklearn.isotonic import IsotonicRegression

    if min(sum(right), len(right) - sum(right)) < MIN_EACH:
        raise ValueError(f"calibration needs at least {MIN_EACH} right and {MIN_EACH} wrong rewrites")
    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit(list(raw), [float(r) for r in right])
    return {"x": [float(v) for v in model.X_thresholds_], "y": [float(v) for v in model.y_thresholds_]}


def apply(points, value):
    """The calibrated value of one raw confidence: linear between the fitted points, clipped at both ends."""
    xs, ys = points["x"], points["y"]
    if value <= xs[0]:
        return ys[0]
    if value >= xs[-1]:
        return ys[-1]
    k = bisect_right(xs, value)
    x0, x1, y0, y1 = xs[k - 1], xs[k], ys[k - 1], ys[k]
    return y0 if x1 == x0 else y0 + (y1 - y0) * (value - x0) / (x1 - x0)


def cross_fitted(raw, right, folds=FOLDS, seed=0):
    """Each rewrite's calibrated confidence from a fit on the other folds: an honest reliability table."""
    order = list(range(len(raw)))
    random.Random(seed).shuffle(order)
    out = [0.0] * len(raw)
    for fold in range(folds):
        held = set(order[fold::folds])
        rest = [i for i in order if i not in held]
        points = fit([raw[i] for i in rest], [right[i] for i in rest])
        for i in held:
            out[i] = apply(points, raw[i])
    return out


def load(folder):
    """The fitted points stored in a model folder, or None when it has none."""
    if folder is None or not (Path(folder) / CALIBRATION_FILE).is_file():
        return None
    path = Path(folder) / CALIBRATION_FILE
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        points = {"x": [float(v) for v in stored["x"]], "y": [float(v) for v in stored["y"]]}
        if not points["x"] or len(points["x"]) != len(points["y"]) or points["x"] != sorted(points["x"]):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise ModelError(f"{path}: not a calibration score.py wrote; delete it or re-run "
                         f"`python score.py --model {folder} --calibrate`") from None
    return points


def check_writable(folder):
    """Refuses a calibration.json that score.py did not write (before anything runs)."""
    path = Path(folder) / CALIBRATION_FILE
    if link_or_other(path):
        raise OutputError(f"--calibrate: {path} is not a regular file; move it away")
    if path.is_file():
        try:
            mine = json.loads(path.read_text(encoding="utf-8")).get("written_by") == WRITTEN_BY
        except (ValueError, AttributeError):
            mine = False
        if not mine:
            raise OutputError(f"--calibrate: {path} was not written by score.py; move it away to calibrate")


def save(folder, points, about):
    """Writes calibration.json into the model folder atomically (after check_writable)."""
    path = Path(folder) / CALIBRATION_FILE
    write_json_atomic(path, {"written_by": WRITTEN_BY, **about, **points})
    return path
