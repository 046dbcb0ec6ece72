"""Step 1: raw JSON pairs -> a validated Hugging Face dataset on disk.

Reads dataset/train.json and dataset/valid.json (JSON lists of {"input", "output"} records),
checks every record and saves a DatasetDict (splits "train" and "valid") that finetune.py reads.
Bad input stops with a one-line error naming the file and the record, exit code 2, and nothing written.

    python datamod.py                                   # the shipped dataset -> data/processed
    python datamod.py --limit-train 600 --limit-valid 100 --out data/quick   # a subset for quick runs
    python datamod.py --from-mqr ../shared/data/mqr/dev.tsv --json-dir data/mqr --out data/mqr/processed
        # real human rewrites in MQR's TSV format -> train/valid JSON (90/10, seeded) -> dataset
    python datamod.py --train dataset/train.json data/mqr/train.json --valid data/mqr/valid.json --out data/mqr/mixed
        # the shipped pairs and MQR's, mixed; validated on MQR's own valid part
"""
import argparse
from pathlib import Path

from qrewrite.cli import ArgumentParser, fail, fraction, positive_int
from qrewrite.data import check_disjoint, load_pairs, read_mqr, split_pairs, write_json_atomic
from qrewrite.errors import DataError
from qrewrite.paths import PROCESSED_DATA, check_output_dir, check_output_file, discard, replace_dir, staging_dir

OWNER = "datamod.py"


def import_mqr(tsv_path, json_dir, valid_fraction, seed):
    """MQR TSV -> json_dir/train.json and json_dir/valid.json; refuses to overwrite existing files."""
    json_dir = Path(json_dir)
    targets = [json_dir / "train.json", json_dir / "valid.json"]
    existing = [str(t) for t in targets if t.exists() or t.is_symlink()]
    if existing:
        raise DataError(f"{existing[0]}: already exists; pass another --json-dir or remove it first")
    for target in targets:
        check_output_file(target, inputs=[tsv_path], flag="--json-dir")
    train, valid = split_pairs(read_mqr(tsv_path), valid_fraction, seed)
    for target, records in zip(targets, (train, valid)):
        write_json_atomic(target, records)
    print(f"imported {tsv_path}: {len(train)} train and {len(valid)} valid pairs -> {json_dir}")
    return targets


def save_dataset(train, valid, out):
    """Writes the DatasetDict beside `out`, then swaps it in (save_to_disk cannot overwrite what it reads)."""
    from datasets import Dataset, DatasetDict

    # one set of columns for both splits: "family" only where every record has one
    columns = ["input", "output"] + (["family"] if all("family" in r for r in train + valid) else [])
    dataset = DatasetDict({name: Dataset.from_list([{c: r[c] for c in columns} for r in records])
                           for name, records in (("train", train), ("valid", valid))})
    staged = staging_dir(out)
    try:
        dataset.save_to_disk(str(staged))
        replace_dir(staged, out, OWNER)
    except BaseException:
        discard(staged)
        raise


def main():
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", nargs="+", default=["dataset/train.json"],
                        help="JSON list(s) of training pairs; several are joined in order (a mix)")
    parser.add_argument("--valid", default="dataset/valid.json", help="JSON list of validation pairs")
    parser.add_argument("--out", default=PROCESSED_DATA,
                        help="folder for the saved DatasetDict: new, empty, or written by datamod.py before")
    parser.add_argument("--limit-train", type=positive_int, help="keep the first N training pairs (quick runs)")
    parser.add_argument("--limit-valid", type=positive_int, help="keep the first N validation pairs (quick runs)")
    parser.add_argument("--from-mqr", metavar="TSV", help="import an MQR .tsv first (replaces --train/--valid)")
    parser.add_argument("--json-dir", default="data/mqr", help="with --from-mqr: where its train/valid JSON go")
    parser.add_argument("--valid-fraction", type=fraction, default=0.1, help="with --from-mqr: share for valid")
    parser.add_argument("--seed", type=int, default=0, help="with --from-mqr: seed of the split")
    args = parser.parse_args()

    try:
        sources = [args.from_mqr] if args.from_mqr else [*args.train, args.valid]
        out = check_output_dir(args.out, OWNER, inputs=sources + ([args.json_dir] if args.from_mqr else []))
        if args.from_mqr:
            mqr_train, args.valid = import_mqr(args.from_mqr, args.json_dir, args.valid_fraction, args.seed)
            args.train = [mqr_train]
        valid = load_pairs(args.valid)[:args.limit_valid]
        train = []
        for path in args.train:
            pairs = load_pairs(path)
            check_disjoint(path, pairs, args.valid, valid)
            train += pairs
        train = train[:args.limit_train]
    except DataError as err:
        fail(err)

    save_dataset(train, valid, out)
    print(f"saved {len(train)} train and {len(valid)} valid pairs to {out}")


if __name__ == "__main__":
    main()
