"""Rewriting questions with a trained model: batched generation (greedy, or beam search) and its safety net.

    from qrewrite import Rewriter
    rewriter = Rewriter("weights/full/best")          # loads once
    rewriter.rewrite(["hey waht is teh capital of frnace? thx"])   # -> ["What is the capital of France?"]

A model folder holding quantize.py's int8 model runs through CTranslate2 (qrewrite/engines.py), one holding
quantize.py --openvino's model through OpenVINO GenAI (qrewrite/openvino_engine.py); any other folder or hub id
runs through transformers (fp32 on CPU, bf16 on GPU).
A degenerate output (empty, not a question, far longer than the input) or one that changes the meaning
(drops or invents a number, name or negation: qrewrite.faithfulness) falls back to the input, and so does
input that is not English or holds no question. An output whose one fault is a changed word (a typo
"corrected" into another word) keeps the rest of its rewrite, with the question's own words put back.
With beams > 1 (every engine), beam search keeps that many candidates and the one picked balances the
model's confidence with how much of the input it keeps (see pick_candidate).
"""
import argparse
import math
import sys

from qrewrite import calibration, cpu
from qrewrite.edits import apply_edits, edits, safe_edits
from qrewrite.engines import open_engine
from qrewrite.errors import ModelError
from qrewrite.faithfulness import change_reason
from qrewrite.metrics import input_overlap
from qrewrite.modeling import TRAINED_MODEL
from qrewrite.prompt import MAX_INPUT_TOKENS, max_new_tokens_for, plain_token_ids, prompt_token_ids, stop_token_ids
from qrewrite.protected import protected_changes
from qrewrite.restore import restore_changed
from qrewrite.skip import skip_reason

# Weight of input_overlap against the mean token log-prob when picking among beam candidates. Chosen on the
# first half of the shipped valid split, reported on the second half (docs/results.md).
OVERLAP_WEIGHT = 1.0
# A greedy rewrite that falls back (the guard refuses it, or its shape is wrong) is searched again with this
# many beams, and the best candidate that passes is kept: the right rewrite is often the second or third
# candidate. It costs a beam search for those questions only.
RETRY_BEAMS = 4
WARM_UP_QUESTIONS = ("hey waht is teh capital of frnace? thx", "how do i chnage my email adress")


def add_guard_arguments(parser):
    """--retry-beams and --min-confidence, as infer.py, score.py, serve.py and bench_serve.py take them."""
    from qrewrite.cli import fraction_or_zero, positive_int

    parser.add_argument("--retry-beams", type=positive_int, default=RETRY_BEAMS,
                        help="a greedy output the safety net refuses is decoded again with this many beams and the "
                             "best candidate that passes is kept; 1: never (the output then comes back as the "
                             "question, or with its changed words put back): faster, and more questions come back "
                             "as typed")
    parser.add_argument("--min-confidence", type=fraction_or_zero, default=0.0,
                        help="a rewrite whose confidence (0 to 1: the model's mean token probability, or, when the "
                             "model folder holds score.py --calibrate's calibration.json, the chance it is exactly "
                             "right) is below this comes back as the question, with fallback \"low confidence\" "
                             "(default 0: never)")


