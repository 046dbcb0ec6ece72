"""The checks every generated pair, and the two splits together, must pass."""

from __future__ import annotations

import re
from collections import Counter

from dataset.words import is_protected, negation_counter, split_token


def check_pair(inp: str, out: str, common: set[str]) -> None:
    """Assert the pair is valid: the output is well-formed and the input kept its substance."""
    assert out == out.strip() and "  " not in out, f"output spacing: {out!r}"
    assert out[0].isupper(), f"output must start uppercase: {out!r}"
    assert out.endswith("?"), f"output must end with '?': {out!r}"
    assert inp.strip(), "empty input"
    # every digit sequence of the output appears in the input (as many times)
    d_out, d_in = Counter(re.findall(r"\d+", out)), Counter(re.findall(r"\d+", inp))
    assert not (d_out - d_in), f"number lost {dict(d_out - d_in)}: {inp!r} -> {out!r}"
    # every negation of the output appears in the input in some form
    n_out, n_in = negation_counter(out), negation_counter(inp)
    assert not (n_out - n_in), f"negation lost {dict(n_out - n_in)}: {inp!r} -> {out!r}"
    # every name / product / acronym of the output appears in the input (case-insensitively)
    inp_flat = re.sub(r"\s+", " ", inp.lower().replace("\u2019", "'"))
    for i, tok in enumerate(out.split()):
        core = split_token(tok)[1]
        if is_protected(core, i, common):
            assert core.lower().replace("\u2019", "'") in inp_flat, \
                f"name lost {core!r}: {inp!r} -> {out!r}"


def check_splits(train: list[dict], valid: list[dict], common: set[str]) -> None:
    """Inputs unique across both files, no clean question in both, every pair valid."""
    assert len({p["input"] for p in train + valid}) == len(train) + len(valid)
    assert not {p["output"] for p in train} & {p["output"] for p in valid}
    for p in train + valid:
        check_pair(p["input"], p["output"], common)
