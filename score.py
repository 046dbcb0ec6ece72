"""Step 3: rewrite every question of each split with the trained model and score the rewrites.

For each split: batched rewrites (greedy, or --beams N); corpus BLEU (0-100 and the 0-1 scale of the original
work), chrF and exact match, each beside the identity baseline (copying the input unchanged).
Faithfulness beside them: the share of rewrites that keep every number, name and negation the reference keeps,
that invent one, that change a word into one in neither input nor reference ("pharjacy" -> "phone"), that change
an already-clean input, and content-word recall/precision (qrewrite.metrics).
Writes <reports>/<split>_io.json (input, reference, prediction, per-example BLEU, fallback, the input's words the
guard put back, what it dropped, invented or changed: list the meaning-changing rewrites with
`"meaning_changed": true`) and <reports>/metrics.json; <reports> is outputs/<run> (outputs/<run>/int8 or
outputs/<run>/openvino for quantize.py's models) unless --reports names another folder.
Data whose pairs carry a "family" (the shipped dataset's do) is also scored family by family.

    python score.py                                    # weights/full/best on data/processed train + valid
    python score.py --model weights/lora/best          # -> outputs/lora
    python score.py --calibrate                        # also fit the confidence on valid -> best/calibration.json
    python score.py --backend int8                     # the int8 model quantize.py wrote (weights/full/int8)
    python score.py --backend openvino                 # quantize.py --openvino's (weights/full/openvino)
    python score.py --beams 4 --reports outputs/full/beams4  # beam search, the candidate picked as infer.py does
    python score.py --data ../shared/data/mqr/dev.tsv --limit 200   # any JSON of pairs or MQR .tsv
"""
import argparse
import sys
from collections import Counter
from pathlib import Path

from qrewrite import calibration
from qrewrite.cli import ArgumentParser, add_backend_argument, fail, positive_int
from qrewrite.data import load_pairs, read_mqr, write_json_atomic
from qrewrite.edits import edit_counts, edit_scores, edits
from qrewrite.engines import engine_folder
from qrewrite.errors import DataError, ModelError, OutputError
from qrewrite.metrics import confidence_report, min_confidence_effects, score_with_baseline, sentence_bleu
from qrewrite.modeling import TRAINED_MODEL
from qrewrite.paths import PROCESSED_DATA, check_reports_dir, open_reports_dir, reports_dir_for
from qrewrite.rewriter import Rewriter, add_engine_arguments, add_guard_arguments, fallback_kind, guard_options


def load_data_files(paths):
    """{file stem: [pairs]}; two files with one stem would share one *_io.json, so they are refused."""
    splits = {}
    for path in paths:
        name = Path(path).stem
        if name in splits:
            raise DataError(f"--data {path}: another file is also named '{name}' and both would write "
                            f"{name}_io.json; rename or copy one of them")
        splits[name] = read_mqr(path) if path.endswith(".tsv") else load_pairs(path)
    return splits


def load_splits(args):
    """{split name: [pairs]} from the DatasetDict written by datamod.py (one folder), or from --data files."""
    if len(args.data) > 1 or not (Path(args.data[0]).is_dir() or args.data[0] == PROCESSED_DATA):
        return load_data_files(args.data)
    folder = args.data[0]
    if not Path(folder).is_dir():
        raise DataError(f"--data {folder}: no dataset; run `python datamod.py` first or pass --data FILE")
    from datasets import load_from_disk
    try:
        dataset = load_from_disk(folder)
    except (OSError, ValueError, IndexError, KeyError) as err:  # what datasets raises on a broken folder
        raise DataError(f"--data {folder}: not a dataset saved by datamod.py ({type(err).__name__}); "
                        "pass the folder datamod.py wrote, or JSON pair files") from None
    for split in args.splits:
        if split not in dataset or len(dataset[split]) == 0:
            raise DataError(f"--splits {split}: {folder} has no such split or it is empty; "
                            f"it has {', '.join(dataset)}")
    return {split: dataset[split].to_list() for split in args.splits}


def check_reports(args, split_names):
    """The reports folder and every file it will get, checked before the model loads."""
    inputs = [p for p in [args.model, *args.data] if Path(p).exists()]
    engine = engine_folder(args.model, args.backend)[0]
    return check_reports_dir(args.reports or reports_dir_for(args.model, engine),
                             [f"{split}_io.json" for split in split_names] + ["metrics.json"], inputs=inputs)


