"""The datasheet: statistics of the two splits, the README.md the generator writes, the console summary."""

from __future__ import annotations

import importlib.metadata
import re
from collections import Counter
from dataclasses import dataclass

from dataset.noise import MAX_TYPOS, datasheet_families
from dataset.pairs import MAX_INPUT_WORDS
from dataset.sources import MAX_CODING_TEMPLATES, questions_file_sections
from dataset.typos import TYPO_KINDS


@dataclass
class QuestionCounts:
    chatterbot: int
    project: int
    total: int  # after deduplication
    train: int  # questions in each split
    valid: int


def split_stats(pairs: list[dict], tags: list[list[str]]) -> dict:
    import sacrebleu

    n = len(pairs)
    inputs = [p["input"] for p in pairs]
    outputs = [p["output"] for p in pairs]
    counts = Counter()  # pairs per tag; words per "typo:<kind>" tag
    typo_words = 0
    for pair_tags in tags:
        counts.update(tag for tag in set(pair_tags) if not tag.startswith("typo:"))
        typos = [tag for tag in pair_tags if tag.startswith("typo:")]
        typo_words += len(typos)
        counts.update(typos)
    in_words = [len(s.split()) for s in inputs]
    out_words = [len(s.split()) for s in outputs]
    return {
        "pairs": n,
        "sources": len(set(outputs)),
        "identity": counts["identity"],
        "bleu": sacrebleu.corpus_bleu(inputs, [outputs]).score / 100,
        "chrf": sacrebleu.corpus_chrf(inputs, [outputs]).score / 100,
        "counts": counts,
        "typo_words": typo_words,
        "in_words_mean": sum(in_words) / n,
        "in_words_max": max(in_words),
        "out_words_mean": sum(out_words) / n,
        "out_words_min": min(out_words),
        "out_words_max": max(out_words),
    }


def licence_info() -> dict[str, str]:
    """Versions and licences of the installed source packages, as their metadata states them."""
    info = {}
    try:
        md = importlib.metadata.metadata("chatterbot-corpus")
        cls = [c for c in (md.get_all("Classifier") or []) if c.startswith("License")]
        info["chatterbot"] = f"{md['Version']}; metadata: " + "; ".join(
            cls + ([f"License: {md['License']}"] if md.get("License") else []))
    except importlib.metadata.PackageNotFoundError:
        info["chatterbot"] = "not installed"
    try:
        md = importlib.metadata.metadata("codespell")
        info["codespell"] = f"{md['Version']}; metadata: License-Expression: " \
                            f"{md.get('License-Expression')}"
        body = md.get_payload() or ""
        paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", body)]
        found = [p for p in paras if "dictionary" in p and "Creative Commons" in p]
        info["codespell_dict"] = found[0] if found else "(statement not found)"
    except importlib.metadata.PackageNotFoundError:
        info["codespell"] = info["codespell_dict"] = "not installed"
    return info


def pct(x, n):
    return f"{100 * x / n:.1f}%"


HEADER = """# Question-rewriting dataset (`train.json`, `valid.json`)

*This file is written by `generate.py`; edit the script, not this file.*

## Purpose

Training and validation data for the project's question rewriter: a small language model
that turns a messy question as a user types it into a clean question that keeps every piece of
its content. Typos are fixed, filler and irrelevant wording removed, and nothing of substance
(names, numbers, dates, places, negations) is lost or invented. About 10% of the inputs
are already clean and must be returned unchanged.

Each file is a JSON list of `{"input": "<question as the user typed it>", "output": "<clean rewrite>"}`.

"""


def sources_section(lic: dict[str, str], n_project: int) -> str:
    sections = questions_file_sections()
    return f"""## Sources and licences

| source | what is used | licence (as found in the installed package) |
|---|---|---|
| [chatterbot-corpus](https://github.com/gunthercox/chatterbot-corpus) (PyPI, version {lic['chatterbot'].split(';')[0]}) | questions (lines ending in "?") from `chatterbot_corpus/data/english/*.yml` | {lic['chatterbot'].split('; ', 1)[1]}. The wheel ships no licence file; the upstream repository states BSD 3-Clause |
| `dataset/questions.txt` | {n_project} clean questions written for this project, in {len(sections)} topic sections: {', '.join(sections)} | project's own, same licence as this repository |
| [codespell](https://github.com/codespell-project/codespell) (PyPI, version {lic['codespell'].split(';')[0]}) | `codespell_lib/data/dictionary.txt` (`misspelling->correction`), used in reverse to put real human misspellings into inputs | code: {lic['codespell'].split('; ', 1)[1]}. Dictionary, from the package's description: "{lic['codespell_dict']}" |

Only single words taken from the codespell dictionary (misspellings) appear in the data; the
dataset credits the dictionary here because it is CC BY-SA 3.0.

Real third-party data: `datamod.py --from-mqr PATH` imports the MQR (Multi-domain Question
Rewriting) data from a local copy. That data is third-party and is never committed to
this repository.

"""


