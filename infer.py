"""Step 5: rewrite questions with a trained model, one rewrite per line.

Questions come as arguments, on stdin (one a line), or from --input FILE (text, one a line; or
JSON / JSONL records with an "input" field). A degenerate output (empty, an answer instead of a
question, far longer than the input) falls back to the input unchanged; --output FILE writes JSONL
records {"input", "rewrite", "fallback"} that flag it. Empty lines pass through as empty lines.

    python infer.py "hey so um waht is teh capital of frnace? thx"
    echo "how do i reset my pasword pls" | python infer.py
    python infer.py --input questions.txt --output rewrites.jsonl --batch-size 16
    python infer.py --model weights/full/int8 "whats the wether in paris tmrw"   # int8 (quantize.py)
    python infer.py --beams 4 "is it cheaper to boook flihts on a tuesday"   # slower, fewer wrong corrections
From Python: `from qrewrite.rewriter import Rewriter; Rewriter("weights/full/best").rewrite([...])`.
"""
import argparse
import json
import sys
from pathlib import Path

from qrewrite.cli import ArgumentParser, fail, positive_int
from qrewrite.data import DataError, write_text_atomic
from qrewrite.modeling import TRAINED_MODEL, ModelError
from qrewrite.paths import check_output_file
from qrewrite.rewriter import Rewriter


def decode_text(data, source):
    """UTF-8 text (a byte-order mark is dropped); other encodings get one line naming the source."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{source}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8") from None


def read_jsonl(path, text):
    records = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: line {line_number}: not valid JSON ({err.msg}); fix the line") from None
    return records


def read_questions(path):
    """Questions from a text file (a line each), a JSON list, or JSONL; records need an "input" string."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    text = decode_text(path.read_bytes(), path)
    if path.suffix == ".txt" or path.suffix not in (".json", ".jsonl"):
        return text.splitlines()
    try:
        records = json.loads(text) if path.suffix == ".json" else read_jsonl(path, text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err}); fix the file or pass a .txt") from None
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of records with an \"input\" field")
    questions = []
    where = "line" if path.suffix == ".jsonl" else "record"
    numbers = [n for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    for index, record in enumerate(records):
        question = record if isinstance(record, str) else record.get("input") if isinstance(record, dict) else None
        if not isinstance(question, str):
            position = numbers[index] if where == "line" else index
            raise DataError(f"{path}: {where} {position}: no \"input\" string; give each record an \"input\" field")
        questions.append(question)
    return questions


def main():
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", nargs="*", help="questions to rewrite (default: read stdin)")
    parser.add_argument("--model", default=TRAINED_MODEL, help="model folder (fp32, merged LoRA or int8)")
    parser.add_argument("--input", help="file of questions: .txt (a line each), .json or .jsonl records")
    parser.add_argument("--output", help="write JSONL records {input, rewrite, fallback} to this file")
    parser.add_argument("--backend", choices=["auto", "fp32", "int8"], default="auto",
                        help="int8: the int8 model quantize.py wrote beside --model (auto: what --model holds)")
    parser.add_argument("--beams", type=positive_int, default=1,
                        help="1: greedy; more: beam search, keeping the candidate that best balances confidence "
                             "and keeping the input (fp32 only; 4 beams took 1.8x the time per question at "
                             "batch 1 here)")
    parser.add_argument("--batch-size", type=positive_int, default=8)
    args = parser.parse_args()

    try:
        if args.output:  # checked before minutes of generation, not after
            check_output_file(args.output, inputs=[p for p in (args.input, args.model) if p and Path(p).exists()])
        if args.input:
            questions = read_questions(args.input)
        elif args.questions:
            questions = args.questions
        else:
            questions = decode_text(sys.stdin.buffer.read(), "stdin").splitlines()
        rewriter = Rewriter(args.model, batch_size=args.batch_size, backend=args.backend, beams=args.beams)
    except (DataError, ModelError) as err:
        fail(err)

    records = rewriter.rewrite_records(questions, progress=len(questions) > 50)
    for record in records:
        if record["fallback"]:
            print(f"warning: kept the input unchanged ({record['fallback']}): {record['input'][:60]}", file=sys.stderr)
    if args.output:
        lines = [json.dumps({k: r[k] for k in ("input", "rewrite", "fallback")}, ensure_ascii=False) for r in records]
        write_text_atomic(args.output, "".join(line + "\n" for line in lines))
        print(f"wrote {len(records)} records to {args.output}", file=sys.stderr)
    else:
        for record in records:
            print(record["rewrite"])


if __name__ == "__main__":
    main()
