#!/usr/bin/env python3
"""Generate the project's own question-rewriting dataset (messy question -> clean question), v5.

Every pair is ``{"input": <message as a user might type it>, "output": <clean question(s)>}``.
The output is a clean, well-formed source question (or two, for a message that asks two); the input is
made from it in two steps: first, for a share of the pairs, a reshaping family changes the whole
question's shape by rule (embedded "can you tell me what time ...", telegraphic "how to ...", a request,
context said before it, a remark after it, two questions in one message: ``reshape.py``); then the token
noise of v2: human misspellings (codespell's dictionary used in reverse), keyboard slips, chat-speak
("u", "pls", "idk"), greetings, apologies, hedges, thanks, irrelevant backstory, odd casing, missing or
repeated punctuation and stray spaces (``noise.py``). About 10% of inputs are already clean (input ==
output), and a few percent are questions in other languages or greetings alone, also returned unchanged
(``left_alone.py``), so that a model also learns to leave such messages alone.

Sources (all installed by ``pip install -r requirements.txt``, nothing copied by hand):
  * questions in chatterbot-corpus's English YAML files (``data/english/*.yml``);
  * the questions the project wrote itself, in ``questions.txt`` next to this script;
  * codespell's ``codespell_lib/data/dictionary.txt`` (misspelling -> correction).

The clean source questions are split into train / valid *before* noise is added, so no source question
appears in both splits, and the source questions of the earlier versions' valid splits (``valid_v2.json``,
``valid_v3.json``, kept as fixed benchmarks and never written here) are kept out of train. Every generated
pair goes through ``check_pair``, which asserts that the input never lost a number, a name or a negation the
output carries and that the output is well-formed. The script prints statistics (noise rates, identity-copy
BLEU/chrF) and writes ``train.json``, ``valid.json`` and the datasheet ``README.md`` (all atomically) into
``--out``, which, unless it is this folder, must be new, empty or written by this script before (a user's
files there are never replaced).

The steps, one module each in this folder: ``sources.py`` (clean questions, codespell, the split),
``reshape.py`` (one parse/render pair and one table row per reshaping family; its English in ``grammar.py``),
``noise.py`` (one function and one table row per noise family; its word lists in ``phrases.py``, its typos in
``typos.py``), ``left_alone.py``, ``pairs.py`` (the pairs of a split), ``checks.py``, ``datasheet.py``.

Run (deterministic for a given seed):
    .venv/bin/python dataset/generate.py                 # seed 0, 12000 train / 500 valid
    .venv/bin/python dataset/generate.py --seed 1 --train-size 5000 --valid-size 600 \\
        --out /tmp/qr-data
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repo root, so that the script runs from anywhere
from dataset.checks import check_splits  # noqa: E402
from dataset.datasheet import QuestionCounts, licence_info, print_summary, render_readme, split_stats  # noqa: E402
from dataset.left_alone import split_left_alone  # noqa: E402
from dataset.pairs import make_split  # noqa: E402
from dataset.sources import (  # noqa: E402
    SizeError,
    build_lexicon,
    dedupe,
    load_chatterbot_questions,
    load_held_out,
    load_misspelling_keys,
    load_project_questions,
    project_topics,
    split_questions,
)
from qrewrite.cli import ArgumentParser, fail, positive_int  # noqa: E402
from qrewrite.data import write_json_atomic, write_text_atomic  # noqa: E402
from qrewrite.errors import OutputError  # noqa: E402
from qrewrite.paths import check_output_dir, check_output_file, mark_dir  # noqa: E402

OWNER = "dataset/generate.py"
OUTPUT_FILES = ("train.json", "valid.json", "README.md")


def parse_args(argv):
    ap = ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    # 12,000 train pairs: 1,500 steps of batch 8, each pair seen once (finetune.py's default recipe)
    ap.add_argument("--train-size", type=positive_int, default=12000)
    ap.add_argument("--valid-size", type=positive_int, default=500)
    ap.add_argument("--out", type=Path, default=HERE, renamed_from=["--out-dir"],
                    help="folder for train.json, valid.json and README.md (default: dataset/, the shipped data)")
    ap.add_argument("--held-out", type=Path, nargs="+",
                    default=[HERE / "valid_v2.json", HERE / "valid_v3.json", HERE / "valid_v4.json"],
                    help="fixed benchmarks whose source questions stay out of train (v2's, v3's and v4's valid "
                         "splits)")
    ap.add_argument("--no-readme", action="store_true", help="do not (re)write README.md")
    return ap.parse_args(argv)


def check_out_dir(args) -> None:
    """This folder is the shipped data's own; any other --out must be new, empty or written here before, so
    that a user's README.md or train.json is never overwritten. No written file may be a --held-out benchmark."""
    try:
        if args.out.resolve() != HERE:
            check_output_dir(args.out, OWNER, flag="--out")
        for name in OUTPUT_FILES:
            check_output_file(args.out / name, inputs=args.held_out, flag="--out")
    except OutputError as err:
        fail(err)