def generation_section(command: str, n_chatter: int, n_project: int, n_total: int, st_train: dict,
                       st_valid: dict) -> str:
    return f"""## How it is generated

```
{command}
```

(`--out-dir` defaults to this folder.) Deterministic for a given seed: `random.Random(seed)` only,
sorted file listings.

1. **Clean questions.** chatterbot-corpus questions: whitespace and quotes are normalised, the first
   letter is capitalised. Dropped: questions under 4 or over 35 words, several sentences, greetings,
   lines that are not questions, lines with a known misspelling, and a few broken lines.
   The many "can you write X in Y?" templates are capped at {MAX_CODING_TEMPLATES}. Kept: {n_chatter}.
   Project questions: {n_project}. After deduplication that ignores case: **{n_total}** clean questions.
2. **Split first.** The clean questions are shuffled with the seed and split in proportion to
   the requested sizes. No source question is in both splits.
3. **Noise.** Each clean question yields {st_train['pairs'] / st_train['sources']:.1f} inputs on average in train
   ({st_valid['pairs'] / st_valid['sources']:.1f} in valid): few variants of many questions, so that a model
   cannot score well on train by memorising its targets. The first 10% of a split's pairs
   (one per question) are clean copies. Every other input is the question with random noise
   (table below). Noise never touches words that contain a digit or a capital letter (names, products,
   acronyms; only whole-input lower/upper casing changes their case), never changes a negation other
   than don't->dont or I don't know->idk, and never makes a typo that is itself a real word. Typos keep
   the first letter, with at most {MAX_TYPOS} per input. Inputs longer than {MAX_INPUT_WORDS} words are
   rejected. Inputs are unique across both files.
4. **Checks.** `check_pair` asserts for every pair: the output starts with an uppercase letter and ends
   with "?"; every digit sequence of the output is in the input; every negation (not, no, never,
   cannot, n't, ...) of the output is in the input in some form (dont and idk count); every
   capitalised word, product name or number-word of the output is in the input, ignoring case.

"""


def counts_section(st_train: dict, st_valid: dict) -> str:
    return f"""## Counts

| | train | valid |
|---|---|---|
| pairs | {st_train['pairs']} | {st_valid['pairs']} |
| distinct source questions | {st_train['sources']} | {st_valid['sources']} |
| clean inputs (input == output) | {st_train['identity']} ({pct(st_train['identity'], st_train['pairs'])}) | {st_valid['identity']} ({pct(st_valid['identity'], st_valid['pairs'])}) |
| input words, mean / max | {st_train['in_words_mean']:.1f} / {st_train['in_words_max']} | {st_valid['in_words_mean']:.1f} / {st_valid['in_words_max']} |
| output words, mean (min-max) | {st_train['out_words_mean']:.1f} ({st_train['out_words_min']}-{st_train['out_words_max']}) | {st_valid['out_words_mean']:.1f} ({st_valid['out_words_min']}-{st_valid['out_words_max']}) |
| identity-copy BLEU (sacrebleu corpus BLEU / 100, input vs output) | {st_train['bleu']:.3f} | {st_valid['bleu']:.3f} |
| identity-copy chrF (/ 100) | {st_train['chrf']:.3f} | {st_valid['chrf']:.3f} |

The identity-copy scores are the baseline: a model that returns its input unchanged scores this.

"""


def noise_section(st_train: dict, st_valid: dict) -> str:
    rows = [f"| {family.description} | {pct(st_train['counts'][family.name], st_train['pairs'])} | "
            f"{pct(st_valid['counts'][family.name], st_valid['pairs'])} |" for family in datasheet_families()]
    trows = [f"| {kind.description} | {st_train['counts']['typo:' + kind.name]} | "
             f"{st_valid['counts']['typo:' + kind.name]} |" for kind in TYPO_KINDS]
    return f"""## Noise rates (share of all pairs, clean copies included)

| noise | train | valid |
|---|---|---|
{chr(10).join(rows)}

Misspelled words by kind (counts of words; train has {st_train['typo_words']} in all, valid {st_valid['typo_words']}):

| typo kind | train | valid |
|---|---|---|
{chr(10).join(trows)}

"""


def examples_section(examples: list[dict]) -> str:
    ex = "\n".join(f"| {e['input'].replace('|', '/')} | {e['output'].replace('|', '/')} |"
                   for e in examples)
    return f"""## Ten random examples (seeded, from both splits)

| input | output |
|---|---|
{ex}

"""


LIMITATIONS = """## Limitations

- The noise is synthetic. Real users also paraphrase, reorder, and write questions that are not
  grammatical at all. Use the MQR import for real data.
- The clean questions are English only and mostly short, simple questions. The chatterbot-corpus
  part includes bot-directed small talk ("Are you sentient?") and trivia.
- The backstory, greeting, thanks and injection phrases come from small fixed lists. A model can learn the
  lists instead of the general skill.
"""


def render_readme(command: str, counts: QuestionCounts, st_train: dict, st_valid: dict, examples: list[dict],
                  lic: dict[str, str]) -> str:
    return (HEADER + sources_section(lic, counts.project)
            + generation_section(command, counts.chatterbot, counts.project, counts.total, st_train, st_valid)
            + counts_section(st_train, st_valid) + noise_section(st_train, st_valid) + examples_section(examples)
            + LIMITATIONS)


def print_summary(counts: QuestionCounts, st_train: dict, st_valid: dict) -> None:
    print(f"clean questions: {counts.total} (chatterbot {counts.chatterbot}, project {counts.project}); "
          f"train {counts.train} / valid {counts.valid}")
    for name, st in (("train", st_train), ("valid", st_valid)):
        print(f"{name}: {st['pairs']} pairs from {st['sources']} questions, "
              f"clean {100 * st['identity'] / st['pairs']:.1f}%, "
              f"identity BLEU {st['bleu']:.3f} chrF {st['chrf']:.3f}, "
              f"input words mean {st['in_words_mean']:.1f} max {st['in_words_max']}")
    print("noise rates (train / valid):")
    for family in datasheet_families():
        print(f"  {family.name:22s} {100 * st_train['counts'][family.name] / st_train['pairs']:5.1f}% "
              f"{100 * st_valid['counts'][family.name] / st_valid['pairs']:5.1f}%")
    for kind in TYPO_KINDS:
        tag = "typo:" + kind.name
        print(f"  {tag:22s} {st_train['counts'][tag]:5d} words {st_valid['counts'][tag]:5d} words")
