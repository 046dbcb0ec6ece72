"""The pairs of one split: how many inputs each clean question yields, which family shapes each input, the clean
copies and the left-alone inputs, unique inputs."""

from __future__ import annotations

import random
from dataclasses import dataclass

from dataset.checks import check_pair
from dataset.families import FAMILY_BY_NAME, RESHAPE_FAMILIES
from dataset.noise import add_noise
from dataset.sources import Lexicon, SizeError

MAX_INPUT_WORDS = 60
IDENTITY_RATE = 0.10
MAX_TRIES = 200  # noisy variants tried before a question is given up as unable to yield a fresh input
TWO_QUESTIONS = FAMILY_BY_NAME["two_questions"]


@dataclass
class Slot:
    """One input to make from a clean question: a clean copy, plain noise (family ""), or a reshaping family."""
    question: str
    family: str = ""
    partner: str = ""  # the second question of a two-question input

    @property
    def output(self) -> str:
        return f"{self.question} {self.partner}" if self.partner else self.question


def plan_slots(questions: list[str], size: int, n_alone: int, rng: random.Random,
               topics: dict[str, str]) -> list[Slot]:
    """The inputs of a split but the left-alone ones: each question yields size // len(questions) or one more
    (a two-question input takes two); the first round(IDENTITY_RATE * size) questions (in shuffled order) yield
    one clean copy; then each reshaping family takes round(rate * size) of the others (see assign_families)."""
    n_identity = round(IDENTITY_RATE * size)
    n_slots = size - n_alone + round(TWO_QUESTIONS.rate * size)
    if n_identity > len(questions):
        raise SizeError(f"{len(questions)} clean questions for {n_identity} clean copies")
    base, extra = divmod(n_slots, len(questions))
    slots = [Slot(question, "identity" if variant == 0 and qi < n_identity else "")
             for qi, question in enumerate(questions) for variant in range(base + (1 if qi < extra else 0))]
    assign_families(slots, size, rng)
    return pair_two_questions(slots, rng, topics)


def assign_families(slots: list[Slot], size: int, rng: random.Random) -> None:
    """Each family takes round(rate * size) slots (twice that for two-question inputs) among those whose question
    it can reshape, at random; the families with the fewest candidates per slot choose first, so that the
    general ones (remarks, two questions) do not use up the questions only a few families can take. Nothing stops
    two inputs of one question from drawing the same family: at the shipped size no question does, at larger
    sizes some do (the datasheet counts them)."""
    candidates = {family.name: [i for i, slot in enumerate(slots) if not slot.family
                                and family.parse(slot.question) is not None] for family in RESHAPE_FAMILIES}

    def wanted(family):
        return round(family.rate * size) * family.questions

    for family in sorted(RESHAPE_FAMILIES, key=lambda f: len(candidates[f.name]) / max(wanted(f), 1)):
        free = [i for i in candidates[family.name] if not slots[i].family]
        rng.shuffle(free)
        chosen = free[:wanted(family)]
        if len(chosen) < wanted(family):
            raise SizeError(f"the {family.name} family can reshape {len(free)} questions, {wanted(family)} wanted")
        for i in chosen:
            slots[i].family = family.name


def pair_two_questions(slots: list[Slot], rng: random.Random, topics: dict[str, str]) -> list[Slot]:
    """The two-question slots paired, two questions of one topic together where a topic has several: the
    second one's slot merges into the first one's."""
    chosen = [slot for slot in slots if slot.family == TWO_QUESTIONS.name]
    rng.shuffle(chosen)
    chosen.sort(key=lambda slot: topics.get(slot.question, ""))
    for first, second in zip(chosen[::2], chosen[1::2]):
        first.partner = second.question
        second.family = "merged"
    return [slot for slot in slots if slot.family != "merged"]


def passes_checks(inp: str, out: str, common: set[str]) -> bool:
    try:
        check_pair(inp, out, common)
    except AssertionError:
        return False
    return True


def fresh_variant(slot: Slot, rng: random.Random, lexicon: Lexicon, seen: set[str]) -> tuple[str, list[str]]:
    """A noisy input, reshaped by the slot's family, that differs from the output, is not in `seen`, is not
    too long and passes check_pair; its tags (the family first). (A rare draw fails the checks: the typo noise
    may mangle a name that a reshaping moved to the start of the message, where it reads as a common word.)"""
    family = FAMILY_BY_NAME.get(slot.family)
    parts = (slot.question, slot.partner) if slot.partner else family and family.parse(slot.question)
    for _ in range(MAX_TRIES):
        text = family.render(parts, rng) if family else slot.question
        inp, tags = add_noise(text, rng, lexicon, reshaped=family is not None)
        if inp != slot.output and inp not in seen and len(inp.split()) <= MAX_INPUT_WORDS \
                and passes_checks(inp, slot.output, lexicon.common_words):
            return inp, ([family.name] if family else []) + tags
    raise RuntimeError(f"could not make a fresh variant of {slot.output!r}")


def make_split(questions: list[str], alone: list[tuple[str, str]], size: int, rng: random.Random,
               lexicon: Lexicon, seen: set[str], topics: dict[str, str]) -> tuple[list[dict], list[list[str]]]:
    """`size` pairs: the left-alone inputs `alone` ((text, tag), each its own output) and the inputs made from
    `questions` (plan_slots), each labelled with the family that made its input ("noise": token noise alone).
    Returns the pairs and their tags, shuffled; adds the inputs to `seen`."""
    pairs, tags_of_pairs = [], []
    for text, tag in alone:
        assert text not in seen, f"left-alone input repeated: {text!r}"
        check_pair(text, text, lexicon.common_words, alone=True)
        seen.add(text)
        pairs.append({"input": text, "output": text, "family": tag})
        tags_of_pairs.append([tag])
    for slot in plan_slots(questions, size, len(alone), rng, topics):
        if slot.family == "identity":
            inp, tags = slot.question, ["identity"]
            assert inp not in seen, f"clean question repeated: {slot.question!r}"
        else:
            inp, tags = fresh_variant(slot, rng, lexicon, seen)
        check_pair(inp, slot.output, lexicon.common_words)
        seen.add(inp)
        pairs.append({"input": inp, "output": slot.output, "family": slot.family or "noise"})
        tags_of_pairs.append(tags)
    assert len(pairs) == size, (len(pairs), size)
    order = list(range(len(pairs)))
    rng.shuffle(order)
    return [pairs[i] for i in order], [tags_of_pairs[i] for i in order]