def main(argv=None) -> int:
    args = parse_args(argv)
    check_out_dir(args)
    rng = random.Random(args.seed)  # the one source of randomness: every draw below, in this order
    misspelled = load_misspelling_keys()
    chatter = load_chatterbot_questions(rng, misspelled)
    project = load_project_questions(misspelled)
    questions = sorted(dedupe(project + chatter))
    lexicon = build_lexicon(questions)
    held_out = load_held_out(args.held_out)
    train_q, valid_q, n_held_out = split_questions(questions, rng, args.train_size, args.valid_size, held_out)
    topics = project_topics()
    seen: set[str] = set()  # every input so far, both splits: inputs are unique across the files
    sizes = f"--train-size {args.train_size} / --valid-size {args.valid_size}"
    try:  # a SizeError: the sources cannot fill the sizes asked for
        train_alone, valid_alone = split_left_alone(rng, args.train_size, args.valid_size, held_out)
        train, train_tags = make_split(train_q, train_alone, args.train_size, rng, lexicon, seen, topics)
    except SizeError as err:
        fail(f"{sizes}: {err}; ask for fewer pairs (32,000 train pairs work with the shipped sources)")
    try:
        valid, valid_tags = make_split(valid_q, valid_alone, args.valid_size, rng, lexicon, seen, topics)
    except SizeError as err:  # valid's questions are its share of the sources, in proportion to the sizes
        fail(f"{sizes}: valid: {err}, among its {len(valid_q)} questions (its share in proportion to the sizes); "
             "ask for a larger --valid-size or a smaller --train-size (or try another --seed)")
    check_splits(train, valid, lexicon.common_words, held_out)
    st_train, st_valid = split_stats(train, train_tags), split_stats(valid, valid_tags)
    assert st_valid["bleu"] <= 0.60, "the task is too easy: identity BLEU above 0.60"

    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "train.json", train)
    write_json_atomic(out_dir / "valid.json", valid)
    counts = QuestionCounts(chatterbot=len(chatter), project=len(project), total=len(questions),
                            train=len(train_q), valid=len(valid_q), held_out=n_held_out)
    print_summary(counts, st_train, st_valid)
    if not args.no_readme:
        examples = random.Random(f"examples-{args.seed}").sample(train + valid, 10)
        command = (f".venv/bin/python dataset/generate.py --seed {args.seed} --train-size {args.train_size} "
                   f"--valid-size {args.valid_size}")
        write_text_atomic(out_dir / "README.md", render_readme(command, counts, st_train, st_valid, examples,
                                                               licence_info(), train, train_tags))
    if out_dir.resolve() != HERE:
        mark_dir(out_dir, OWNER)
    print(f"wrote {out_dir / 'train.json'}, {out_dir / 'valid.json'}"
          + ("" if args.no_readme else f", {out_dir / 'README.md'}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
