"""The pairs of one split: how many inputs each clean question yields, the clean copies, unique inputs."""

from __future__ import annotations

import random

from dataset.checks import check_pair
from dataset.noise import add_noise
from dataset.sources import Lexicon

MAX_INPUT_WORDS = 60
IDENTITY_RATE = 0.10
MAX_TRIES = 200  # noisy variants tried before a question is given up as unable to yield a fresh input


def fresh_variant(question: str, rng: random.Random, lexicon: Lexicon, seen: set[str]) -> tuple[str, list[str]]:
    """A noisy input that differs from the question, is not in `seen` and is not too long."""
    for _ in range(MAX_TRIES):
        inp, tags = add_noise(question, rng, lexicon)
        if inp != question and inp not in seen and len(inp.split()) <= MAX_INPUT_WORDS:
            return inp, tags
    raise RuntimeError(f"could not make a fresh variant of {question!r}")


def make_split(questions: list[str], size: int, rng: random.Random, lexicon: Lexicon,
               seen: set[str]) -> tuple[list[dict], list[list[str]]]:
    """`size` pairs from `questions`, spread evenly: each question yields size // len(questions)
    or one more variants; the first round(IDENTITY_RATE * size) questions (in shuffled order)
    yield one clean copy. Returns the pairs and their noise tags, shuffled; adds the inputs to `seen`."""
    n_identity = round(IDENTITY_RATE * size)
    assert n_identity <= len(questions), "not enough questions for the identity pairs"
    base, extra = divmod(size, len(questions))
    pairs, tags_of_pairs = [], []
    for qi, question in enumerate(questions):
        for variant in range(base + (1 if qi < extra else 0)):
            if variant == 0 and qi < n_identity:
                inp, tags = question, ["identity"]
                assert inp not in seen, f"clean question repeated: {question!r}"
            else:
                inp, tags = fresh_variant(question, rng, lexicon, seen)
            check_pair(inp, question, lexicon.common_words)
            seen.add(inp)
            pairs.append({"input": inp, "output": question})
            tags_of_pairs.append(tags)
    order = list(range(len(pairs)))
    rng.shuffle(order)
    return [pairs[i] for i in order], [tags_of_pairs[i] for i in order]
