"""Shapes of chat messages the other families do not make: a problem stated and then asked about ("my rice
always comes out mushy, any idea why"), and an aside about the asker that holds a number or a negation ("..., im
12", "nothing i try works so ..."), which the question does not depend on. Same contract as reshape.py: parse
finds the parts, render draws an input, the clean question stays the target."""

from __future__ import annotations

import random

from dataset.grammar import embedded_question, lower_first
from dataset.phrases import ASIDES_AFTER, ASIDES_BEFORE, RELATIVES, STATEMENT_JOINS, WHY_ASKS

MAX_ASIDE_QUESTION_WORDS = 20


def parse_why_statement(question: str) -> str | None:
    """The statement a "Why ...?" question asks about: "Why does my rice come out mushy?" -> "my rice comes out
    mushy"; None for other questions and shapes the grammar rules do not undo."""
    if not question.startswith("Why "):
        return None
    clause = embedded_question(question)
    if not clause or not clause.startswith("why ") or len(clause.split()) < 4:
        return None
    return clause[len("why "):]


def render_why_statement(statement: str, rng: random.Random) -> str:
    return rng.choice(STATEMENT_JOINS).format(statement=statement, ask=rng.choice(WHY_ASKS))


def parse_aside(question: str) -> str | None:
    return question if len(question.split()) <= MAX_ASIDE_QUESTION_WORDS else None


def render_aside(question: str, rng: random.Random) -> str:
    """The question with an aside after it (two in three) or before it; the aside's numbers are drawn apart from
    the question's own, so that no number of the question could be the aside's."""
    taken = {w.strip("?,.") for w in question.split()}
    counts = {name: rng.choice([str(n) for n in span if str(n) not in taken])
              for name, span in (("teen", range(11, 18)), ("small", range(2, 9)), ("hours", range(2, 7)),
                                 ("days", range(3, 11)), ("years", range(2, 11)), ("times", range(3, 21)))}
    if rng.random() < 2 / 3:
        aside = rng.choice(ASIDES_AFTER).format(relative=rng.choice(RELATIVES), **counts)
        return rng.choice(["{q}, {a}", "{q}? {a}", "{q} {a}", "{q}?? {a}"]).format(q=question[:-1], a=aside)
    aside = rng.choice(ASIDES_BEFORE).format(**counts)
    return f"{aside} {lower_first(question)}"