def add_engine_arguments(parser):
    """--engine-settings, as infer.py, score.py and serve.py take it."""
    def settings(text):
        try:
            return cpu.parse_settings(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    parser.add_argument("--engine-settings", type=settings, default={}, metavar="auto|KEY=VALUE,...",
                        help="the int8 engine's settings instead of those measured fastest on this kind of CPU "
                             "(printed at start): backend=mkl|onednn, compute_type=int8|int8_float32|..., "
                             "workers=N, threads=N (threads each worker uses), e.g. 'workers=1,threads=2'")


def guard_options(args):
    """The Rewriter's keyword arguments for the flags of add_guard_arguments."""
    return {"retry_beams": args.retry_beams, "min_confidence": args.min_confidence}


def fallback_reason(question, output, guard=True, protected=()):
    """Why an output cannot stand as the rewrite of `question`, or None when it can: the safety net.
    With the guard, a rewrite must also keep every number, name and negation of the question and invent none.
    protected: the caller's terms, each of which must stand in the rewrite exactly as written when the
    question holds it ("changed: PE"), with or without the guard."""
    text = output.strip()
    if not text:
        return "empty"
    if len(text) > 2 * len(question.strip()) + 40:
        return "longer than input"
    if not text.endswith("?"):
        return "not a question"
    if changed := protected_changes(question, text, protected):
        return f"changed: {', '.join(changed)}"
    return change_reason(question, text) if guard else None


def guarded_rewrite(question, output, guard=True, protected=()):
    """(rewrite, fallback reason or None, the question's words put back): the output when it passes the safety
    net; when its one fault is changed words ("pharjacy" -> "phone"), the output with those put back as the
    question wrote them (a typo left in is better than a wrong correction); otherwise the question as typed,
    with only the output's edits that are safe on their own (typos, casing, spaces: safe_fix)."""
    reason = fallback_reason(question, output, guard, protected)
    if reason is None:
        return output, None, []
    if fallback_kind(reason) == "changed":
        restored = restore_changed(question, output)
        if restored and fallback_reason(question, restored[0], True, protected) is None:
            return restored[0], None, restored[1]
    return safe_fix(question, output, guard, protected), reason, []


def safe_fix(question, output, guard=True, protected=()):
    """The question with the safe edits of a refused output applied (qrewrite/edits.py safe_edits), when the
    result still passes the guard and keeps the protected terms; else the question as typed."""
    if not guard:
        return question
    fixed = apply_edits(question, safe_edits(question, output))
    if fixed == question or protected_changes(question, fixed, protected) or change_reason(question, fixed):
        return question
    return fixed


def fallback_kind(reason):
    """The kind of a fallback reason, without the items it names: "dropped: 4417" -> "dropped" (for counts)."""
    return reason.split(":")[0]


def pick_candidate(question, candidates, guard=True, protected=()):
    """The beam candidate [(text, mean token log-prob)] to keep: confidence plus OVERLAP_WEIGHT x input overlap.

    A wrong "correction" ("hbobies" -> "hemoglobin" instead of "hobbies") keeps less of the input than the right
    one, which is often the model's second or third candidate. Candidates that would fall back are passed over.
    """
    usable = [c for c in candidates if fallback_reason(question, c[0], guard, protected) is None] or candidates
    return max(usable, key=lambda c: c[1] + OVERLAP_WEIGHT * input_overlap(c[0], question))[0]


class Rewriter:
    def __init__(self, model=None, batch_size=8, device=None, backend="auto", beams=1, engine=None, guard=True,
                 retry_beams=RETRY_BEAMS, min_confidence=0.0, engine_settings=None):
        """backend "auto" follows the folder (an int8 folder may run on the faster openvino and onnx models beside
        it: engines.open_engine); "int8", "openvino" and "onnx" also find quantize.py's output beside an fp32 folder.
        beams > 1: beam search with that many candidates, then pick_candidate.
        retry_beams: greedy outputs that fall back are searched again with this many beams (1: never).
        engine: an engine object (see qrewrite/engines.py) to use instead of opening one for `model`.
        guard=False only to measure what the guard changes (score.py --no-guard).
        min_confidence: a rewrite whose confidence is below it comes back as the question, "low confidence".
        engine_settings: the int8 engine's settings instead of those measured fastest on this CPU (qrewrite/cpu.py,
        --engine-settings); engine_choice says what was picked."""
        self.model_name = model or TRAINED_MODEL
        self.beams = beams
        self.guard = guard
        self.retry_beams = retry_beams
        self.min_confidence = min_confidence
        if beams < 1:
            raise ModelError(f"beams must be 1 (greedy) or more, not {beams}")
        self.engine = engine or open_engine(self.model_name, backend, batch_size, device, engine_settings)
        self.backend, self.tokenizer = self.engine.name, self.engine.tokenizer
        self.engine_choice = getattr(self.engine, "choice", self.backend)
        self.calibration = calibration.load(getattr(self.engine, "folder", None))  # None: raw confidence
        if beams > 1 and not self.engine.beam_search:
            raise ModelError(f"the {self.backend} engine has no beam search; pass the fp32 model folder, or 1 beam")
        self.stop_ids = stop_token_ids(self.tokenizer)

    @property
    def batch_size(self):
        """How many questions the engine decodes together."""
        return self.engine.batch_size

    @batch_size.setter
    def batch_size(self, size):
        self.engine.batch_size = size

    def prompt_ids(self, question):
        """Token ids of the prompt (the question as plain text); a very long question is cut first, with a warning."""
        ids = plain_token_ids(self.tokenizer, question)
        if len(ids) > MAX_INPUT_TOKENS:
            print(f"warning: a question of {len(ids)} tokens was cut to {MAX_INPUT_TOKENS}", file=sys.stderr)
            ids = ids[:MAX_INPUT_TOKENS]
        return prompt_token_ids(self.tokenizer, ids), len(ids)

    def generate(self, questions, progress=False, beams=None):
        """The model's raw output for each question (greedy, or the picked beam); empty questions give empty outputs.
        progress: True for a progress bar of its own, or a tqdm bar to advance one step a question.
        beams: this call's number of beams, instead of the Rewriter's."""
        return [text for text, _ in self.generate_scored(questions, progress, beams)]

    def generate_scored(self, questions, progress=False, beams=None, protected_each=None):
        """(raw output, its mean token log-prob) for each question, as generate; an empty question gives ("", 0.0).
        protected_each: each question's protected terms, which the picked beam must keep (see fallback_reason)."""
        protected_each = protected_each or [()] * len(questions)
        beams = beams or self.beams
        outputs = [("", 0.0)] * len(questions)
        todo = [i for i, q in enumerate(questions) if q.strip()]
        encoded = {i: self.prompt_ids(questions[i]) for i in todo}
        todo.sort(key=lambda i: len(encoded[i][0]))  # similar lengths together: less padding
        bar = progress if hasattr(progress, "update") else None
        if progress is True:
            from tqdm import tqdm
            bar = tqdm(total=len(todo), desc=f"rewriting ({self.backend})", unit="question")
        # one token past the bound: that marks an over-long output (see fallback_reason)
        candidates = self.engine.generate([encoded[i][0] for i in todo],
                                          [max_new_tokens_for(encoded[i][1]) + 1 for i in todo],
                                          self.stop_ids, beams, bar)
        for i, found in zip(todo, candidates):
            texts = [(self.tokenizer.decode(ids, skip_special_tokens=True).strip(), score) for ids, score in found]
            picked = pick_candidate(questions[i], texts, self.guard, protected_each[i]) if beams > 1 else texts[0][0]
            outputs[i] = (picked, dict(texts)[picked])
        if progress is True:
            bar.close()
        return outputs

    def warm_up(self):
        """Rewrites a question alone, and a batch of two where batches go to another engine (SplitByBatch), so that
        no request pays an engine's first-call cost (serve.py answers /health only after it)."""
        self.rewrite_records(list(WARM_UP_QUESTIONS[:1]))
        if hasattr(self.engine, "alone"):
            self.rewrite_records(list(WARM_UP_QUESTIONS))

    def rewrite_records(self, questions, progress=False, protected=(), protected_each=None):
        """One record a question: input, rewrite, the raw output, the fallback reason (None if used), the question's
        words put back into it (restored, see guarded_rewrite), whether the greedy output fell back and was
        searched again (retried), and the typed edits that turn the input into the rewrite (qrewrite/edits.py).
        Input that is not English, or holds no question (greetings, thanks), is left as it is, unasked.
        protected: terms the caller protects in every question (product names, SKUs: each must stand in the rewrite
        exactly as written where the question holds it, or the question comes back unchanged, "changed: <term>");
        protected_each: a list of terms for each question instead."""
        terms = protected_each or [tuple(protected)] * len(questions)
        skipped = [skip_reason(q) if q.strip() and self.guard else None for q in questions]
        asked = [i for i, reason in enumerate(skipped) if reason is None and questions[i].strip()]
        outputs, retried = self.search(questions, asked, terms, progress)
        if hasattr(progress, "update"):
            progress.update(len(questions) - len(asked))  # the questions left as they are count as done
        return [self.record(q, outputs.get(i), skipped[i], terms[i], i in retried) for i, q in enumerate(questions)]

    def search(self, questions, asked, terms, progress):
        """({index: (raw output, mean token log-prob)} of the asked questions, the indices searched again): greedy
        (or the Rewriter's beams), then, for the outputs the safety net refuses, a beam search of retry_beams."""
        found = self.generate_scored([questions[i] for i in asked], progress=progress,
                                    protected_each=[terms[i] for i in asked])
        outputs, retried = dict(zip(asked, found)), []
        if self.guard and self.beams == 1 and self.retry_beams > 1 and self.engine.beam_search:
            retried = [i for i in asked if fallback_reason(questions[i], outputs[i][0], True, terms[i])]
        if retried:
            outputs.update(zip(retried, self.generate_scored([questions[i] for i in retried], beams=self.retry_beams,
                                                             protected_each=[terms[i] for i in retried])))
        return outputs, set(retried)

    def record(self, question, output, skipped, protected, retried):
        """The record of one question, built in one stage after generation: the guard (and the words it puts back),
        the edits, the confidence (exp of the output's mean token log-prob, mapped by the model folder's
        calibration.json when it has one; 1.0 for an input left as it is) and the min_confidence floor.
        output: (raw output, mean token log-prob), or None when the model was not asked."""
        raw, log_prob = output or ("", 0.0)
        rewrite, reason, restored = question, skipped, []
        if output is not None:
            rewrite, reason, restored = guarded_rewrite(question, raw, self.guard, protected)
        raw_confidence = math.exp(log_prob)
        confidence = round(calibration.apply(self.calibration, raw_confidence) if self.calibration and output
                           else raw_confidence, 4)
        if reason is None and rewrite != question and confidence < self.min_confidence:
            rewrite, reason, restored = question, "low confidence", []
        return {"input": question, "rewrite": rewrite, "raw": raw, "fallback": reason, "restored": restored,
                "retried": retried, "confidence": confidence, "raw_confidence": round(raw_confidence, 6),
                "edits": edits(question, rewrite)}

    def rewrite(self, questions, protected=()):
        """Clean rewrites, one per question, in order (protected: see rewrite_records)."""
        return [r["rewrite"] for r in self.rewrite_records(questions, protected=protected)]


_default_rewriters = {}


def rewrite(questions, model=None):
    """Module-level convenience: loads the model once per process and reuses it."""
    key = model or "default"
    if key not in _default_rewriters:
        _default_rewriters[key] = Rewriter(model)
    return _default_rewriters[key].rewrite(list(questions))
