"""Rewriting questions with a trained model: batched generation (greedy, or beam search) and its safety net.

    from qrewrite.rewriter import Rewriter
    rewriter = Rewriter("weights/full/best")          # loads once
    rewriter.rewrite(["hey waht is teh capital of frnace? thx"])   # -> ["What is the capital of France?"]

A model folder holding a GGUF file (written by quantize.py) runs int8 through llama.cpp; any other
folder or hub id runs through transformers (fp32 on CPU, bf16 on GPU).
A degenerate output (empty, not a question, far longer than the input) or one that changes the meaning
(drops or invents a number, name or negation: qrewrite.faithfulness) falls back to the input, and so does
input that is not English or holds no question.
With beams > 1 (fp32 only), beam search keeps that many candidates and the one picked balances the
model's confidence with how much of the input it keeps (see pick_candidate).
"""
import sys
from pathlib import Path

import torch

from qrewrite.faithfulness import change_reason, skip_reason
from qrewrite.metrics import input_overlap
from qrewrite.modeling import (TRAINED_MODEL, ModelError, check_written_files, load_model, pick_device,
                               prepare_tokenizer)
from qrewrite.prompt import plain_token_ids, prompt_token_ids, stop_token_ids

MAX_INPUT_TOKENS = 256  # longer questions are cut to this many tokens, with a warning
# Weight of input_overlap against the mean token log-prob when picking among beam candidates. Chosen on the
# first half of the shipped valid split (0 to 5 tried; 0.5 to 1.5 about equal), reported on the second half.
OVERLAP_WEIGHT = 1.0


def gguf_file_in(folder):
    files = sorted(Path(folder).glob("*.gguf")) if Path(folder).is_dir() else []
    return files[0] if files else None


def int8_dir_for(model_dir):
    """Where quantize.py writes the int8 model of an fp32 folder: weights/full/best -> weights/full/int8."""
    return Path(model_dir).parent / "int8"


def max_new_tokens_for(n_input_tokens):
    """A rewrite is about as long as its input; the bound stops runaway generation early."""
    return min(2 * n_input_tokens + 16, 2 * MAX_INPUT_TOKENS)


def fallback_reason(question, output, guard=True):
    """Why an output cannot stand as the rewrite of `question`, or None when it can: the safety net.
    With the guard, a rewrite must also keep every number, name and negation of the question and invent none."""
    text = output.strip()
    if not text:
        return "empty"
    if len(text) > 2 * len(question.strip()) + 40:
        return "longer than input"
    if not text.endswith("?"):
        return "not a question"
    return change_reason(question, text) if guard else None


def pick_candidate(question, candidates, guard=True):
    """The beam candidate [(text, mean token log-prob)] to keep: confidence plus OVERLAP_WEIGHT x input overlap.

    A wrong "correction" ("hbobies" -> "hemoglobin" instead of "hobbies") keeps less of the input than the right
    one, which is often the model's second or third candidate. Candidates that would fall back are passed over.
    """
    usable = [c for c in candidates if fallback_reason(question, c[0], guard) is None] or candidates
    return max(usable, key=lambda c: c[1] + OVERLAP_WEIGHT * input_overlap(c[0], question))[0]


