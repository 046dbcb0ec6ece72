"""Large runs of infer.py: questions read lazily, rewrites written a chunk at a time, an interrupted run resumed.

A file of a million questions never sits in memory (a .json list is the exception: JSON is parsed whole; use
.txt or .jsonl for large runs). `count_questions` reads every record once, cheaply, so a bad record is reported
before any generation rather than hours into it, and gives the progress bar its total; `read_questions` then
yields the questions again. `PartialOutput` appends each finished chunk's JSONL records to `<output>.partial`
(flushed and fsync'd) and renames it to `<output>` at the end, so `<output>` is whole or absent. On `--resume`
it checks that the partial file's records are the rewrites of the input's first questions, keeps its whole
chunks (a torn last line, or a chunk cut short, is written again), and the run continues after them: the
finished file is the one an uninterrupted run writes.
"""
import json
import os
from itertools import chain, islice
from pathlib import Path

from qrewrite.errors import DataError
from qrewrite.paths import check_output_file

RECORD_FIELDS = ("input", "rewrite", "fallback", "restored", "confidence", "edits")


def decoded_line(raw, number, source):
    """One line of UTF-8 bytes as text, without its line end; a byte-order mark on line 1 is dropped."""
    try:
        line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{source}: line {number}: not UTF-8 text ({err.reason}); save it as UTF-8") from None
    return line.removesuffix("\n").removesuffix("\r")


def text_lines(handle, source):
    """(line number, line without its line end) of a binary UTF-8 stream; a byte-order mark is dropped."""
    for number, raw in enumerate(handle, start=1):
        yield number, decoded_line(raw, number, source)


def question_of(record, source, where):
    """The question of one record: a string, or an object's "input" string."""
    question = record if isinstance(record, str) else record.get("input") if isinstance(record, dict) else None
    if not isinstance(question, str):
        raise DataError(f"{source}: {where}: no \"input\" string; give each record an \"input\" field")
    return question


def read_questions(path):
    """Yields the questions of a text file (a line each), a JSON list, or JSONL; records need an "input" string."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix == ".json":
        yield from read_json_list(path)
        return
    yield from (question for _, _, question in question_lines(path))


def question_lines(path, offset=0, first_line=1):
    """(line number, byte offset of the line, question) of a text file (every line a question) or JSONL (blank
    lines skipped), read from `offset`, the start of line `first_line` (infer_ray.py reads a file in pieces)."""
    path = Path(path)
    with open(path, "rb") as handle:
        handle.seek(offset)
        for number, raw in enumerate(handle, start=first_line):
            line = decoded_line(raw, number, path)
            if path.suffix != ".jsonl":
                yield number, offset, line
            elif line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}: line {number}: not valid JSON ({err.msg}); fix the line") from None
                yield number, offset, question_of(record, path, f"line {number}")
            offset += len(raw)


def read_json_list(path):
    try:
        records = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err}); fix the file or pass a .txt") from None
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of records with an \"input\" field")
    return [question_of(record, path, f"record {index}") for index, record in enumerate(records)]


def count_questions(path):
    """How many questions the file holds, every record checked on the way."""
    return sum(1 for _ in read_questions(path))


def read_protected(path):
    """The terms of a --protect file: one a line, blank lines skipped, each kept exactly as written."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except OSError as err:
        raise DataError(f"--protect {path}: cannot be read ({err.strerror}); pass a text file, one term a "
                        "line") from None
    except UnicodeDecodeError:
        raise DataError(f"--protect {path}: not UTF-8 text; save it as UTF-8, one term a line") from None
    return [line.strip() for line in lines if line.strip()]


def chunks(questions, size):
    """Lists of up to `size` questions from an iterator, in order."""
    iterator = iter(questions)
    while chunk := list(islice(iterator, size)):
        yield chunk


def record_line(record, fields=RECORD_FIELDS):
    """A record as one line of infer.py's JSONL output: its fields, in this order."""
    return json.dumps({k: record[k] for k in fields}, ensure_ascii=False) + "\n"


def whole_record(raw):
    """The JSON value of one line of a partial file, or None for a line torn by an interruption."""
    if not raw.endswith(b"\n"):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


class PartialOutput:
    """JSONL records appended to <output>.partial a chunk at a time; finish() renames it to <output>."""

    def __init__(self, output, resume, inputs=()):
        self.output = check_output_file(output, inputs, flag="--out")
        self.partial = check_output_file(self.output.with_name(self.output.name + ".partial"), inputs, flag="--out")
        if self.partial.exists() and not resume:
            raise DataError(f"{self.partial}: left by an interrupted run; pass --resume to continue it, or delete it "
                            "to start over")
        self.resume = resume and self.partial.exists()
        self.handle = None

    def skip_done(self, questions, chunk_size):
        """Checks the partial file against the first `questions` and keeps its whole chunks; returns (how many are
        done, an iterator over the questions still to rewrite). Whole chunks only: each question is then rewritten
        in the same batch as in an uninterrupted run, so an int8 engine, whose results can depend on the batch,
        gives the same output. A record that is not the rewrite of its question means another run's file."""
        if not self.resume:
            return 0, questions
        checked = checked_bytes = 0
        kept, kept_bytes, redo = 0, 0, []  # the last whole chunk's end; the questions read past it
        with open(self.partial, "rb") as handle:
            for raw in handle:
                record = whole_record(raw)
                if record is None:  # a line torn by the interruption
                    break
                question = next(questions, None)
                if not isinstance(record, dict) or record.get("input") != question:
                    raise DataError(f"{self.partial}: record {checked + 1} is not the rewrite of question "
                                    f"{checked + 1} of the input, so it belongs to another run; delete it to start "
                                    "over")
                checked, checked_bytes = checked + 1, checked_bytes + len(raw)
                redo.append(question)
                if checked % chunk_size == 0:
                    kept, kept_bytes, redo = checked, checked_bytes, []
        os.truncate(self.partial, kept_bytes)
        return kept, chain(redo, questions)

    def write(self, records):
        self.write_lines(record_line(record) for record in records)

    def write_lines(self, lines):
        """Appends JSONL lines (record_line's), flushed to disk."""
        if self.handle is None:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(self.partial, "a", encoding="utf-8")
        for line in lines:
            self.handle.write(line)
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def finish(self):
        if self.handle is None:  # nothing to write (an empty input, or nothing left after --resume)
            self.write([])
        self.handle.close()
        os.chmod(self.partial, 0o644)
        os.replace(self.partial, self.output)
