"""Scores for rewrites: corpus BLEU and chrF (sacrebleu), exact match, and their identity floor.

The identity baseline copies the input unchanged; every figure is reported beside it.
"""
import sacrebleu


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
    """Model scores and the identity baseline's scores on the same examples."""
    return {"model": score(predictions, references), "identity": score(list(inputs), references)}