class Rewriter:
    def __init__(self, model=None, batch_size=8, device=None, backend="auto", beams=1, guard=True):
        """backend "auto" follows the folder; "int8" also finds quantize.py's output beside an fp32 folder.
        beams > 1: beam search with that many candidates, then pick_candidate (fp32 only)."""
        self.model_name = model or TRAINED_MODEL
        self.batch_size = batch_size
        self.beams = beams
        self.guard = guard  # False only to measure what the guard changes (evaluate.py --no-guard)
        if beams < 1:
            raise ModelError(f"beams must be 1 (greedy) or more, not {beams}")
        gguf = gguf_file_in(self.model_name)
        if backend == "int8" and gguf is None:
            gguf = gguf_file_in(int8_dir_for(self.model_name))
            if gguf is None:
                raise ModelError(f"no int8 model in {self.model_name} or {int8_dir_for(self.model_name)}; "
                                 f"run `python quantize.py --model {self.model_name}`")
        if backend == "fp32" and gguf is not None:
            raise ModelError(f"{self.model_name} holds an int8 GGUF model; pass the fp32 folder for --backend fp32")
        if gguf is not None and beams > 1:
            raise ModelError("beam search runs on the fp32 backend only; pass the fp32 model folder, or 1 beam")
        if gguf is not None:
            self.backend = "int8"
            check_written_files(gguf.parent)
            self._load_gguf(gguf)
        else:
            self.backend = "fp32"
            self.device, dtype = pick_device() if device is None else (device, torch.float32)
            self.model, self.tokenizer = load_model(self.model_name, self.device, dtype)
        self.stop_ids = stop_token_ids(self.tokenizer)

    def _load_gguf(self, gguf):
        from transformers import AutoTokenizer
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ModelError("int8 models run on llama.cpp: `pip install llama-cpp-python` (see requirements.txt)") from None
        try:
            self.tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(gguf.parent))
        except (OSError, ValueError):
            raise ModelError(f"{gguf.parent}: no tokenizer files beside {gguf.name}; re-run quantize.py") from None
        try:
            self.llama = Llama(model_path=str(gguf), n_ctx=4 * MAX_INPUT_TOKENS, n_batch=4 * MAX_INPUT_TOKENS,
                               n_threads=torch.get_num_threads(), verbose=False)
        except (ValueError, RuntimeError) as err:
            raise ModelError(f"{gguf}: cannot be loaded by llama.cpp ({err}); re-run quantize.py") from None

    def prompt_ids(self, question):
        """Token ids of the prompt (the question as plain text); a very long question is cut first, with a warning."""
        ids = plain_token_ids(self.tokenizer, question)
        if len(ids) > MAX_INPUT_TOKENS:
            print(f"warning: a question of {len(ids)} tokens was cut to {MAX_INPUT_TOKENS}", file=sys.stderr)
            ids = ids[:MAX_INPUT_TOKENS]
        return prompt_token_ids(self.tokenizer, ids), len(ids)

    def generate(self, questions, progress=False):
        """The model's raw output for each question (greedy, or the picked beam); empty questions give empty outputs."""
        outputs = [""] * len(questions)
        todo = [i for i, q in enumerate(questions) if q.strip()]
        encoded = {i: self.prompt_ids(questions[i]) for i in todo}
        todo.sort(key=lambda i: len(encoded[i][0]))  # similar lengths together: less padding
        batches = [todo[s:s + self.batch_size] for s in range(0, len(todo), self.batch_size)]
        if progress:
            from tqdm import tqdm
            batches = tqdm(batches, desc=f"rewriting ({self.backend})", unit="batch")
        for batch in batches:
            if self.backend == "int8":
                for i in batch:
                    outputs[i] = self._generate_gguf(*encoded[i])
            else:
                for i, text in zip(batch, self._generate_torch([questions[i] for i in batch],
                                                               [encoded[i] for i in batch])):
                    outputs[i] = text
        return outputs

    @torch.inference_mode()
    def _generate_torch(self, questions, encoded):
        batch = self.tokenizer.pad({"input_ids": [ids for ids, _ in encoded]}, return_tensors="pt").to(self.device)
        new_tokens = max(max_new_tokens_for(n) for _, n in encoded)
        out = self.model.generate(**batch, max_new_tokens=new_tokens, do_sample=False, eos_token_id=self.stop_ids,
                                  pad_token_id=self.tokenizer.pad_token_id, num_beams=self.beams,
                                  num_return_sequences=self.beams, return_dict_in_generate=True,
                                  output_scores=self.beams > 1)
        rows = out.sequences[:, batch["input_ids"].shape[1]:].tolist()  # `beams` rows per question
        scores = out.sequences_scores.tolist() if self.beams > 1 else [0.0] * len(rows)  # mean token log-probs
        texts = []
        for k, (question, (_, n)) in enumerate(zip(questions, encoded)):
            mine = slice(k * self.beams, (k + 1) * self.beams)
            # each row cut one past the bound: that marks an over-long output
            candidates = [(self.tokenizer.decode(row[:max_new_tokens_for(n) + 1], skip_special_tokens=True).strip(),
                           score) for row, score in zip(rows[mine], scores[mine])]
            texts.append(pick_candidate(question, candidates, self.guard) if self.beams > 1 else candidates[0][0])
        return texts

    def _generate_gguf(self, ids, n_input_tokens):
        self.llama.reset()
        tokens = []
        for token in self.llama.generate(ids, temp=0.0, top_k=1, reset=True):
            if token in self.stop_ids or len(tokens) > max_new_tokens_for(n_input_tokens):
                break
            tokens.append(token)
        return self.tokenizer.decode(tokens, skip_special_tokens=True).strip()

    def rewrite_records(self, questions, progress=False):
        """One record a question: input, rewrite, the raw output, and the fallback reason (None if used).
        Input that is not English, or holds no question (greetings, thanks), is left as it is, unasked."""
        skipped = [skip_reason(q) if q.strip() and self.guard else None for q in questions]
        asked = [i for i, reason in enumerate(skipped) if reason is None and questions[i].strip()]
        outputs = dict(zip(asked, self.generate([questions[i] for i in asked], progress)))
        records = []
        for i, question in enumerate(questions):
            output = outputs.get(i, "")
            reason = skipped[i] or (fallback_reason(question, output, self.guard) if question.strip() else None)
            records.append({"input": question, "rewrite": question if reason or not question.strip() else output,
                            "raw": output, "fallback": reason})
        return records

    def rewrite(self, questions):
        """Clean rewrites, one per question, in order."""
        return [r["rewrite"] for r in self.rewrite_records(questions)]


_default_rewriters = {}


def rewrite(questions, model=None):
    """Module-level convenience: loads the model once per process and reuses it."""
    key = model or "default"
    if key not in _default_rewriters:
        _default_rewriters[key] = Rewriter(model)
    return _default_rewriters[key].rewrite(list(questions))
