"""Reshaping: whole-question transforms, applied to a clean question before the token noise.

Real chat messages need more than typos fixed: the question is embedded in another sentence ("can you tell me
what time the post office opens"), cut to a fragment ("how to reverse a list python"), made a request ("pls
explain how tides work"), preceded by context it needs ("I have a 2012 Subaru Outback. how often should I ...")
or followed by a remark, or sent with a second question. Each family here makes one of these shapes BY RULE from
a clean question, which stays the target: `parse` finds the parts of a question the family can use (None: the
family does not handle its shape, and the question goes to another family), `render` draws an input from them.
A family that cannot produce correct English for a shape does not take that shape. The rows of
RESHAPE_FAMILIES also write the datasheet's table; typos, chat-speak and casing are layered on top afterwards.
"""

from __future__ import annotations

import random
import re

from dataset.grammar import (
    AUX,
    CLAUSE_WORDS,
    FUNCTION_WORDS,
    NOT_NOUN_PHRASE_END,
    PRONOUNS,
    VERBS,
    WH_WORDS,
    embedded_question,
    indefinite_article,
    infinitive_form,
    is_factual,
    is_name,
    lower_first,
    plain_words,
)
from dataset.phrases import (
    CONDITION_FRONTED,
    CONTEXT_JOINS,
    EMBED_FRAMES,
    FOR_REMARKS,
    HOW_TO_REQUESTS,
    OWNED_INTROS,
    PURPOSE_REMARKS,
    QUESTION_JOINS,
    REMARK_JOINS,
    REQUEST_FRAMES,
    TRAILING_REMARKS,
)

QUESTION_END = ["", "", "?", "??"]  # how a fragment or a request ends
MAX_TWO_QUESTION_WORDS = 14         # each question of a two-question message
# a head that takes "if" as "whether" ("how do I know if ...") or as part of a phrase ("even if")
WHETHER_HEADS = {"know", "tell", "check", "see", "sure", "ask", "wonder", "decide", "out", "matter", "find",
                 "understand", "test", "figure", "confirm", "verify", "even", "as", "only", "wondering", "asking",
                 "me", "us", "him", "her", "them"}
# pronouns that would point forward to the question if their clause were said first ("I bought it in ...")
FORWARD_PRONOUNS = {"it", "it's", "its", "they", "they're", "their", "them", "he", "he's", "his", "him", "she",
                    "she's", "her", "one", "this", "that", "these", "those"}
# a head word that needs the "to ..." after it ("the best way to", "is it safe to", "do I have to")
NEEDS_TO = set("""
way time place age easiest best cheapest fastest quickest safest simplest need needs want wants have has had
able going trying supposed used allowed enough how what where when whether which hard easy safe possible okay
ok better worse worth too cheaper faster legal illegal normal necessary required mandatory free expensive
difficult smart wise bad good late early long ready right wrong fine reason chance decide plan try learn know
remember forget tell ask expect likely rude weird common polite appropriate pay money cost costs take takes
option options thing things first last next one ones someone something anything anyone nothing go get
refuse refused agree promise threaten hope manage afford fail begin start continue prefer like love hate tend
intend seem pretend wait choose just
""".split())
# ... unless a wh-phrase is their object: "which bus should I take [to get to O'Hare]"
CHOSEN_THEN_TO = {"take", "get", "use", "have"}
# verbs that take their "to ..." after an object ("get my cat to", "help him to"): a head with one of these
# followed by more words is waiting for its "to", which is no purpose ("which bus should I take" is fine)
TO_AFTER_OBJECT = set("""
get got ask asked tell told allow allowed teach taught help helped convince force persuade remind encourage
cause expect make let want wants wanted take takes took need needs
""".split())
# "the first woman to", "the only country to"
TO_AFTER_NOUN = {"first", "last", "only", "next", "second", "third", "fastest", "youngest", "oldest"}
# base verbs a purpose clause may start with ("... to see the northern lights")
PURPOSE_VERBS = VERBS | set("""
reach renew save ease build pass improve add photograph block earn become bind speed smooth tutor cover avoid
hike prove remove calm see lose gain sleep relax stay protect prevent impress attract boost fix get make keep
watch catch visit learn train prepare clean kill lower raise reduce increase cut warm cool dry soften
""".split())
BUY_VERBS = {"buy", "get", "choose", "pick", "use", "bring", "pack", "wear", "order", "rent", "book",
             "recommend", "cook", "make", "bake", "serve", "plant", "read", "watch", "play", "give", "send"}
