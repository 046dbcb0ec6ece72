"""Step 1: raw JSON pairs -> a validated Hugging Face dataset on disk.

Reads dataset/train.json and dataset/valid.json (JSON lists of {"input", "output"} records),
checks every record and saves a DatasetDict (splits "train" and "valid") that finetune.py reads.
Bad input stops with a one-line error naming the file and the record, exit code 2, and nothing written.

    python datamod.py                                   # the shipped dataset -> data/processed
    python datamod.py --limit-train 600 --limit-valid 100 --out data/quick   # a subset for quick runs
    python datamod.py --from-mqr ../shared/data/mqr/dev.tsv --json-dir data/mqr --out data/mqr/processed
        # real human rewrites in MQR's TSV format -> train/valid JSON (90/10, seeded) -> dataset
"""
import argparse
import shutil
import sys
from pathlib import Path

from qrewrite.data import DataError, check_disjoint, load_pairs, read_mqr, split_pairs, write_json_atomic


def import_mqr(tsv_path, json_dir, valid_fraction, seed):
    """MQR TSV -> json_dir/train.json and json_dir/valid.json; refuses to overwrite existing files."""
    json_dir = Path(json_dir)
    targets = [json_dir / "train.json", json_dir / "valid.json"]
    existing = [str(t) for t in targets if t.exists()]
    if existing:
        raise DataError(f"{existing[0]}: already exists; pass another --json-dir or remove it first")
    train, valid = split_pairs(read_mqr(tsv_path), valid_fraction, seed)
    for target, records in zip(targets, (train, valid)):
        write_json_atomic(target, records)
    print(f"imported {tsv_path}: {len(train)} train and {len(valid)} valid pairs -> {json_dir}")
    return targets


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", default="dataset/train.json", help="JSON list of training pairs")
    parser.add_argument("--valid", default="dataset/valid.json", help="JSON list of validation pairs")
    parser.add_argument("--out", default="data/processed", help="folder for the saved DatasetDict")
    parser.add_argument("--limit-train", type=int, help="keep the first N training pairs (quick runs)")
    parser.add_argument("--limit-valid", type=int, help="keep the first N validation pairs (quick runs)")
    parser.add_argument("--from-mqr", metavar="TSV", help="import an MQR .tsv first (replaces --train/--valid)")
    parser.add_argument("--json-dir", default="data/mqr", help="with --from-mqr: where its train/valid JSON go")
    parser.add_argument("--valid-fraction", type=float, default=0.1, help="with --from-mqr: share for valid")
    parser.add_argument("--seed", type=int, default=0, help="with --from-mqr: seed of the split")
    args = parser.parse_args()

    try:
        if args.from_mqr:
            args.train, args.valid = import_mqr(args.from_mqr, args.json_dir, args.valid_fraction, args.seed)
        train = load_pairs(args.train)[:args.limit_train]
        valid = load_pairs(args.valid)[:args.limit_valid]
        check_disjoint(args.train, train, args.valid, valid)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)

    from datasets import Dataset, DatasetDict

    dataset = DatasetDict({"train": Dataset.from_list(train), "valid": Dataset.from_list(valid)})
    # save_to_disk refuses to overwrite a dataset it is reading from; write beside it, then swap.
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    dataset.save_to_disk(str(tmp))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"saved {len(train)} train and {len(valid)} valid pairs to {out}")


if __name__ == "__main__":
    main()
