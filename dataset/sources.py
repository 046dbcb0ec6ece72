"""The sources: clean questions (chatterbot-corpus, questions.txt), codespell's misspellings, the split."""

from __future__ import annotations

import importlib.resources
import random
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from dataset.words import norm_word, split_token

QUESTIONS_FILE = Path(__file__).resolve().parent / "questions.txt"
MAX_CODING_TEMPLATES = 40  # chatterbot's coding.yml is mostly "can you write X in Y?"

QUESTION_STARTERS = {
    "what", "which", "who", "whom", "whose", "where", "when", "why", "how", "is", "are", "am",
    "can", "could", "do", "does", "did", "will", "would", "should", "shall", "have", "has",
    "had", "was", "were", "may", "might", "must", "if", "in", "on", "my", "i", "a", "an",
    "the", "for", "at", "to", "from", "with", "after", "before", "according", "as",
}
WH_WORDS = {"what", "which", "who", "whom", "whose", "where", "when", "why", "how"}

# chatterbot-corpus questions that pass the automatic filters but are broken or not useful
CORPUS_DROP = {
    "does take up a lot of your time?",
    "how would you feel about me if i told you i was?",
    "what are you then?",
    "do you know all of it?",
    "what have i done that isn't nice?",
    "do you think i am?",
    "what is it like?",
    "did i ever live?",
    "does what make me sad?",
    "who is is the youngest person ever to appear on a billboard chart?",
    "what is the twitter bird's official?",
    "do you liked it?",
    "in which of britney's video does she appear as a stewardess?",
    "what is the name of the prehistoric town in which the flinstones live?",
    "i know why the caged bird sings' is the autobiography about the early years of what "
    "inspirational african-american writer and poet?",
    "what celebrity has their dog cloned- twice?",
    "the male of what species testicles explode on mating and then dies?",
    "what is \"jaggery,\" used in indian cooking?",
    'which artist painted, "guernica"?',
    "i might be able to, what are the revisions?",
    "what does bmw stand for (in english)?",
    "who was the first woman to win a nobel prize (1903)?",
}
# statements by the bot that end in a question ("I am doing well, how about you?")
CORPUS_DROP_PREFIXES = ("i am ", "i have ", "good morning", "not much")


@dataclass
class Lexicon:
    """What the noise needs to know about words."""
    misspellings: dict[str, list[str]]  # correct word -> human misspellings of it (codespell)
    real_words: set[str]                # a typo must not produce one of these
    common_words: set[str]              # lowercase words: a capitalised first word among them is no name


def _codespell_lines() -> list[str]:
    path = importlib.resources.files("codespell_lib") / "data" / "dictionary.txt"
    return path.read_text(encoding="utf-8").splitlines()


def load_misspellings() -> dict[str, list[str]]:
    """codespell dictionary reversed: correct word -> sorted list of human misspellings."""
    rev: dict[str, set[str]] = {}
    for line in _codespell_lines():
        if "->" not in line:
            continue
        wrong, right = line.split("->", 1)
        corrections = [c.strip() for c in right.split(",") if c.strip()]
        if len(corrections) != 1:
            continue
        right = corrections[0]
        if not (re.fullmatch(r"[a-z]+", wrong) and re.fullmatch(r"[a-z]+", right)):
            continue
        if len(right) < 3 or abs(len(wrong) - len(right)) > 2:
            continue
        rev.setdefault(right, set()).add(wrong)
    return {k: sorted(v) for k, v in sorted(rev.items())}


def load_misspelling_keys() -> set[str]:
    """Every misspelling codespell knows, lowercase: a source question holding one is dropped."""
    return {line.split("->", 1)[0].strip().lower() for line in _codespell_lines() if "->" in line}


def clean_text(s: str) -> str:
    s = (s.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"')
         .replace("\u201d", '"').replace("\u2013", "-").replace("\u2014", "-"))
    s = " ".join(s.split())
    s = re.sub(r"\s+([?,.!;:])(?=\s|$)", r"\1", s)  # not "a .env file", "run ./backup.sh"
    return s


def looks_like_question(q: str, misspelled: set[str]) -> bool:
    words = [norm_word(w) for w in q.split()]
    if not (4 <= len(words) <= 35) or not q.endswith("?") or "?" in q[:-1] or not q[0].isalpha():
        return False
    if words[0] in {"hello", "hi", "hey", "greetings"} or q.lower() in CORPUS_DROP \
            or q.lower().startswith(CORPUS_DROP_PREFIXES) or "how about you" in q.lower():
        return False
    if re.search(r"\b(\w+) \1\b", q, re.I) or q.count('"') % 2:   # "is is", unbalanced quotes
        return False
    if re.search(r"[a-z]{2,}[.!]\s", q):      # more than one sentence
        return False
    if not (words[0] in QUESTION_STARTERS - {"my", "a", "an", "the", "i"} or WH_WORDS & set(words)):
        return False
    if any(split_token(w)[1].lower() in misspelled for w in q.split()):  # a few corpus typos
        return False
    return True


