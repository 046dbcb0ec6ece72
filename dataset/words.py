"""What the noise must keep: how a token splits into punctuation and word, negations, protected words."""

from __future__ import annotations

import re
from collections import Counter

NEGATION_WORDS = {"not", "no", "never", "cannot", "nor", "nobody", "nothing", "none", "neither"}
# "dont", "cant", "wont": an n't-contraction whose apostrophe chat-speak dropped, by the part before "nt"
NT_STEMS = {"do", "does", "did", "ca", "wo", "is", "are", "was", "were", "should", "could", "would", "has",
            "have", "had", "ai", "need", "must", "might"}

_TOKEN_RE = re.compile(r"^([^\w$]*)(.*?)([^\w%+#]*)$")


def split_token(tok: str) -> tuple[str, str, str]:
    """'(hello,' -> ('(', 'hello', ','); keeps internal punctuation such as don't, C++, 3.5."""
    m = _TOKEN_RE.match(tok)
    return m.group(1), m.group(2), m.group(3)


def norm_word(w: str) -> str:
    return re.sub(r"[^\w]", "", w.lower().replace("\u2019", "'").replace("'", ""))


def is_negation(core: str) -> bool:
    c = core.lower().replace("\u2019", "'")
    return c in NEGATION_WORDS or c.endswith("n't")


def is_protected(core: str, position: int, common: set[str]) -> bool:
    """Names, numbers, product names, acronyms: words the noise must never mangle.

    A word is protected if it contains a digit or an uppercase letter anywhere except as the
    capitalised first word of the question whose lowercase form is a common word ("What").
    The pronoun I (and I'm, I've, ...) is not a name.
    """
    if not core:
        return False
    if any(ch.isdigit() for ch in core):
        return True
    if not any(ch.isupper() for ch in core):
        return False
    if re.fullmatch(r"I(['\u2019](m|ve|d|ll))?", core):
        return False
    if position == 0 and core[0].isupper() and core[1:] == core[1:].lower() \
            and core.lower() in common:
        return False
    return True


def negation_counter(text: str) -> Counter:
    """Negations in a text, normalised so chat-speak still counts (dont == don't, idk)."""
    out = Counter()
    for tok in text.split():
        w = norm_word(tok)
        if w == "idk":
            out["dont"] += 1
            continue
        raw = split_token(tok)[1].lower().replace("\u2019", "'")
        if w in NEGATION_WORDS or raw.endswith("n't") or (w.endswith("nt") and w[:-2] in NT_STEMS):
            out[w] += 1
    return out
