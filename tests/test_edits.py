"""Typed edits (qrewrite/edits.py): applied to the input they give the rewrite exactly, always; their types."""
import json
import random

import pytest

from conftest import REPO
from qrewrite.edits import apply_edits, edit_counts, edit_scores, edits

ALPHABET = "ab teh?!., \t\n'’-_é漢 ABcD12"


@pytest.mark.parametrize("name", ["valid.json", "valid_v2.json", "valid_v3.json", "valid_v4.json"])
def test_applying_the_edits_gives_the_rewrite_on_every_shipped_pair(name):
    for pair in json.loads((REPO / "dataset" / name).read_text()):
        for source, target in ((pair["input"], pair["output"]), (pair["output"], pair["input"])):
            found = edits(source, target)
            assert apply_edits(source, found) == target
            assert all(source[e["start"]:e["end"]] == e["before"] for e in found)


def test_applying_the_edits_gives_the_rewrite_on_random_strings():
    rng = random.Random(0)
    for _ in range(2000):
        source = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 30)))
        target = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 30)))
        found = edits(source, target)
        assert apply_edits(source, found) == target
        starts = [e["start"] for e in found]
        assert starts == sorted(starts) and all(e["end"] >= e["start"] for e in found)


def test_no_change_no_edit():
    assert edits("What is the capital of France?", "What is the capital of France?") == []


def typed(source, target):
    return [(e["before"], e["after"], e["type"]) for e in edits(source, target)]


def test_each_edit_is_one_word_wide_and_typed():
    assert typed("hey so um waht is teh capital of frnace? thx", "What is the capital of France?") == [
        ("hey so um ", "", "removed"), ("waht", "What", "spelling"), ("teh", "the", "spelling"),
        ("frnace", "France", "spelling"), (" thx", "", "removed")]
    assert typed("how to reverse a list python", "How do I reverse a list in Python?") == [
        ("how", "How", "casing"), ("to", "do I", "reworded"), ("", "in ", "added"), ("python", "Python", "casing"),
        ("", "?", "punctuation")]
    assert typed("whats the wether in paris tmrw", "What is the weather in Paris tomorrow?")[-2:] == [
        ("tmrw", "tomorrow", "spelling"), ("", "?", "punctuation")]
    assert typed("Is  it OK", "Is it OK?") == [("  ", " ", "spacing"), ("", "?", "punctuation")]


def test_words_moved_are_reordered():
    assert typed("in paris what is the weather", "What is the weather in paris") == [
        ("in paris ", "", "reordered"), ("what", "What", "casing"), ("", " in paris", "reordered")]


def test_counts_and_scores_against_the_references():
    inputs = ["waht is teh time", "hi how do i pay"]
    references = ["What is the time?", "How do I pay?"]
    assert edit_scores(inputs, references, references)["edit_f0.5"] == 1.0
    copied = edit_scores(inputs, inputs, references)
    assert copied["edits_predicted"] == 0 and copied["edit_recall"] == 0.0
    half = edit_scores(inputs, ["What is teh time?", "How do I pay?"], references)
    assert 0 < half["edit_recall"] < 1 and half["edit_precision"] == 1.0
    assert edit_counts([edits(i, r) for i, r in zip(inputs, references)])["casing"] == 2


def test_explain_marks_the_edits_for_a_person():
    from qrewrite.edits import explain, render

    source, target = "hey waht is teh capital? thx", "What is the capital?"
    assert render(source, edits(source, target)) == "[-hey -][-waht-]{+What+} is [-teh-]{+the+} capital?[- thx-]"
    coloured = render(source, edits(source, target), colour=True)
    assert "\033[32mWhat\033[0m" in coloured and "[-" not in coloured
    record = {"input": source, "rewrite": target, "fallback": None, "edits": edits(source, target)}
    assert explain(record).splitlines() == [target, "  " + render(source, record["edits"]), "  removed 2, spelling 2"]
    kept = {"input": "order 4417?", "rewrite": "order 4417?", "fallback": "dropped: 4417", "edits": []}
    assert explain(kept).splitlines()[-1] == "  kept as typed: dropped: 4417"