def evaluate_split(rewriter, pairs):
    inputs = [p["input"] for p in pairs]
    references = [p["output"] for p in pairs]
    records = rewriter.rewrite_records(inputs, progress=True)
    predictions = [r["rewrite"] for r in records]
    metrics, flags = score_with_baseline(inputs, predictions, references)
    metrics["model"]["bleu_01"] = round(metrics["model"]["bleu"] / 100, 4)
    metrics["identity"]["bleu_01"] = round(metrics["identity"]["bleu"] / 100, 4)
    metrics["fallbacks"] = sum(r["fallback"] is not None for r in records)
    metrics["fallback_reasons"] = dict(Counter(fallback_kind(r["fallback"]) for r in records if r["fallback"]))
    metrics["retried"] = sum(r["retried"] for r in records)
    metrics["retried_and_kept"] = sum(r["retried"] and not r["fallback"] for r in records)
    metrics["restored"] = sum(bool(r["restored"]) for r in records)
    asked = [(r["confidence"], r["rewrite"] == ref) for r, ref in zip(records, references) if r["raw"]]
    metrics["confidence"] = confidence_report([c for c, _ in asked], [right for _, right in asked])
    metrics["edits"] = {"model": edit_counts(r["edits"] for r in records),
                        "reference": edit_counts(edits(i, ref) for i, ref in zip(inputs, references)),
                        **edit_scores(inputs, predictions, references)}
    if all("family" in p for p in pairs):
        metrics["families"] = score_families(pairs, records)
    io = [{"input": r["input"], "reference": ref, "prediction": r["rewrite"], "bleu": sentence_bleu(r["rewrite"], ref),
           "raw": r["raw"], "fallback": r["fallback"], "restored": r["restored"], "retried": r["retried"],
           "confidence": r["confidence"], "raw_confidence": r["raw_confidence"], **flag}
          for r, ref, flag in zip(records, references, flags)]
    metrics["min_confidence"] = min_confidence_effects(io, [row["confidence"] for row in io])
    return metrics, io


def calibrate(rewriter, metrics, io):
    """Fits the confidence's calibration on the valid split's rewrites, stores it in the model folder, and
    reports it out-of-fold (each half mapped by a fit on the other half): AUROC, reliability, --min-confidence."""
    asked = [k for k, row in enumerate(io) if row["raw"]]
    raw = [io[k]["raw_confidence"] for k in asked]
    right = [io[k]["prediction"] == io[k]["reference"] for k in asked]
    try:
        points, held_out = calibration.fit(raw, right), calibration.cross_fitted(raw, right)
    except ValueError as err:
        raise DataError(f"--calibrate: {err}; too few of the valid split's rewrites are right, or too few wrong, "
                        "to fit (drop --limit, or train the model longer)") from None
    confidences = [1.0] * len(io)
    for k, value in zip(asked, held_out):
        confidences[k] = value
    metrics["calibration"] = {"points": len(points["x"]), "raw": confidence_report(raw, right),
                              "calibrated_out_of_fold": confidence_report(held_out, right),
                              "min_confidence": min_confidence_effects(io, confidences)}
    about = {"fitted_on": f"{len(raw)} rewrites of the valid split", "right": "exactly the reference",
             "auroc": metrics["calibration"]["raw"]["auroc"]}
    return calibration.save(rewriter.engine.folder, points, about)


def score_families(pairs, records):
    """{family: BLEU, exact match, kept and fallbacks of its pairs, beside the identity baseline}, for data whose
    pairs say which family made their input (the shipped dataset does)."""
    families = {}
    for family in sorted({p["family"] for p in pairs}):
        chosen = [(p, r) for p, r in zip(pairs, records) if p["family"] == family]
        inputs, references = [p["input"] for p, _ in chosen], [p["output"] for p, _ in chosen]
        scores, _ = score_with_baseline(inputs, [r["rewrite"] for _, r in chosen], references)
        families[family] = {"count": len(chosen), "bleu": scores["model"]["bleu"],
                            "exact_match": scores["model"]["exact_match"], "kept": scores["model"]["kept"],
                            "identity_bleu": scores["identity"]["bleu"],
                            "fallbacks": sum(r["fallback"] is not None for _, r in chosen)}
    return families


