"""Protected terms: a caller's words that must stand in the rewrite exactly as written, or the question comes back
unchanged with "changed: <term>" after the usual second search."""
import pytest

from qrewrite.protected import holds_term, protected_changes
from qrewrite.rewriter import Rewriter

# From the shipped benchmarks: the quick model's greedy rewrite drops "factory" and passes the guard (a dropped
# ordinary word is not a change it sees); its beam search has a candidate that keeps the phrase.
QUESTION = "sorrg ndwbie here. factory reset samsung galaxy s21"
GREEDY = "How do I reset my Samsung Galaxy S21?"
BEAMS = "How do I factory reset my Samsung Galaxy S21?"


def test_a_term_is_held_exactly_as_written_and_as_a_whole_word():
    assert holds_term("what is a PE ratio", "PE") and not holds_term("what is a pe ratio", "PE")
    assert not holds_term("is PEP 8 required", "PE") and holds_term("order from ubereats?", "ubereats")
    assert holds_term("price of SKU-1042-B?", "SKU-1042-B") and holds_term("use C++ here", "C++")
    assert protected_changes("what is a PE ratio", "What is a private equity ratio?", ["PE", "ratio", ""]) == ["PE"]
    assert protected_changes("what is a pe ratio", "What is a P/E ratio?", ["PE"]) == []  # the question lacks it


@pytest.fixture
def rewriter(tiny_model_dir, monkeypatch):
    rewriter = Rewriter(str(tiny_model_dir), device="cpu")
    asked = []

    def stub_generate(questions, progress=False, beams=None, protected_each=None):
        asked.append(beams)
        return [(BEAMS if beams else GREEDY, -0.05) for _ in questions]

    monkeypatch.setattr(rewriter, "generate_scored", stub_generate)
    rewriter.asked = asked
    return rewriter


def test_unprotected_the_model_drops_the_term_and_the_guard_passes_it(rewriter):
    record = rewriter.rewrite_records([QUESTION])[0]
    assert record["rewrite"] == GREEDY and record["fallback"] is None and rewriter.asked == [None]


def test_protected_the_term_survives_through_the_second_search(rewriter):
    record = rewriter.rewrite_records([QUESTION], protected=["factory reset"])[0]
    assert record["rewrite"] == BEAMS and record["retried"] and rewriter.asked == [None, 4]
    assert rewriter.rewrite([QUESTION], protected=["factory reset"]) == [BEAMS]


def test_a_term_no_candidate_keeps_brings_the_question_back_unchanged(rewriter):
    records = rewriter.rewrite_records([QUESTION, "hi how do i pay for a galaxy s21"],
                                       protected_each=[["galaxy s21"], ["galaxy s21"]])
    assert [r["rewrite"] for r in records] == [QUESTION, "hi how do i pay for a galaxy s21"]
    assert [r["fallback"] for r in records] == ["changed: galaxy s21"] * 2


def test_confidence_is_the_mean_token_probability_and_min_confidence_keeps_a_guess_unchanged(rewriter):
    record = rewriter.rewrite_records([QUESTION])[0]
    assert record["confidence"] == pytest.approx(0.9512, abs=1e-4)  # exp(-0.05)
    rewriter.min_confidence = 0.96
    record = rewriter.rewrite_records([QUESTION])[0]
    assert record["rewrite"] == QUESTION and record["fallback"] == "low confidence" and record["edits"] == []
    assert rewriter.rewrite_records(["hello"])[0]["confidence"] == 1.0  # left as it is, unasked