NOT_FOR_TAIL = {"to", "me", "i", "free", "sale", "rent", "sure", "example", "instance", "now", "good", "someone",
                "anyone", "long", "real", "nothing", "ever"}
NOT_THINGS = {"way", "time", "reason", "word", "name", "age", "day", "month", "season", "thing", "place", "substitute",
              "replacement", "alternative", "cure", "treatment", "remedy", "recipe", "term", "excuse", "answer",
              "solution", "fix", "ticket", "visa", "refund", "remote", "best", "good", "better", "safe", "bad",
              "suitable", "ready", "enough", "known", "famous", "responsible", "eligible", "necessary"}
FRAGMENT = re.compile(r"^What(?: is|'s| are) (?:the|a|an) (.+)\?$")
OWNED = re.compile(r"^(.+) (on|for|with|in) my ([^?]+)\?$")
# what "I have a ..." can own: a named device or vehicle, or one of these after its name
OWNED_NOUNS = set("""
phone laptop computer car truck van tablet printer router modem watch camera console bike motorcycle scooter
dryer washer fridge refrigerator oven dishwasher microwave TV television headphones speaker thermostat
doorbell drone e-reader kindle monitor keyboard mouse controller smartwatch vacuum machine blender mixer kettle
grill heater boiler furnace lawnmower mower treadmill smartphone Chromebook boat camper RV hybrid SUV sedan
fryer toothbrush shaver projector detector pitcher cooker dehumidifier purifier humidifier
""".split())
NOT_OWNED = {"wi-fi", "wifi", "account", "code", "database", "order", "flight", "subscription", "app", "email",
             "server", "website", "repository", "children", "kids"}
KEYWORD_DROP = {"a", "an", "the", "my", "your", "our"}


def _starts_question(words: list[str]) -> bool:
    return bool(words) and words[0].lower() in WH_WORDS | AUX


# ---- indirect and embedded questions, requests ----

def parse_embedded(question: str) -> tuple[str, str | None] | None:
    """(the embedded clause, its infinitive form or None): "how I reset my router", "how to reset my router"."""
    clause = embedded_question(question)
    infinitive = infinitive_form(question)
    return (clause, infinitive and " ".join(infinitive)) if clause else None


def render_embedded(parts: tuple[str, str | None], rng: random.Random) -> str:
    clause, infinitive = parts
    lead, end = rng.choice(EMBED_FRAMES)
    if infinitive and rng.random() < 0.7:
        clause = infinitive
    elif clause.startswith("whether ") and rng.random() < 0.5:
        clause = "if " + clause[len("whether "):]
    return f"{lead} {clause}{end}"


def parse_direct(question: str) -> str | None:
    """Questions whose embedded form differs from the direct one: they keep their inversion after the frame."""
    words = question.split()
    if len(words) < 3 or not _starts_question(words) or embedded_question(question) == lower_first(question[:-1]):
        return None
    return question


def render_direct(question: str, rng: random.Random) -> str:
    lead, end = rng.choice(EMBED_FRAMES)
    return f"{lead} {lower_first(question[:-1])}{end}"


def parse_request(question: str) -> tuple[str | None, str | None] | None:
    """(wh-clause or None, the X of "How do I X?" or None)."""
    clause = embedded_question(question)
    clause = clause if clause and not clause.startswith("whether ") else None
    infinitive = infinitive_form(question)
    how_to = infinitive[1] if infinitive and infinitive[0] == "how to" else None
    if how_to and how_to.split()[0] in {"know", "tell", "say"}:  # "show me how to know if ..."
        how_to = clause = None
    return (clause, how_to) if clause or how_to else None


def render_request(parts: tuple[str | None, str | None], rng: random.Random) -> str:
    """"show me how to X" for "How do I X?"; else a frame before the wh-clause ("explain" only before how/why)."""
    clause, how_to = parts
    if how_to:
        return f"{rng.choice(HOW_TO_REQUESTS)} {how_to}{rng.choice(QUESTION_END)}"
    frames = REQUEST_FRAMES if clause.split()[0] in {"how", "why"} else \
        [f for f in REQUEST_FRAMES if "explain" not in f and "understand" not in f]
    return f"{rng.choice(frames)} {clause}{rng.choice(['', '', '.', '?'])}"


# ---- telegraphic fragments and keyword queries ----

def parse_fragment(question: str) -> str | None:
    """"What is the cheapest way to ship a bike overseas?" -> "cheapest way to ship a bike overseas"."""
    match = FRAGMENT.match(question)
    if not match or plain_words(question) is None:
        return None
    words = match.group(1).split()
    if len(words) < 2 or words[-1].lower() in NOT_NOUN_PHRASE_END or {w.lower() for w in words} & (AUX | WH_WORDS):
        return None  # "index in a database and when should I add one": a second question
    return match.group(1)