def print_family_table(name, families):
    print(f"\n{name} by family (the kind of input; identity = copying the input)")
    print("| family | n | BLEU | identity BLEU | exact | kept | fallbacks |")
    print("|---|---|---|---|---|---|---|")
    for family, f in families.items():
        print(f"| {family} | {f['count']} | {f['bleu']:.2f} | {f['identity_bleu']:.2f} | {f['exact_match']:.3f} | "
              f"{f['kept']:.3f} | {f['fallbacks']} |")


def print_tables(report):
    """Scores and faithfulness, each beside the identity baseline (copying the input)."""
    print("| split | n | BLEU | BLEU 0-1 | chrF | exact | identity BLEU | identity chrF | identity exact | fallbacks |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, m in report["splits"].items():
        model, ident = m["model"], m["identity"]
        print(f"| {name} | {model['count']} | {model['bleu']:.2f} | {model['bleu_01']:.3f} | {model['chrf']:.2f} | "
              f"{model['exact_match']:.3f} | {ident['bleu']:.2f} | {ident['chrf']:.2f} | {ident['exact_match']:.3f} | "
              f"{m['fallbacks']} |")
    print("\nfaithfulness against the reference (kept: keeps every number / name / negation the reference keeps)")
    print("| split | | kept | numbers | names | negations | invented | changed words | over-correction | "
          "content recall | content precision |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, m in report["splits"].items():
        for who in ("model", "identity"):
            f = m[who]
            over = "-" if f["over_correction"] is None else f"{f['over_correction']:.3f} of {f['clean_inputs']}"
            print(f"| {name} | {who} | {f['kept']:.3f} | {f['kept_number']:.3f} | {f['kept_name']:.3f} | "
                  f"{f['kept_negation']:.3f} | {f['invented']:.3f} | {f['changed']:.3f} | {over} | "
                  f"{f['content_recall']:.3f} | {f['content_precision']:.3f} |")
    for name, m in report["splits"].items():
        print(f"{name} fallbacks by reason: {m['fallback_reasons'] or 'none'}; greedy outputs searched again with "
              f"beams: {m['retried']}, of which kept: {m['retried_and_kept']}; changed words put back as the input "
              f"wrote them: {m['restored']}")
    print_edit_table(report)
    print_confidence_table(report)
    for name, m in report["splits"].items():
        print_min_confidence(m["min_confidence"], name)
    for name, m in report["splits"].items():
        if "families" in m:
            print_family_table(name, m["families"])


def print_confidence_table(report):
    """The confidence's AUROC (right = the rewrite is exactly the reference) and its reliability table."""
    for name, m in report["splits"].items():
        c = m["confidence"]
        auroc = "-" if c["auroc"] is None else f"{c['auroc']:.3f}"
        print(f"\n{name}: confidence against exactly right, AUROC {auroc} over {c['count']} rewrites the model made")
        print("| confidence | rewrites | mean confidence | exactly right |\n|---|---|---|---|")
        for b in c["bins"]:
            print(f"| {b['from']:.2f}-{b['to']:.2f} | {b['count']} | {b['mean_confidence']:.3f} | {b['right']:.3f} |")


def print_min_confidence(effects, label):
    """What each --min-confidence X costs in BLEU and saves in wrong rewrites."""
    print(f"\n{label}: --min-confidence X holds back the rewrites below X (kept as typed); of "
          f"{effects['rewrites']} rewrites, {effects['wrong']} differ from the reference, "
          f"{effects['meaning_changed']} change its meaning; BLEU {effects['bleu']:.2f} with none held back")
    print("| X | held back | of them exactly right | of them meaning changed | BLEU |\n|---|---|---|---|---|")
    for t in effects["thresholds"]:
        print(f"| {t['min_confidence']:.1f} | {t['held_back']} | {t['held_right']} | {t['held_meaning_changed']} | "
              f"{t['bleu']:.2f} |")


def print_calibration(report, stored):
    """The calibration fitted on the valid split, reported out-of-fold."""
    raw, held_out = report["raw"], report["calibrated_out_of_fold"]
    print(f"\ncalibration ({report['points']} points) stored in {stored}; AUROC raw {raw['auroc']}, "
          f"calibrated out-of-fold {held_out['auroc']}")
    print("| calibrated confidence (out-of-fold) | rewrites | mean confidence | exactly right |\n|---|---|---|---|")
    for b in held_out["bins"]:
        print(f"| {b['from']:.2f}-{b['to']:.2f} | {b['count']} | {b['mean_confidence']:.3f} | {b['right']:.3f} |")
    print_min_confidence(report["min_confidence"], "valid, calibrated out-of-fold")


def print_edit_table(report):
    """Edits by type, the model's beside the references', and edit-level precision / recall / F0.5."""
    kinds = sorted({k for m in report["splits"].values() for who in ("model", "reference") for k in m["edits"][who]})
    print("\nedits by type (the model's / the references'), and the model's edits against the references' own")
    print("| split | " + " | ".join(kinds) + " | precision | recall | F0.5 |")
    print("|---" * (len(kinds) + 4) + "|")
    for name, m in report["splits"].items():
        e = m["edits"]
        cells = [f"{e['model'].get(k, 0)} / {e['reference'].get(k, 0)}" for k in kinds]
        print(f"| {name} | " + " | ".join(cells) + f" | {e['edit_precision']:.3f} | {e['edit_recall']:.3f} | "
              f"{e['edit_f0.5']:.3f} |")


def main():
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=TRAINED_MODEL, help="model folder (fp32, merged LoRA or int8)")
    parser.add_argument("--data", nargs="+", default=[PROCESSED_DATA], renamed_from=["--dataset"],
                        help="the pairs in: the folder datamod.py wrote (its --splits are scored), or JSON pair "
                             "files and MQR .tsv files (each scored as a split named by its file)")
    parser.add_argument("--splits", nargs="+", default=["train", "valid"], help="with a datamod.py folder")
    parser.add_argument("--limit", type=positive_int, help="first N pairs of each split (quick runs)")
    add_backend_argument(parser)
    parser.add_argument("--beams", type=positive_int, default=1, help="1: greedy; more: beam search, see infer.py")
    parser.add_argument("--batch-size", type=positive_int, default=16)
    add_guard_arguments(parser)
    add_engine_arguments(parser)
    parser.add_argument("--no-guard", dest="guard", action="store_false",
                        help="measure without the meaning guard and the language/greeting checks (see infer.py)")
    parser.add_argument("--calibrate", action="store_true",
                        help="fit the confidence's calibration on the valid split (rewrites exactly right against "
                             "their confidence) and store it as calibration.json in the model folder, which the "
                             "Rewriter then applies on load; reported out-of-fold in metrics.json")
    parser.add_argument("--reports", renamed_from=["--outputs"],
                        help="folder for *_io.json and metrics.json (default: outputs/<run>, or outputs/<run>/int8 "
                             "or /openvino)")
    args = parser.parse_args()

    try:
        splits = {name: pairs[:args.limit] for name, pairs in load_splits(args).items()}
        reports = check_reports(args, splits)
        if args.calibrate and "valid" not in splits:
            raise DataError("--calibrate: fits on a split named valid; score the datamod.py folder (its valid "
                            "split) or a file named valid.json")
        rewriter = Rewriter(args.model, batch_size=args.batch_size, backend=args.backend, beams=args.beams,
                            guard=args.guard, engine_settings=args.engine_settings, **guard_options(args))
        if args.calibrate:
            if rewriter.engine.folder is None:
                raise DataError(f"--calibrate: {args.model} is not a model folder; pass a local folder")
            calibration.check_writable(rewriter.engine.folder)
    except (DataError, ModelError, OutputError) as err:
        fail(err)
    print(rewriter.engine_choice, file=sys.stderr)

    report = {"model": args.model, "backend": rewriter.backend, "beams": args.beams, "guard": args.guard,
              "retry_beams": args.retry_beams,
              "splits": {}}
    for name, pairs in splits.items():
        metrics, io = evaluate_split(rewriter, pairs)
        if args.calibrate and name == "valid":
            try:
                stored = calibrate(rewriter, metrics, io)
            except DataError as err:  # the scores stand; the confidence stays raw
                print(f"warning: {err}; no calibration written", file=sys.stderr)
        open_reports_dir(reports)
        write_json_atomic(reports / f"{name}_io.json", io)
        report["splits"][name] = metrics
    write_json_atomic(reports / "metrics.json", report)

    decoding = ("greedy" if args.beams == 1 else f"{args.beams} beams") + ("" if args.guard else ", no guard")
    print(f"\nmodel {args.model} ({rewriter.backend}, {decoding}); identity = copying the input")
    print_tables(report)
    if "calibration" in report["splits"].get("valid", {}):
        print_calibration(report["splits"]["valid"]["calibration"], stored)
    print(f"wrote {reports}/metrics.json and {', '.join(f'{reports}/{n}_io.json' for n in splits)}")


if __name__ == "__main__":
    main()
