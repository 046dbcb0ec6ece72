"""Scores for rewrites: corpus BLEU and chrF (sacrebleu), exact match, and their identity floor.

The identity baseline copies the input unchanged; every figure is reported beside it. Faithfulness: what a
rewrite keeps and invents (numbers, names, negations) and the words it changes (qrewrite.faithfulness), per split
and per example.
"""
from collections import Counter

import sacrebleu

from qrewrite.faithfulness import meaning_changes
from qrewrite.text import words
from qrewrite.wordlists import STOPWORDS


def score(predictions, references):
    """Corpus BLEU (0-100), chrF (0-100) and exact match (0-1) of predictions against references."""
    if not predictions:
        return {"bleu": 0.0, "chrf": 0.0, "exact_match": 0.0, "count": 0}
    return {
        "bleu": round(sacrebleu.corpus_bleu(predictions, [references]).score, 2),
        "chrf": round(sacrebleu.corpus_chrf(predictions, [references]).score, 2),
        "exact_match": round(sum(p == r for p, r in zip(predictions, references)) / len(predictions), 4),
        "count": len(predictions),
    }


def sentence_bleu(prediction, reference):
    """BLEU of one rewrite (0-100), smoothed as sacrebleu does for single sentences."""
    return round(sacrebleu.sentence_bleu(prediction, [reference]).score, 2)


def input_overlap(text, source):
    """How much of `source` `text` keeps, as chrF on a 0-1 scale (1: the same characters in the same words)."""
    return sacrebleu.sentence_chrf(text, [source]).score / 100


def score_with_baseline(inputs, predictions, references):
    """Model scores and the identity baseline's scores on the same examples, with their faithfulness;
    and the model's per-example flags (example_flags), for *_io.json."""
    result, flags = {}, {}
    for name, texts in (("model", predictions), ("identity", list(inputs))):
        result[name] = score(texts, references)
        faithful, flags[name] = faithfulness(inputs, texts, references)
        result[name].update(faithful)
    return result, flags["model"]


def category(item):
    """"negation", "number" or "name", for an item that meaning_changes reports."""
    return "negation" if item == "negation" else "number" if item.replace(".", "").isdigit() else "name"


def content_words(text):
    return Counter(w.lower() for w in words(text) if w.lower() not in STOPWORDS)


def example_flags(source, prediction, reference):
    """Per example: what the rewrite dropped, invented or changed against the reference, for *_io.json."""
    changes = meaning_changes(source, prediction, reference)
    return {**changes, "meaning_changed": any(changes.values())}


def faithfulness(inputs, predictions, references):
    """Shares over a split: rewrites that keep every number / name / negation the reference keeps (all, and per
    category), that invent one, that change a word into one neither the input nor the reference holds, that change
    an already-clean input, and content-word recall and precision."""
    flags = [example_flags(s, p, r) for s, p, r in zip(inputs, predictions, references)]
    n = max(1, len(flags))
    share = lambda test: round(sum(map(test, flags)) / n, 4)
    result = {"kept": share(lambda f: not f["dropped"]), "invented": share(lambda f: bool(f["invented"])),
              "changed": share(lambda f: bool(f["changed"]))}
    for kind in ("number", "name", "negation"):
        result[f"kept_{kind}"] = share(lambda f, kind=kind: kind not in map(category, f["dropped"]))
    clean = [p != s for s, p, r in zip(inputs, predictions, references) if s == r]
    result["over_correction"] = round(sum(clean) / len(clean), 4) if clean else None
    result["clean_inputs"] = len(clean)
    overlap = predicted = wanted = 0
    for prediction, reference in zip(predictions, references):
        mine, theirs = content_words(prediction), content_words(reference)
        overlap, predicted, wanted = overlap + sum((mine & theirs).values()), predicted + sum(mine.values()), \
            wanted + sum(theirs.values())
    result["content_recall"] = round(overlap / max(1, wanted), 4)
    result["content_precision"] = round(overlap / max(1, predicted), 4)
    return result, flags


def auroc(scores, positives):
    """The probability that a positive example scores above a negative one (ties count half); None without both."""
    pos = [s for s, p in zip(scores, positives) if p]
    neg = [s for s, p in zip(scores, positives) if not p]
    if not pos or not neg:
        return None
    ranked = sorted(scores)
    rank = {}  # mean 1-based rank of each score value
    for position, value in enumerate(ranked, 1):
        rank.setdefault(value, []).append(position)
    mean_rank = {value: sum(r) / len(r) for value, r in rank.items()}
    rank_sum = sum(mean_rank[s] for s in pos)
    return round((rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)), 4)


def confidence_report(confidences, right, edges=(0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)):
    """How well confidence tells right rewrites (exactly the reference) from wrong ones: AUROC, and a reliability
    table (per confidence bin: count, mean confidence, share right)."""
    rows = []
    for low, high in zip(edges, edges[1:]):
        inside = [(c, r) for c, r in zip(confidences, right) if low <= c < high or (high == edges[-1] and c == high)]
        if inside:
            rows.append({"from": low, "to": high, "count": len(inside),
                         "mean_confidence": round(sum(c for c, _ in inside) / len(inside), 4),
                         "right": round(sum(r for _, r in inside) / len(inside), 4)})
    return {"auroc": auroc(confidences, right), "count": len(confidences), "bins": rows}


def min_confidence_effects(rows, confidences, thresholds=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)):
    """What --min-confidence X would do to a scored split (rows: score.py's *_io.json entries): per X, the
    rewrites it holds back (kept as the question), how many of those were exactly right and how many changed the
    meaning against the reference, and the split's BLEU with them held back, beside BLEU with none held back."""
    references = [r["reference"] for r in rows]
    table = []
    for threshold in thresholds:
        held = [r["fallback"] is None and r["prediction"] != r["input"] and c < threshold
                for r, c in zip(rows, confidences)]
        texts = [r["input"] if h else r["prediction"] for r, h in zip(rows, held)]
        table.append({"min_confidence": threshold, "held_back": sum(held),
                      "held_right": sum(h and r["prediction"] == r["reference"] for r, h in zip(rows, held)),
                      "held_meaning_changed": sum(h and r["meaning_changed"] for r, h in zip(rows, held)),
                      "bleu": score(texts, references)["bleu"]})
    changed = [r["fallback"] is None and r["prediction"] != r["input"] for r in rows]
    return {"rewrites": sum(changed),
            "wrong": sum(c and r["prediction"] != r["reference"] for r, c in zip(rows, changed)),
            "meaning_changed": sum(c and r["meaning_changed"] for r, c in zip(rows, changed)),
            "bleu": score([r["prediction"] for r in rows], references)["bleu"], "thresholds": table}