def render_fragment(tail: str, rng: random.Random) -> str:
    return tail + rng.choice(QUESTION_END)


def render_infinitive(parts: tuple[str, str], rng: random.Random) -> str:
    """"how to reverse a list in Python", or without the "in" before a final name: "how to reverse a list
    python"."""
    lead, rest = parts
    words = rest.split()
    if len(words) >= 3 and words[-2] in {"in", "on"} and is_name(words[-1]) and rng.random() < 0.5:
        del words[-2]
    return f"{lead} {' '.join(words)}{rng.choice(QUESTION_END)}"


def parse_keyword(question: str) -> str | None:
    """"How do I reset my router password?" -> "reset router password": articles and "my" dropped, and the
    "in" before a final name; only for short actions without a clause."""
    match = re.match(r"^How do I (.+)\?$", question)
    if not match or plain_words(question) is None:
        return None
    words = match.group(1).split()
    if len(words) > 7 or any(w.lower() in CLAUSE_WORDS | {"i", "me", "it", "this", "that", "them"} for w in words):
        return None
    kept = [w for w in words if w.lower() not in KEYWORD_DROP]
    if len(kept) >= 3 and kept[-2] in {"in", "on"} and is_name(kept[-1]):
        del kept[-2]
    return " ".join(kept) if len(kept) >= 2 else None


def render_keyword(keywords: str, rng: random.Random) -> str:
    return keywords + rng.choice(["", "", "", "?"])


# ---- context before the question, kept and merged ----

def parse_condition(question: str) -> tuple[str, str, bool] | None:
    """(head, clause, the clause states a fact) of "<head> if <clause>?"."""
    if plain_words(question) is None:
        return None
    match = re.match(r"^(.+?) if (.+)\?$", question)
    if not match:
        return None
    head, clause = match.groups()
    head_words = head.split()
    if len(head_words) < 2 or not _starts_question(head_words) or head_words[-1].lower() in WHETHER_HEADS \
            or len(clause.split()) < 3 or re.search(r"\bif\b", clause):
        return None
    stands_alone = is_factual(clause) and not FORWARD_PRONOUNS & {w.lower() for w in clause.split()}
    return head, clause, stands_alone


def render_condition(parts: tuple[str, str, bool], rng: random.Random) -> str:
    """A fact said first ("my screen went black after the update, what should I do"), else the if-clause
    put first ("if I lose my passport, what should I do")."""
    head, clause, factual = parts
    if factual and rng.random() < 0.7:
        context = clause[:1].upper() + clause[1:] if rng.random() < 0.4 else clause
        return rng.choice(CONTEXT_JOINS).format(context=context, head=lower_first(head))
    return rng.choice(CONDITION_FRONTED).format(clause=clause, head=lower_first(head))


def parse_owned(question: str) -> tuple[str, str] | None:
    """(head, thing) of "<head> on/for/with/in my <thing>?" where the thing is a device or vehicle with a name
    ("2012 Subaru Outback", "iPhone 13", "Dell laptop"): "I have a <thing>." says all of it."""
    match = OWNED.match(question)
    if not match or plain_words(question) is None:
        return None
    head, _, thing = match.groups()
    head_words, thing_words = head.split(), thing.split()
    if len(head_words) < 3 or not _starts_question(head_words) or not 1 <= len(thing_words) <= 5 \
            or {w.lower() for w in head_words[1:]} & CLAUSE_WORDS:
        return None  # "... so my friends can join the server running on my PC": the thing belongs to the clause
    if not any(is_name(w) for w in thing_words) or "'" in thing \
            or any(w.lower() in FUNCTION_WORDS or w.lower() in NOT_OWNED for w in thing_words):
        return None
    last = thing_words[-1]
    plural = re.search(r"[a-z]s$", last) and last[-2:] not in ("ss", "us", "is")
    if not (is_name(last) or last.lower() in OWNED_NOUNS) or plural:
        return None  # "my Mac anymore", "my PHP code", "my Google account", "my AirPods" (I have a AirPods)
    return head, thing


def render_owned(parts: tuple[str, str], rng: random.Random) -> str:
    head, thing = parts
    intro = rng.choice(OWNED_INTROS).format(a=indefinite_article(thing), thing=thing)
    return f"{intro} {lower_first(head)}{rng.choice(['?', '?', ''])}"


