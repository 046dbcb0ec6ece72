"""The datasheet: statistics of the two splits, the README.md the generator writes, the console summary."""

from __future__ import annotations

import importlib.metadata
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from dataset.checks import is_left_alone
from dataset.families import RESHAPE_FAMILIES
from dataset.left_alone import LEFT_ALONE_DESCRIPTIONS, NON_ENGLISH, NON_ENGLISH_LANGUAGES
from dataset.noise import MAX_TYPOS, datasheet_families
from dataset.pairs import IDENTITY_RATE, MAX_INPUT_WORDS
from dataset.sources import MAX_CODING_TEMPLATES, question_parts, questions_file_sections
from dataset.typos import TYPO_KINDS


@dataclass
class QuestionCounts:
    chatterbot: int
    project: int
    total: int  # after deduplication
    train: int  # questions in each split
    valid: int
    held_out: int  # source questions of the fixed benchmarks (v2's, v3's valid) kept out of train


def family_repeats(pairs: list[dict]) -> int:
    """How many targets have two inputs made by the same family (token noise alone counts as one)."""
    families = defaultdict(list)
    for pair in pairs:
        if not is_left_alone(pair):
            families[pair["output"]].append(pair["family"])
    return sum(len(names) != len(set(names)) for names in families.values())


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
    # the clean questions behind the pairs (two for a two-question pair; none for a left-alone input)
    questions = [part for pair, pair_tags in zip(pairs, tags) if not set(pair_tags) & set(LEFT_ALONE_DESCRIPTIONS)
                 for part in question_parts(pair["output"])]
    in_words = [len(s.split()) for s in inputs]
    out_words = [len(s.split()) for s in outputs]
    return {
        "pairs": n,
        "sources": len(set(questions)),
        "question_uses": len(questions),
        "family_repeats": family_repeats(pairs),
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


HEADER = """# Question-rewriting dataset v5 (`train.json`, `valid.json`)

*This file is written by `generate.py`; edit the script, not this file.*

## Purpose

Training and validation data for the project's question rewriter: a small language model
that turns a messy message as a user types it into a clean question that keeps every piece of
its content. Typos are fixed, filler and irrelevant wording removed, the question itself reshaped
where it came embedded, as a fragment or as a request, context that the question needs merged into
it, and nothing of substance (names, numbers, dates, places, negations) is lost or invented. A
message with two questions becomes two clean questions ("Q1? Q2?"). About 10% of the inputs are
already clean, and a few percent are questions in other languages or greetings alone: all of these
must be returned unchanged.

Each file is a JSON list of `{"input": "<message as the user typed it>", "output": "<clean rewrite>",
"family": "<what made the input>"}`: a reshaping family below, `noise` (token noise alone), `identity` (a clean
question), `non_english` or `greeting_only`; `score.py` scores each family apart.
`valid_v2.json`, `valid_v3.json` and `valid_v4.json` are the valid splits of v2, v3 and v4 of this data, kept
unchanged as fixed benchmarks (see "Benchmarks" below); `train_v4.json` is v4's training split, for the
original work's recipe.

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


def same_family_text(st_train: dict, st_valid: dict) -> str:
    repeats = [f"{st['family_repeats']:,} {name} targets" for name, st in (("train", st_train), ("valid", st_valid))
               if st["family_repeats"]]
    return f"the same family twice for {' and '.join(repeats)}" if repeats else "never the same family twice"


def generation_section(command: str, counts: QuestionCounts, st_train: dict, st_valid: dict) -> str:
    return f"""## How it is generated

```
{command}
```

(`--out` defaults to this folder.) Deterministic for a given seed: `random.Random(seed)` only,
sorted file listings.

1. **Clean questions.** chatterbot-corpus questions: whitespace and quotes are normalised, the first
   letter is capitalised. Dropped: questions under 4 or over 35 words, several sentences, greetings,
   lines that are not questions, lines with a known misspelling, and a few broken lines.
   The many "can you write X in Y?" templates are capped at {MAX_CODING_TEMPLATES}. Kept: {counts.chatterbot}.
   Project questions: {counts.project}. After deduplication that ignores case: **{counts.total}** clean questions.
2. **Split first.** The clean questions are shuffled with the seed and split in proportion to
   the requested sizes. No source question is in both splits. The source questions of the earlier valid
   splits (`valid_v2.json`, `valid_v3.json`, `valid_v4.json`) never go to train: those drawn into train are left out
   ({counts.held_out} questions), so those benchmarks stay unseen. Train uses {counts.train} questions, valid
   {counts.valid}.
3. **Shapes.** Each split holds {pct(st_train['identity'], st_train['pairs'])} clean copies (one per question,
   for the first {round(100 * IDENTITY_RATE)}% of its pairs) and the left-alone inputs (table below). Of the
   other inputs, each reshaping family takes its share (table below) among the questions whose shape it handles,
   at random; the rest keep their question as it is. A question yields
   {st_train['question_uses'] / st_train['sources']:.2f} inputs on average in train
   ({st_valid['question_uses'] / st_valid['sources']:.2f} in valid), {same_family_text(st_train, st_valid)}: few variants
   of many questions, so that a model cannot score well on train by memorising its targets.
4. **Noise.** Every input but the clean copies and the left-alone ones then gets random noise (table
   below), reshaped inputs too (without a hedge: they have their own lead-in). Noise never touches words that
   contain a digit or a capital letter (names, products, acronyms; only whole-input lower/upper casing changes
   their case), never changes a negation other than don't->dont or I don't know->idk, and never makes a typo
   that is itself a real word. Typos keep the first letter, with at most {MAX_TYPOS} per input. Inputs longer
   than {MAX_INPUT_WORDS} words are rejected. Inputs are unique across both files.
5. **Checks.** `check_pair` asserts for every pair: the output is one or two questions, each starting with an
   uppercase letter and ending with "?"; every digit sequence of the output is in the input; every negation
   (not, no, never, cannot, n't, ...) of the output is in the input in some form (dont and idk count); every
   capitalised word, product name or number-word of the output is in the input, ignoring case. A left-alone
   pair is its own output. `check_splits` asserts that no source question is in both splits, or in train and
   a fixed benchmark (`valid_v2.json`, `valid_v3.json`, `valid_v4.json`).

"""


def reshape_section(st_train: dict, st_valid: dict, train: list[dict], train_tags: list[list[str]]) -> str:
    """The reshaping families: share and one example each (the first train pair of the family)."""
    rows = []
    for family in RESHAPE_FAMILIES:
        example = next((p for p, tags in zip(train, train_tags) if family.name in tags), None)
        shown = f"{example['input']} -> {example['output']}".replace("|", "/") if example else "(none)"
        shares = [pct(st['counts'][family.name], st['pairs']) for st in (st_train, st_valid)]
        rows.append(f"| `{family.name}` | {family.description} | {shares[0]} | {shares[1]} | {shown} |")
    return f"""## Reshaping families (share of all pairs; whole-question transforms, before the noise)

Real chat messages need the question itself reshaped, not only its words fixed. Each family below makes an
input from a clean question BY RULE (`reshape.py`: `parse` finds the parts of a question the family can use,
`render` draws the input), and the clean question stays the target. A family takes only the question shapes
it handles correctly and skips the rest, so each family's questions are a subset: the embedded form, for
instance, undoes subject-auxiliary inversion only after a pronoun, "there", a short noun phrase that ends at a
known verb, or a whole noun phrase after "what/who/where is"; "did" questions are skipped (they would need
the past tense). The noise of the next table is then layered on top, at the usual rates (no hedge). The two
"kept and merged" context families and `remark_merged` are the counterpart of the backstory noise, which
teaches deleting a sentence: the difference is whether the sentence carries content the question needs.
The example is the first train pair of each family, after its noise.

| family | input | train | valid | example (input -> output) |
|---|---|---|---|---|
{chr(10).join(rows)}

"""


def left_alone_section(st_train: dict, st_valid: dict, guard_misses: int) -> str:
    rows = [f"| clean copy of an English question | {pct(st_train['identity'], st_train['pairs'])} | "
            f"{pct(st_valid['identity'], st_valid['pairs'])} |"]
    rows += [f"| {text} | {pct(st_train['counts'][tag], st_train['pairs'])} | "
             f"{pct(st_valid['counts'][tag], st_valid['pairs'])} |" for tag, text in LEFT_ALONE_DESCRIPTIONS.items()]
    return f"""## Inputs left unchanged (input == output)

| input | train | valid |
|---|---|---|
{chr(10).join(rows)}

The non-English questions ({len(NON_ENGLISH)}, in {len(NON_ENGLISH_LANGUAGES)} languages:
{', '.join(NON_ENGLISH_LANGUAGES)}) and the greetings are written for this project in `left_alone.py`; each item is in one split only. The project's
guard (`qrewrite/skip.py`, `skip_reason`) leaves every greeting alone before asking the model, and
all the non-English questions but {guard_misses}: short Latin-script questions with too few of the function
words `is_english` knows ("¿Qué hora es en Buenos Aires ahora?", "Chi ha dipinto la Gioconda?"). For those
the model itself must leave the message alone.

"""


def counts_section(st_train: dict, st_valid: dict) -> str:
    return f"""## Counts

| | train | valid |
|---|---|---|
| pairs | {st_train['pairs']} | {st_valid['pairs']} |
| distinct source questions | {st_train['sources']} | {st_valid['sources']} |
| clean copies of English questions (input == output) | {st_train['identity']} ({pct(st_train['identity'], st_train['pairs'])}) | {st_valid['identity']} ({pct(st_valid['identity'], st_valid['pairs'])}) |
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
    return f"""## Noise rates (share of all pairs, clean copies and left-alone inputs included)

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


BATCH = 8  # finetune.py's default --batch-size


def size_section(st_train: dict, st_valid: dict) -> str:
    steps = -(-st_train["pairs"] // BATCH)
    words = st_train["in_words_mean"] + st_train["out_words_mean"]
    return f"""## Size of the splits: the training budget

`finetune.py`'s default recipe sees each training pair once: {st_train['pairs']:,} train pairs are {steps:,}
steps of batch {BATCH}, the compute of v4's 4,000 pairs over 3 epochs (the original work's recipe). At equal
compute, pairs seen once beat pairs seen again: on v4's valid split, 4,000 pairs x 3 epochs scored 89.58 BLEU,
8,000 x 2 91.81 and 16,000 x 1 92.83 (the learning curve in `docs/results.md`). A pair has {words:.1f} words of
input and output on average. The clean questions limit how many *distinct* targets there are: a question
yields about three inputs, each with its own shape and noise (step 3 above). {st_valid['pairs']} valid pairs
give each reshaping family at least a dozen valid pairs; the validation loss is taken on them 4 times in the
run, and the lowest point is the model kept.

## Benchmarks

- `valid.json` (v5): this generator's valid split, all families.
- `valid_v4.json` (v4): v4's 500 valid pairs, unchanged (v4's families; v5 adds `statement_why` and
  `aside_dropped`, and the questions of `questions.txt`'s later sections).
- `valid_v3.json` (v3): v3's 500 valid pairs, unchanged (v3 had 3,846 source questions).
- `valid_v2.json` (v2): v2's 450 valid pairs, unchanged (token noise only, no reshaping families).
  None of their source questions is in v5's train (checked by `check_splits` and `tests/test_dataset.py`).
  Score a model on them with `python score.py --data dataset/valid.json dataset/valid_v4.json
  dataset/valid_v3.json dataset/valid_v2.json` (outputs `valid_io.json`, `valid_v4_io.json`, ..., and a table by
  family for the first three), or `datamod.py --valid dataset/valid_v4.json` for v4's split as the validation set.

"""


LIMITATIONS = """## Limitations

- The noise is synthetic, and so are the reshaped shapes: they come from rules with small word lists,
  which take only the question shapes they handle (see above), so each family covers a subset of the
  questions and of the ways people write. Use the MQR import for real data.
- The clean questions are English and mostly short, simple questions. The chatterbot-corpus
  part includes bot-directed small talk ("Are you sentient?") and trivia.
- The backstory, greeting, thanks, injection and remark phrases and the frames of the embedded and request
  forms come from small fixed lists. A model can learn the lists instead of the general skill.
- Some shapes keep a guess: "how to X" and a keyword query are written back as "How do I X?" (never "How can
  I"), "I have a <thing>." as "... on/for/with/in my <thing>?" (the preposition of the source question).
"""


def render_readme(command: str, counts: QuestionCounts, st_train: dict, st_valid: dict, examples: list[dict],
                  lic: dict[str, str], train: list[dict], train_tags: list[list[str]]) -> str:
    from qrewrite.skip import skip_reason

    guard_misses = sum(skip_reason(text) is None for text in NON_ENGLISH)
    return (HEADER + sources_section(lic, counts.project)
            + generation_section(command, counts, st_train, st_valid)
            + counts_section(st_train, st_valid) + size_section(st_train, st_valid)
            + reshape_section(st_train, st_valid, train, train_tags)
            + left_alone_section(st_train, st_valid, guard_misses)
            + noise_section(st_train, st_valid) + examples_section(examples) + LIMITATIONS)


def print_summary(counts: QuestionCounts, st_train: dict, st_valid: dict) -> None:
    print(f"clean questions: {counts.total} (chatterbot {counts.chatterbot}, project {counts.project}); "
          f"train {counts.train} / valid {counts.valid}; "
          f"benchmark (v2, v3 valid) sources kept out of train: {counts.held_out}")
    for name, st in (("train", st_train), ("valid", st_valid)):
        print(f"{name}: {st['pairs']} pairs from {st['sources']} questions, "
              f"clean {100 * st['identity'] / st['pairs']:.1f}%, "
              f"identity BLEU {st['bleu']:.3f} chrF {st['chrf']:.3f}, "
              f"input words mean {st['in_words_mean']:.1f} max {st['in_words_max']}")
    print("reshaping and left-alone shares (train / valid):")
    for name in [family.name for family in RESHAPE_FAMILIES] + list(LEFT_ALONE_DESCRIPTIONS):
        print(f"  {name:22s} {100 * st_train['counts'][name] / st_train['pairs']:5.1f}% "
              f"{100 * st_valid['counts'][name] / st_valid['pairs']:5.1f}%")
    print("noise rates (train / valid):")
    for family in datasheet_families():
        print(f"  {family.name:22s} {100 * st_train['counts'][family.name] / st_train['pairs']:5.1f}% "
              f"{100 * st_valid['counts'][family.name] / st_valid['pairs']:5.1f}%")
    for kind in TYPO_KINDS:
        tag = "typo:" + kind.name
        print(f"  {tag:22s} {st_train['counts'][tag]:5d} words {st_valid['counts'][tag]:5d} words")
