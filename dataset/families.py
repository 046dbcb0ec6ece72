"""The reshaping families, one row each: its tag, its share of a split, its parse and render, its datasheet
wording. The parse/render pairs are in reshape.py (question shapes) and chat.py (chat-message shapes)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from dataset.chat import parse_aside, parse_why_statement, render_aside, render_why_statement
from dataset.grammar import infinitive_form
from dataset.reshape import (
    parse_any,
    parse_condition,
    parse_direct,
    parse_embedded,
    parse_fragment,
    parse_keyword,
    parse_merged_remark,
    parse_owned,
    parse_request,
    parse_short,
    render_condition,
    render_direct,
    render_embedded,
    render_fragment,
    render_infinitive,
    render_keyword,
    render_merged_remark,
    render_owned,
    render_remark,
    render_request,
    render_two,
)


@dataclass(frozen=True)
class ReshapeFamily:
    name: str          # the pair's tag
    rate: float        # share of a split's pairs
    parse: Callable[[str], object]                   # the parts it uses, or None: it does not take this question
    render: Callable[[object, random.Random], str]   # an input made from the parts
    description: str   # the datasheet's wording
    questions: int = 1  # clean questions per pair (the output is them, in order)


RESHAPE_FAMILIES = [
    ReshapeFamily("embedded", 0.06, parse_embedded, render_embedded,
                  "indirect or embedded question, inversion undone (\"do you know what time the post office "
                  "opens\", \"I was wondering whether I can ...\") -> the direct question"),
    ReshapeFamily("embedded_direct", 0.03, parse_direct, render_direct,
                  "embedded question that keeps its inversion, as chat users write it (\"can you tell me how "
                  "do I reset it\")"),
    ReshapeFamily("request", 0.04, parse_request, render_request,
                  "request instead of a question (\"pls explain how tides work\", \"show me how to ...\")"),
    ReshapeFamily("fragment", 0.025, parse_fragment, render_fragment,
                  "telegraphic fragment of a \"What is the/a ...?\" question (\"cheapest way to ship a bike "
                  "overseas??\")"),
    ReshapeFamily("how_to", 0.025, infinitive_form, render_infinitive,
                  "\"how to\" query (\"how to reverse a list python\"; also where/what/when to)"),
    ReshapeFamily("keyword", 0.02, parse_keyword, render_keyword,
                  "keyword query of a \"How do I ...?\" question (\"reset router password\")"),
    ReshapeFamily("context_if", 0.03, parse_condition, render_condition,
                  "the if-clause said first, as a fact (\"my screen went black after the update, what should I "
                  "do\") or as a condition (\"if I lose my passport, what should I do\"): kept and merged"),
    ReshapeFamily("context_owned", 0.02, parse_owned, render_owned,
                  "the thing the question is about said first (\"I have a 2012 Subaru Outback. how often should "
                  "I replace the timing belt\"): kept and merged (\"... on my 2012 Subaru Outback?\")"),
    ReshapeFamily("remark_dropped", 0.04, parse_any, render_remark,
                  "content-free remark after the question, often with no \"?\" between (\"..., sorry im new to "
                  "this haha\"): dropped"),
    ReshapeFamily("remark_merged", 0.03, parse_merged_remark, render_merged_remark,
                  "the question's purpose, condition or use said as a remark after it (\"..., we want to see "
                  "the northern lights\", \"..., it's for video editing\"): kept and merged"),
    ReshapeFamily("two_questions", 0.05, parse_short, render_two,
                  "two questions in one message (\"... also ...\", no punctuation between) -> both, \"Q1? Q2?\" "
                  "(two questions of one section of questions.txt where possible)",
                  questions=2),
    ReshapeFamily("statement_why", 0.03, parse_why_statement, render_why_statement,
                  "a problem stated, then asked about (\"my rice always comes out mushy, any idea why\") -> the "
                  "\"Why ...?\" question"),
    ReshapeFamily("aside_dropped", 0.04, parse_aside, render_aside,
                  "an aside about the asker holding a number or a negation, after or before the question (\"..., "
                  "im 12\", \"been stuck on this for 3 hours, ...\", \"nothing i try works so ...\"): dropped"),
]
FAMILY_BY_NAME = {family.name: family for family in RESHAPE_FAMILIES}