# ---- remarks after the question: dropped, or merged ----

def parse_any(question: str) -> str | None:
    return question if len(question.split()) <= 25 else None


def render_remark(question: str, rng: random.Random) -> str:
    return rng.choice(REMARK_JOINS).format(head=question[:-1], tail=rng.choice(TRAILING_REMARKS))


def _plain_head(head: list[str], before_to: bool) -> bool:
    """A head that is one simple clause: no clause word, no dummy "it", no word waiting for a "to" (or, with
    before_to False, a "for") that would follow it: "how do I get my cat [to]", "the first woman [to]",
    "what is the amount needed [to]", "how much do I need [to]"."""
    lowered = [w.lower() for w in head]
    if len(head) < 4 or not _starts_question(head) or set(lowered[1:]) & (CLAUSE_WORDS | {"it"}) \
            or lowered[-1] in FUNCTION_WORDS or re.fullmatch(r"[a-z]+(ed|ing)", lowered[-1]):
        return False
    chosen = lowered[-1] in CHOSEN_THEN_TO and lowered[0] in {"which", "what"} and lowered[-2] in PRONOUNS
    if before_to and (lowered[-1] in NEEDS_TO and not chosen or set(lowered) & TO_AFTER_NOUN
                      or set(lowered[-4:-1]) & TO_AFTER_OBJECT):
        return False
    return True


def _purpose(words: list[str]) -> tuple[str, str, str] | None:
    """("to", head, "see the northern lights") of "<head> to <verb> ...?" where the head is a whole question."""
    for i in range(len(words) - 3, 3, -1):
        if words[i] == "to" and words[i + 1] in PURPOSE_VERBS:
            tail_clause = {w.lower() for w in words[i + 1:]} & (CLAUSE_WORDS | AUX | WH_WORDS)
            return None if tail_clause or not _plain_head(words[:i], before_to=True) else \
                ("to", " ".join(words[:i]), " ".join(words[i + 1:]))
    return None


def _for(words: list[str]) -> tuple[str, str, str] | None:
    """("for", head, "video editing") of "What is a good laptop for video editing?", "What should I buy for
    ...?": a head that chooses a thing, a short noun phrase after "for"."""
    if words.count("for") != 1 or "to" in words or "as" in words:
        return None  # "how do I use SUMIFS to add up sales for one region": the "for" belongs to the inner verb
    i = len(words) - 1 - words[::-1].index("for")
    head, tail = words[:i], words[i + 1:]
    lowered = {w.lower() for w in tail}
    if not _plain_head(head, before_to=False) or not 1 <= len(tail) <= 6 \
            or lowered & (AUX | CLAUSE_WORDS | NOT_FOR_TAIL) \
            or tail[-1].lower() in NOT_NOUN_PHRASE_END or head[-1].lower() in NOT_THINGS:
        return None
    if not ({w.lower() for w in head} & (BUY_VERBS | {"good", "best"})):
        return None
    return "for", " ".join(head), " ".join(tail)


def parse_merged_remark(question: str) -> tuple[str, str, str] | None:
    words = plain_words(question)
    if words is None or not _starts_question(words):
        return None
    found = _purpose(words) or _for(words)
    if found:
        return found
    condition = parse_condition(question)
    return ("if", condition[0], condition[1]) if condition and condition[2] else None


def render_merged_remark(parts: tuple[str, str, str], rng: random.Random) -> str:
    kind, head, tail = parts
    if kind == "to":
        singular = {"i", "my", "me", "myself", "i'm"} & {w.lower() for w in (head + " " + tail).split()}
        remarks = [r for r in PURPOSE_REMARKS if not (singular and r.startswith("we"))]
        tail = f"{rng.choice(remarks)} {tail}"
    elif kind == "for":
        tail = f"{rng.choice(FOR_REMARKS)} {tail}"
    return rng.choice(REMARK_JOINS).format(head=head, tail=tail)


# ---- two questions in one message ----

def parse_short(question: str) -> str | None:
    """A short question that starts with a question word (its first word is no name wherever it stands)."""
    words = question.split()
    return question if len(words) <= MAX_TWO_QUESTION_WORDS and _starts_question(words) else None


def render_two(questions: tuple[str, str], rng: random.Random) -> str:
    first, second = questions
    second = lower_first(second) if rng.random() < 0.6 else second
    text = rng.choice(QUESTION_JOINS).format(q1=first[:-1], q2=second)
    return text if text != f"{first} {second}" else f"{first} {lower_first(second)}"  # not the output itself
