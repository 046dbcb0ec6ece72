"""Step 5: rewrite questions with a trained model, one rewrite per line.

Questions come as arguments, on stdin (one a line), or from --input FILE (text, one a line; or
JSON / JSONL records with an "input" field). A degenerate output (empty, an answer instead of a
question, far longer than the input) or one that changes the meaning falls back to the input unchanged,
and a misspelt word "corrected" into another word is put back as the question wrote it (see
docs/guard.md); --out FILE writes JSONL records {"input", "rewrite", "fallback", "restored", ...} that
flag both. Empty lines pass through as empty lines.

Any number of questions: they are read, rewritten and written --chunk-size at a time, so memory stays
flat, and --out is filled through <out>.partial and renamed when whole. An interrupted run
continues with --resume and ends with the file an uninterrupted run writes (qrewrite/stream.py).

    python infer.py "hey so um waht is teh capital of frnace? thx"
    echo "how do i reset my pasword pls" | python infer.py
    python infer.py --input questions.txt --out rewrites.jsonl --batch-size 16
    python infer.py --input questions.txt --out rewrites.jsonl --resume   # after an interruption
    python infer.py --model weights/full/int8 "whats the wether in paris tmrw"   # int8 (quantize.py)
    python infer.py --backend openvino "whats the wether in paris tmrw"   # OpenVINO (quantize.py --openvino)
    python infer.py --beams 4 "is it cheaper to boook flihts on a tuesday"   # slower, fewer wrong corrections
From Python: `from qrewrite import Rewriter; Rewriter("weights/full/int8").rewrite([...])`.
"""
import argparse
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from qrewrite.cli import ArgumentParser, add_backend_argument, fail, positive_int
from qrewrite.edits import explain
from qrewrite.errors import DataError, ModelError
from qrewrite.modeling import TRAINED_MODEL
from qrewrite.rewriter import Rewriter, add_engine_arguments, add_guard_arguments, fallback_kind, guard_options
from qrewrite.stream import PartialOutput, chunks, count_questions, read_protected, read_questions, text_lines

CHUNK_SIZE = 512


def open_questions(args):
    """(how many questions, or None when unknown, an iterator over them) from --input, the arguments or stdin."""
    if args.input:
        return count_questions(args.input), read_questions(args.input)
    if args.questions:
        return len(args.questions), iter(args.questions)
    return None, (line for _, line in text_lines(sys.stdin.buffer, "stdin"))


def warn_fallbacks(records, reasons, each):
    for record in records:
        if record["fallback"]:
            reasons[fallback_kind(record["fallback"])] += 1
            if each:
                print(f"warning: kept the input as typed ({record['fallback']}): {record['input'][:60]}",
                      file=sys.stderr)


def parse_args():
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", nargs="*", help="questions to rewrite (default: read stdin)")
    parser.add_argument("--model", default=TRAINED_MODEL, help="model folder (fp32, merged LoRA or int8)")
    parser.add_argument("--input", help="file of questions: .txt (a line each), .json or .jsonl records")
    parser.add_argument("--out", renamed_from=["--output"],
                        help="write JSONL records {input, rewrite, fallback, restored, ...} to this file")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run that left <out>.partial (the same command: same --input, "
                             "--out and --chunk-size)")
    add_backend_argument(parser)
    parser.add_argument("--beams", type=positive_int, default=1,
                        help="1: greedy; more: beam search (every engine), keeping the candidate that best "
                             "balances the model's confidence and keeping the input; slower, fewer wrong corrections")
    add_guard_arguments(parser)
    add_engine_arguments(parser)
    parser.add_argument("--protect", metavar="FILE",
                        help="terms that must stand in a rewrite exactly as written (product names, SKUs), one a "
                             "line: a question holding one whose rewrite does not comes back unchanged")
    parser.add_argument("--explain", action="store_true",
                        help="print each rewrite with its edits marked on the input ([-removed-]{+added+}, in "
                             "colour on a terminal), their types, and why an input was kept as typed")
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--chunk-size", type=positive_int, default=CHUNK_SIZE,
                        help="questions read, rewritten and written at a time: memory stays flat, and an "
                             "interruption loses at most one chunk (larger: a little faster, more memory)")
    args = parser.parse_args()
    if args.resume and not args.out:
        parser.error("--resume continues an --out file; pass the --out of the interrupted run")
    return args


def main():
    args = parse_args()

    try:  # every input checked before minutes of generation, not after
        inputs = [p for p in (args.input, args.model) if p and Path(p).exists()]
        output = PartialOutput(args.out, args.resume, inputs) if args.out else None
        protected = read_protected(args.protect) if args.protect else ()
        total, questions = open_questions(args)
        done, questions = output.skip_done(questions, args.chunk_size) if output else (0, questions)
        rewriter = Rewriter(args.model, batch_size=args.batch_size, backend=args.backend, beams=args.beams,
                            engine_settings=args.engine_settings, **guard_options(args))
    except (DataError, ModelError) as err:
        fail(err)

    bar, reasons, written = None, Counter(), done
    try:
        for index, chunk in enumerate(chunks(questions, args.chunk_size)):
            if index == 0:  # after the first chunk is read: bad input's line stands alone
                print(rewriter.engine_choice, file=sys.stderr)
            if bar is None and (index > 0 or len(chunk) > 50):
                bar = tqdm(total=total, initial=done, unit="question", desc=f"rewriting ({rewriter.backend})")
            records = rewriter.rewrite_records(chunk, progress=bar or False, protected=protected)
            warn_fallbacks(records, reasons, each=bar is None)
            if output:
                output.write(records)
            elif args.explain:
                colour = sys.stdout.isatty()
                print("".join(explain(r, colour) + "\n" for r in records), end="", flush=True)
            else:
                print("".join(r["rewrite"] + "\n" for r in records), end="", flush=True)
            written += len(records)
    except DataError as err:  # a bad line further down stdin
        fail(err)
    except KeyboardInterrupt:
        if output:
            fail(f"interrupted: {written} records kept in {output.partial}; run the same command with --resume")
        raise
    if bar:
        bar.close()
    if reasons:
        counts = ", ".join(f"{n} {reason}" for reason, n in reasons.most_common())
        print(f"kept {sum(reasons.values())} of {written} inputs as typed ({counts})", file=sys.stderr)
    if output:
        output.finish()
        print(f"wrote {written} records to {output.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
