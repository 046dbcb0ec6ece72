"""Step 3: rewrite every question of each split with the trained model and score the rewrites.

For each split: batched rewrites (greedy, or --beams N); corpus BLEU (0-100 and the 0-1 scale of the original
work), chrF and exact match, each beside the identity baseline (copying the input unchanged).
Writes outputs/<split>_io.json (input, reference, prediction, per-example BLEU, fallback) and
outputs/metrics.json. (This file shadows the `evaluate` package from the hub; scores come from sacrebleu.)

    python evaluate.py                                    # weights/full/best on data/processed train + valid
    python evaluate.py --model weights/lora/best --outputs outputs/lora
    python evaluate.py --backend int8                     # the int8 model quantize.py wrote (weights/full/int8)
    python evaluate.py --beams 4 --outputs outputs/beams4  # beam search, the candidate picked as infer.py does
    python evaluate.py --data ../shared/data/mqr/dev.tsv --limit 200   # any JSON of pairs or MQR .tsv
"""
import argparse
import sys
from pathlib import Path

from qrewrite.data import DataError, load_pairs, read_mqr, write_json_atomic
from qrewrite.metrics import score_with_baseline, sentence_bleu
from qrewrite.modeling import TRAINED_MODEL, ModelError
from qrewrite.rewriter import Rewriter


def load_splits(args):
    """{split name: [pairs]} from --data files, or from the DatasetDict written by datamod.py."""
    if args.data:
        return {Path(p).stem: (read_mqr(p) if p.endswith(".tsv") else load_pairs(p)) for p in args.data}
    if not Path(args.dataset).is_dir():
        raise DataError(f"{args.dataset}: no dataset; run `python datamod.py` first or pass --data FILE")
    from datasets import load_from_disk
    dataset = load_from_disk(args.dataset)
    return {split: dataset[split].to_list() for split in args.splits}


def evaluate_split(rewriter, pairs):
    inputs = [p["input"] for p in pairs]
    references = [p["output"] for p in pairs]
    records = rewriter.rewrite_records(inputs, progress=True)
    predictions = [r["rewrite"] for r in records]
    metrics = score_with_baseline(inputs, predictions, references)
    metrics["model"]["bleu_01"] = round(metrics["model"]["bleu"] / 100, 4)
    metrics["identity"]["bleu_01"] = round(metrics["identity"]["bleu"] / 100, 4)
    metrics["fallbacks"] = sum(r["fallback"] is not None for r in records)
    io = [{"input": r["input"], "reference": ref, "prediction": r["rewrite"], "bleu": sentence_bleu(r["rewrite"], ref),
           "raw": r["raw"], "fallback": r["fallback"]} for r, ref in zip(records, references)]
    return metrics, io


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=TRAINED_MODEL, help="model folder (fp32, merged LoRA or int8)")
    parser.add_argument("--dataset", default="data/processed", help="DatasetDict written by datamod.py")
    parser.add_argument("--splits", nargs="+", default=["train", "valid"])
    parser.add_argument("--data", nargs="+", help="score these JSON pair files or MQR .tsv files instead")
    parser.add_argument("--limit", type=int, help="first N pairs of each split (quick runs)")
    parser.add_argument("--backend", choices=["auto", "fp32", "int8"], default="auto",
                        help="int8: the int8 model quantize.py wrote beside --model (auto: what --model holds)")
    parser.add_argument("--beams", type=int, default=1, help="1: greedy; more: beam search, see infer.py")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--outputs", help="folder for *_io.json and metrics.json (default: outputs, int8: outputs/int8)")
    args = parser.parse_args()

    try:
        splits = {name: pairs[:args.limit] for name, pairs in load_splits(args).items()}
        rewriter = Rewriter(args.model, batch_size=args.batch_size, backend=args.backend, beams=args.beams)
    except (DataError, ModelError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)

    outputs = Path(args.outputs or ("outputs/int8" if rewriter.backend == "int8" else "outputs"))
    report = {"model": args.model, "backend": rewriter.backend, "beams": args.beams, "splits": {}}
    for name, pairs in splits.items():
        metrics, io = evaluate_split(rewriter, pairs)
        write_json_atomic(outputs / f"{name}_io.json", io)
        report["splits"][name] = metrics
    write_json_atomic(outputs / "metrics.json", report)

    decoding = "greedy" if args.beams == 1 else f"{args.beams} beams"
    print(f"\nmodel {args.model} ({rewriter.backend}, {decoding}); identity = copying the input")
    print("| split | n | BLEU | BLEU 0-1 | chrF | exact | identity BLEU | identity chrF | identity exact | fallbacks |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, m in report["splits"].items():
        model, ident = m["model"], m["identity"]
        print(f"| {name} | {model['count']} | {model['bleu']:.2f} | {model['bleu_01']:.3f} | {model['chrf']:.2f} | "
              f"{model['exact_match']:.3f} | {ident['bleu']:.2f} | {ident['chrf']:.2f} | {ident['exact_match']:.3f} | "
              f"{m['fallbacks']} |")
    print(f"wrote {outputs}/metrics.json and {', '.join(f'{outputs}/{n}_io.json' for n in splits)}")


if __name__ == "__main__":
    main()
