"""The data schema: question pairs as JSON, their validation, the MQR importer, atomic writes.

A dataset file is a JSON list of records {"input": <question as typed>, "output": <rewrite>}, each with an
optional "family" (what kind of input it is, e.g. "embedded"; score.py scores each family apart).
Every problem is reported as one line naming the file, the record and the fix.
"""
import csv
import io
import json
import os
import random
from pathlib import Path

from qrewrite.errors import DataError
from qrewrite.paths import check_output_file

FIELDS = ("input", "output")


def load_pairs(path):
    """Reads and validates one split: a non-empty JSON list of {"input", "output"} string records."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found; pass an existing JSON file of {{\"input\", \"output\"}} records")
    try:
        records = json.loads(path.read_text(encoding="utf-8-sig"))  # -sig: a byte-order mark is read, not refused
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err}); fix the file so it parses as a JSON list") from None
    if not isinstance(records, list):
        raise DataError(f"{path}: top level is {type(records).__name__}, expected a JSON list of records")
    if not records:
        raise DataError(f"{path}: the list is empty; add {{\"input\", \"output\"}} records")
    seen = {}
    for index, record in enumerate(records):
        where = f"{path}: record {index}"
        if not isinstance(record, dict):
            raise DataError(f"{where}: is {type(record).__name__}, expected an object with \"input\" and \"output\"")
        for field in FIELDS:
            if field not in record:
                raise DataError(f"{where}: missing field \"{field}\"; add it as a non-empty string")
            value = record[field]
            if not isinstance(value, str):
                raise DataError(f"{where}: field \"{field}\" is {type(value).__name__}, expected a string")
            if not value.strip():
                raise DataError(f"{where}: field \"{field}\" is empty; write the text or remove the record")
        if not isinstance(record.get("family", ""), str):
            raise DataError(f"{where}: field \"family\" is {type(record['family']).__name__}, expected a string "
                            "(a label such as \"typos\") or no such field")
        pair = (record["input"], record["output"])
        if pair in seen:
            raise DataError(f"{where}: duplicate of record {seen[pair]}; remove one of them")
        seen[pair] = index
    return [{field: r[field] for field in (*FIELDS, "family") if field in r} for r in records]


def check_disjoint(train_path, train, valid_path, valid):
    """The same pair in both splits would leak the answer into validation."""
    train_pairs = {(r["input"], r["output"]): i for i, r in enumerate(train)}
    for index, record in enumerate(valid):
        pair = (record["input"], record["output"])
        if pair in train_pairs:
            raise DataError(
                f"{valid_path}: record {index}: same pair as {train_path} record {train_pairs[pair]}; "
                "keep it in one split only")


def read_mqr(path):
    """Reads MQR's tab-separated format (columns 'ill formed', 'well formed') as pairs."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found; pass an MQR .tsv file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    missing = {"ill formed", "well formed"} - set(reader.fieldnames or [])
    if missing:
        raise DataError(f"{path}: header lacks column(s) {sorted(missing)}; expected MQR's tab-separated format")
    pairs, seen = [], set()
    for line, row in enumerate(reader, start=2):
        source, target = (row.get("ill formed") or "").strip(), (row.get("well formed") or "").strip()
        if not source or not target:
            raise DataError(f"{path}: line {line}: empty 'ill formed' or 'well formed' cell; fix or remove the row")
        if (source, target) not in seen:  # MQR repeats a few pairs; keep one of each
            seen.add((source, target))
            pairs.append({"input": source, "output": target})
    if not pairs:
        raise DataError(f"{path}: no rows under the header; pass an MQR file with pairs")
    return pairs


def split_pairs(pairs, valid_fraction, seed):
    """Seeded split that keeps every pair with the same input in one split."""
    inputs = sorted({p["input"] for p in pairs})
    random.Random(seed).shuffle(inputs)
    valid_inputs = set(inputs[:max(1, round(len(inputs) * valid_fraction))])
    train = [p for p in pairs if p["input"] not in valid_inputs]
    valid = [p for p in pairs if p["input"] in valid_inputs]
    return train, valid


def write_text_atomic(path, text):
    """Writes through a temp file in the same folder, then renames: a crash never leaves half a file."""
    path = check_output_file(path, flag="output")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # not mkstemp: its files are owner-only
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path, obj):
    write_text_atomic(path, json.dumps(obj, ensure_ascii=False, indent=1) + "\n")
