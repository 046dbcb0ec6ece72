"""Misspelling one word: the kinds of typo (one row each, with its share and datasheet wording) and the draw."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from dataset.sources import Lexicon
from dataset.words import is_negation, negation_counter

QWERTY_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]


def _neighbours() -> dict[str, str]:
    """QWERTY neighbours: left/right on the same row, the two touching keys above and below."""
    nb: dict[str, str] = {}
    for r, row in enumerate(QWERTY_ROWS):
        for c, ch in enumerate(row):
            keys = [(r, c - 1), (r, c + 1), (r - 1, c), (r - 1, c + 1), (r + 1, c - 1), (r + 1, c)]
            nb[ch] = "".join(QWERTY_ROWS[rr][cc] for rr, cc in keys
                             if 0 <= rr < len(QWERTY_ROWS) and 0 <= cc < len(QWERTY_ROWS[rr]))
    return nb


NEIGHBOURS = _neighbours()


def pick_by_rate(rows: list, draw: float):
    """The row a draw in [0, 1) falls in when the rows' rates share out the range in order; None past them."""
    upper = 0.0
    for row in rows:
        upper += row.rate
        if draw < upper:
            return row
    return None


# The letter typos change a letter after the first one: the first letter keeps a word recoverable.

def human_misspelling(word: str, rng: random.Random, lexicon: Lexicon) -> str:
    return rng.choice(lexicon.misspellings[word])


def neighbour_key(word: str, rng: random.Random, lexicon: Lexicon) -> str:
    i = rng.randrange(1, len(word))
    return word[:i] + rng.choice(NEIGHBOURS[word[i]]) + word[i + 1:]


def drop_letter(word: str, rng: random.Random, lexicon: Lexicon) -> str:
    i = rng.randrange(1, len(word))
    return word[:i] + word[i + 1:]


def double_letter(word: str, rng: random.Random, lexicon: Lexicon) -> str:
    i = rng.randrange(1, len(word))
    return word[:i] + word[i] + word[i:]


def swap_letters(word: str, rng: random.Random, lexicon: Lexicon) -> str:
    rng.randrange(1, len(word))  # unused, but drawn: the same seed must keep making the same data
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


@dataclass(frozen=True)
class TypoKind:
    name: str         # a misspelled word is tagged "typo:<name>"
    rate: float       # share of the misspelled words that try this kind
    misspell: Callable[[str, random.Random, Lexicon], str]
    description: str  # the datasheet's wording


TYPO_KINDS = [
    TypoKind("codespell", 0.45, human_misspelling,
             "real human misspelling from codespell's dictionary (the->teh)"),
    TypoKind("keyboard", 0.2, neighbour_key, "QWERTY neighbour key"),
    TypoKind("dropped_letter", 0.15, drop_letter, "dropped letter"),
    TypoKind("doubled_letter", 0.1, double_letter, "doubled letter"),
    TypoKind("swapped_letters", 0.1, swap_letters, "swapped adjacent letters"),
]
KIND_BY_NAME = {kind.name: kind for kind in TYPO_KINDS}
# what a word codespell has no misspelling for gets instead
NOT_IN_CODESPELL = ["keyboard", "dropped_letter", "swapped_letters"]


def misspell(word: str, rng: random.Random, lexicon: Lexicon) -> tuple[str, str] | None:
    """Misspell a lowercase word: (new word, kind name), or None where this try gives no usable typo."""
    kind = pick_by_rate(TYPO_KINDS, rng.random()) or TYPO_KINDS[-1]
    if kind.name == "codespell" and word not in lexicon.misspellings:
        kind = KIND_BY_NAME[rng.choice(NOT_IN_CODESPELL)]
    if kind.name != "codespell" and len(word) < 4:
        return None
    new = kind.misspell(word, rng, lexicon)
    # a typo that is a real word or a negation would change the question, not misspell it
    if new == word or new in lexicon.real_words or is_negation(new) or negation_counter(new):
        return None
    return new, kind.name
