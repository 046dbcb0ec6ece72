"""The checks every generated pair, and the two splits together, must pass."""

from __future__ import annotations

import re
from collections import Counter

from dataset.left_alone import left_alone_items
from dataset.sources import held_out_key, question_parts
from dataset.words import is_protected, negation_counter, split_token

LEFT_ALONE = {text for text, _ in left_alone_items()}


def check_pair(inp: str, out: str, common: set[str], alone: bool = False) -> None:
    """Assert the pair is valid: the output is one or two well-formed questions and the input kept their
    substance; a left-alone pair (another language, a greeting: left_alone.py) is its own output."""
    assert inp.strip(), "empty input"
    if alone:
        assert inp == out and inp in LEFT_ALONE, f"not a left-alone input of left_alone.py: {inp!r}"
        return
    assert out == out.strip() and "  " not in out, f"output spacing: {out!r}"
    parts = question_parts(out)
    assert len(parts) <= 2, f"at most two questions in an output: {out!r}"
    for part in parts:
        assert part[0].isupper(), f"each question of the output starts uppercase: {out!r}"
        assert part.endswith("?") and "?" not in part[:-1], f"each question of the output ends with '?': {out!r}"
    # every digit sequence of the output appears in the input (as many times)
    d_out, d_in = Counter(re.findall(r"\d+", out)), Counter(re.findall(r"\d+", inp))
    assert not (d_out - d_in), f"number lost {dict(d_out - d_in)}: {inp!r} -> {out!r}"
    # every negation of the output appears in the input in some form
    n_out, n_in = negation_counter(out), negation_counter(inp)
    assert not (n_out - n_in), f"negation lost {dict(n_out - n_in)}: {inp!r} -> {out!r}"
    # every name / product / acronym of the output appears in the input (case-insensitively); each question's
    # first word is a sentence start, not a name
    inp_flat = re.sub(r"\s+", " ", inp.lower().replace("\u2019", "'"))
    for part in parts:
        for i, tok in enumerate(part.split()):
            core = split_token(tok)[1]
            if is_protected(core, i, common):
                assert core.lower().replace("\u2019", "'") in inp_flat, \
                    f"name lost {core!r}: {inp!r} -> {out!r}"


def is_left_alone(pair: dict) -> bool:
    """A pair whose output is no English question: another language, or a greeting or thanks alone."""
    return pair["input"] == pair["output"] and pair["output"] in LEFT_ALONE


def check_splits(train: list[dict], valid: list[dict], common: set[str], held_out: set[str]) -> None:
    """Inputs unique across both files, no clean question in both (nor in train and the held-out benchmark),
    every pair valid."""
    assert len({p["input"] for p in train + valid}) == len(train) + len(valid)
    train_sources = {held_out_key(q) for p in train for q in question_parts(p["output"])}
    valid_sources = {held_out_key(q) for p in valid for q in question_parts(p["output"])}
    assert not train_sources & valid_sources, "a clean question is in both splits"
    assert not train_sources & held_out, "a source question of a held-out benchmark (valid_v2/v3.json) is in train"
    for p in train + valid:
        check_pair(p["input"], p["output"], common, alone=is_left_alone(p))