def _strings_in(node, found: list[str]) -> None:
    """Every string of a YAML conversations tree, in order."""
    if isinstance(node, str):
        found.append(node)
    elif isinstance(node, list):
        for child in node:
            _strings_in(child, found)


def load_chatterbot_questions(rng: random.Random, misspelled: set[str]) -> list[str]:
    root = importlib.resources.files("chatterbot_corpus") / "data" / "english"
    found: list[str] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yml"):
            continue
        data = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
        _strings_in(data.get("conversations", []), found)
    out, templates = [], []
    for s in found:
        q = clean_text(str(s))
        if not q.endswith("?"):
            continue
        q = q[0].upper() + q[1:]
        if not looks_like_question(q, misspelled):
            continue
        (templates if q.lower().startswith("can you write") else out).append(q)
    templates = sorted(set(templates))
    rng.shuffle(templates)
    return out + templates[:MAX_CODING_TEMPLATES]


def load_project_questions(misspelled: set[str]) -> list[str]:
    qs = []
    for line in QUESTIONS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        q = clean_text(line)
        assert q[0].isupper() and q.endswith("?"), f"bad line in questions.txt: {line!r}"
        bad = [w for w in q.split() if split_token(w)[1].lower() in misspelled]
        assert not bad, f"known misspelling {bad} in questions.txt: {line!r}"
        qs.append(q)
    return qs


def project_topics() -> dict[str, str]:
    """The topic section of questions.txt each project question stands in (the key is the cleaned question)."""
    topics, section = {}, ""
    for line in QUESTIONS_FILE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^# --- (.+?) ---$", line.strip())
        if match:
            section = match.group(1)
        elif line.strip() and not line.startswith("#"):
            topics[clean_text(line.strip())] = section
    return topics


def load_held_out(paths: list[Path]) -> set[str]:
    """The source questions of the fixed benchmarks (earlier valid splits), as held_out_key()s: kept out of train."""
    import json

    pairs = [pair for path in paths for pair in json.loads(path.read_text(encoding="utf-8"))]
    return {held_out_key(part) for pair in pairs for part in question_parts(pair["output"])}


def held_out_key(question: str) -> str:
    """A question compared without case and spacing ("a.gitignore" in v2 is "a .gitignore" today)."""
    return re.sub(r"\s+", "", question.lower())


def question_parts(output: str) -> list[str]:
    """The questions of an output: "Q1? Q2?" -> ["Q1?", "Q2?"]; a one-question output -> [output]."""
    return re.split(r"(?<=\?) (?=[A-Z])", output)


def questions_file_sections() -> list[str]:
    """The topic sections of questions.txt ("# --- name ---" lines)."""
    return re.findall(r"^# --- (.+?) ---$", QUESTIONS_FILE.read_text(encoding="utf-8"), re.M)


def dedupe(qs: list[str]) -> list[str]:
    seen, out = set(), []
    for q in qs:
        key = q.lower()
        if key not in seen:
            seen.add(key)
            out.append(q)
    return out


def build_lexicon(questions: list[str]) -> Lexicon:
    """Real words: every word of the questions and every word codespell corrects to. Common words: the
    question starters and every lowercase word found after the first word of a question."""
    real_words, common_words = set(), set(QUESTION_STARTERS) | {"what's", "where's", "who's", "how's"}
    for q in questions:
        for i, t in enumerate(q.split()):
            core = split_token(t)[1]
            real_words.add(core.lower())
            if i > 0 and core and core == core.lower():
                common_words.add(core)
    misspellings = load_misspellings()
    real_words |= set(misspellings)
    return Lexicon(misspellings, real_words, common_words)


class SizeError(ValueError):
    """The sources hold too few questions (or left-alone items) for the split sizes asked for."""


def split_questions(questions: list[str], rng: random.Random, train_size: int, valid_size: int,
                    held_out: set[str]) -> tuple[list[str], list[str], int]:
    """Shuffles the questions in place and splits them in proportion to the sizes, a train size above the number
    of questions counting as that number (train then draws several pairs from a question; valid keeps about one
    each): (train, valid, how many held-out questions were kept out of train). A held-out question (a source of an
    earlier valid split) may land in valid, never in train: the fixed benchmarks stay clean for a model trained on
    this data."""
    rng.shuffle(questions)
    n_valid = round(len(questions) * valid_size / (min(train_size, len(questions)) + valid_size))
    valid, rest = questions[:n_valid], questions[n_valid:]
    train = [q for q in rest if held_out_key(q) not in held_out]
    assert not set(valid) & set(train)
    return train, valid, len(rest) - len(train)
