"""Generation engines: prompt token ids in, generated token ids out, one class per engine.

Every engine has `tokenizer` and `generate(prompts, max_new_tokens, stop_ids, beams=1, progress=None)`:
for each prompt (a list of token ids) it returns `beams` candidates [(new token ids, mean token
log-prob)], best first. The new ids stop before the first stop id and are at most that prompt's
max_new_tokens long. The Rewriter owns everything else (the prompt, the bounds, decoding text,
picking a beam, the safety net), so a new engine is one class. `batch_size` is how many prompts
an engine decodes together; `progress`, if given, is told (`update(n)`) as prompts finish.
"""
import logging
import weakref
from pathlib import Path

import numpy as np
import torch

from qrewrite.modeling import ModelError, load_model, pick_device, prepare_tokenizer


def cut_at_stop(ids, stop_ids, limit):
    """The ids before the first stop id, at most `limit` of them."""
    for position, token in enumerate(ids[:limit]):
        if token in stop_ids:
            return ids[:position]
    return ids[:limit]


def chunks(items, size):
    return [items[start:start + size] for start in range(0, len(items), size)]


class TorchEngine:
    """transformers (fp32 on CPU, bf16 on GPU): padded batches, greedy or beam search."""

    name = "fp32"
    beam_search = True

    def __init__(self, model, batch_size=8, device=None):
        self.batch_size = batch_size
        self.device, dtype = pick_device() if device is None else (device, torch.float32)
        self.model, self.tokenizer = load_model(model, self.device, dtype)

    def generate(self, prompts, max_new_tokens, stop_ids, beams=1, progress=None):
        results = []
        for indices in chunks(list(range(len(prompts))), self.batch_size):
            results += self._generate_batch([prompts[i] for i in indices], [max_new_tokens[i] for i in indices],
                                            stop_ids, beams)
            if progress:
                progress.update(len(indices))
        return results

    @torch.inference_mode()
    def _generate_batch(self, prompts, max_new_tokens, stop_ids, beams):
        batch = self.tokenizer.pad({"input_ids": prompts}, return_tensors="pt").to(self.device)
        out = self.model.generate(**batch, max_new_tokens=max(max_new_tokens), do_sample=False,
                                  eos_token_id=list(stop_ids), pad_token_id=self.tokenizer.pad_token_id,
                                  num_beams=beams, num_return_sequences=beams, return_dict_in_generate=True,
                                  output_scores=beams > 1)
        rows = out.sequences[:, batch["input_ids"].shape[1]:].tolist()  # `beams` rows per prompt, in order
        scores = out.sequences_scores.tolist() if beams > 1 else [0.0] * len(rows)  # mean token log-probs
        return [[(cut_at_stop(rows[k], stop_ids, limit), scores[k]) for k in range(p * beams, (p + 1) * beams)]
                for p, limit in enumerate(max_new_tokens)]



class LlamaCppEngine:
    """GGUF Q8_0 through llama.cpp's C API, continuous batching: up to `batch_size` sequences share each
    llama_decode call, and a finished sequence's slot (its KV cache cleared) takes the next prompt at once."""

    name = "int8"
    beam_search = False
    CONTEXT_PER_SEQUENCE = 1024  # longest prompt (256 question tokens + template) plus its longest output
    PROMPT_TOKENS_PER_CALL = 1024  # new prompts join a decode call until it holds this many of their tokens

    def __init__(self, folder, batch_size=8, threads=None):
        import llama_cpp

        gguf = sorted(Path(folder).glob("*.gguf"))[0]
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # llama.cpp's load messages
        self.api = llama_cpp
        self.batch_size = batch_size
        self.threads = threads or torch.get_num_threads()
        self.tokenizer = load_tokenizer(Path(gguf).parent)
        llama_cpp.llama_backend_init()
        self.model = llama_cpp.llama_model_load_from_file(str(gguf).encode(), llama_cpp.llama_model_default_params())
        if not self.model:
            raise ModelError(f"{gguf}: cannot be loaded by llama.cpp; re-run quantize.py")
        weakref.finalize(self, llama_cpp.llama_model_free, self.model)  # freed after the contexts made later
        self.vocab_size = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(self.model))
        self.context, self.slots = None, 0

    def _make_context(self, slots):
        """A context with one KV-cache stream per slot, made again only when more slots are needed."""
        api = self.api
        if self.context is not None and self.slots >= slots:
            return
        if self.context is not None:
            self.free_context()
        params = api.llama_context_default_params()
        params.n_seq_max = slots
        params.n_ctx = slots * self.CONTEXT_PER_SEQUENCE
        params.n_batch = params.n_ubatch = self.PROMPT_TOKENS_PER_CALL + slots
        params.n_threads = params.n_threads_batch = self.threads
        params.kv_unified = False
        params.no_perf = True
        self.context = api.llama_init_from_model(self.model, params)
        if not self.context:
            raise ModelError(f"llama.cpp could not make a context for {slots} sequences")
        self.slots, self.batch = slots, api.llama_batch_init(params.n_batch, 0, 1)
        self.free_context = weakref.finalize(self, free_llama_context, api, self.context, self.batch)

    def generate(self, prompts, max_new_tokens, stop_ids, beams=1, progress=None):
        if beams > 1:
            raise ModelError("the llama.cpp engine decodes greedily; beam search needs another engine")
        too_long = [len(p) + n for p, n in zip(prompts, max_new_tokens) if len(p) + n > self.CONTEXT_PER_SEQUENCE]
        if too_long or any(len(p) > self.PROMPT_TOKENS_PER_CALL for p in prompts):
            raise ValueError(f"a prompt with its new tokens exceeds {self.CONTEXT_PER_SEQUENCE} tokens")
        self._make_context(max(1, min(self.batch_size, len(prompts))))
        waiting = list(range(len(prompts)))[::-1]  # popped from the end: prompts in order
        free_slots = list(range(min(self.batch_size, self.slots)))[::-1]
        running = {}  # slot -> {"index": prompt index, "position": next token's position, "new": ids so far}
        results = [None] * len(prompts)
        while waiting or running:
            feeds = [(slot, seq["new"][-1:], seq["position"]) for slot, seq in running.items()]
            budget = self.PROMPT_TOKENS_PER_CALL
            while waiting and free_slots and len(prompts[waiting[-1]]) <= budget:
                index, slot = waiting.pop(), free_slots.pop()
                budget -= len(prompts[index])
                running[slot] = {"index": index, "position": 0, "new": []}
                feeds.append((slot, prompts[index], 0))
            for (slot, tokens, _), token in zip(feeds, self._decode(feeds)):
                seq = running[slot]
                seq["position"] += len(tokens)
                finished = token in stop_ids or len(seq["new"]) + 1 >= max_new_tokens[seq["index"]]
                seq["new"] += [] if token in stop_ids else [token]
                if finished:
                    results[seq["index"]] = [(seq["new"][:max_new_tokens[seq["index"]]], 0.0)]
                    del running[slot]
                    free_slots.append(slot)
                    self.api.llama_memory_seq_rm(self.api.llama_get_memory(self.context), slot, -1, -1)
                    if progress:
                        progress.update(1)
        return results

    def _decode(self, feeds):
        """One llama_decode over [(slot, tokens, first position)]; the greedy next token of each feed."""
        batch, count = self.batch, 0
        for slot, tokens, start in feeds:
            for offset, token in enumerate(tokens):
                batch.token[count], batch.pos[count] = token, start + offset
                batch.n_seq_id[count], batch.seq_id[count][0] = 1, slot
                batch.logits[count] = offset == len(tokens) - 1  # logits for each feed's last token only
                count += 1
        batch.n_tokens = count
        status = self.api.llama_decode(self.context, batch)
        if status != 0:
            raise ModelError(f"llama.cpp's decode failed (status {status})")
        logits = np.ctypeslib.as_array(self.api.llama_get_logits(self.context), shape=(len(feeds), self.vocab_size))
        return logits.argmax(axis=1).tolist()

class CTranslate2Engine:
    """A CTranslate2 int8 folder: the batch decoded together in C++, greedy or beam search."""

    name = "int8"
    beam_search = True

    def __init__(self, folder, batch_size=8, threads=None, inter_threads=1, compute_type="int8"):
        import ctranslate2

        self.batch_size = batch_size
        self.tokenizer = load_tokenizer(folder)
        threads = threads or torch.get_num_threads()
        try:
            self.generator = ctranslate2.Generator(str(folder), device="cpu", compute_type=compute_type,
                                                   intra_threads=max(1, threads // inter_threads),
                                                   inter_threads=inter_threads)
        except (RuntimeError, ValueError) as err:
            first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ModelError(f"{folder}: cannot be loaded by CTranslate2 ({first_line}); re-run quantize.py") from None

    def generate(self, prompts, max_new_tokens, stop_ids, beams=1, progress=None):
        # Each chunk is a job of its own (asynchronous): with inter_threads > 1, workers take chunks in parallel.
        jobs = [(indices, self.generator.generate_batch(
            [self.tokenizer.convert_ids_to_tokens(prompts[i]) for i in indices],
            max_length=max(max_new_tokens[i] for i in indices), beam_size=beams, num_hypotheses=beams,
            end_token=list(stop_ids), include_prompt_in_result=False, return_scores=beams > 1, asynchronous=True))
            for indices in chunks(list(range(len(prompts))), self.batch_size)]
        results = [None] * len(prompts)
        for indices, outputs in jobs:
            for i, output in zip(indices, outputs):
                output = output.result()
                scores = output.scores if beams > 1 else [0.0] * beams
                results[i] = [(cut_at_stop(ids, stop_ids, max_new_tokens[i]), score)
                              for ids, score in zip(output.sequences_ids, scores)]
            if progress:
                progress.update(len(indices))
        return results


def free_llama_context(api, context, batch):
    api.llama_batch_free(batch)
    api.llama_free(context)


def load_tokenizer(folder):
    """The tokenizer of a model folder (quantize.py writes one beside the int8 model)."""
    from transformers import AutoTokenizer
    try:
        return prepare_tokenizer(AutoTokenizer.from_pretrained(folder))
    except (OSError, ValueError):
        raise ModelError(f"{folder}: no tokenizer files; re-run quantize.py for an int8 folder") from None


def int8_dir_for(model_dir):
    """Where quantize.py writes the int8 model of an fp32 folder: weights/full/best -> weights/full/int8."""
    return Path(model_dir).parent / "int8"


def int8_engine_class(folder):
    """The engine that runs the int8 model in `folder`, or None when the folder holds none."""
    folder = Path(folder)
    if (folder / "model.bin").is_file() and (folder / "vocabulary.json").is_file():
        return CTranslate2Engine
    if sorted(folder.glob("*.gguf")):
        return LlamaCppEngine
    return None


def open_engine(model, backend="auto", batch_size=8, device=None):
    """The engine for a model folder or hub id: int8 where the folder holds quantize.py's output, else fp32.
    backend "int8" also looks beside an fp32 folder (int8_dir_for); "fp32" refuses an int8 folder."""
    int8_folder = Path(model) if int8_engine_class(model) else None
    if backend == "int8" and int8_folder is None:
        int8_folder = int8_dir_for(model) if int8_engine_class(int8_dir_for(model)) else None
        if int8_folder is None:
            raise ModelError(f"no int8 model in {model} or {int8_dir_for(model)}; "
                             f"run `python quantize.py --model {model}`")
    if backend == "fp32" and int8_folder is not None:
        raise ModelError(f"{model} holds an int8 model; pass the fp32 folder for --backend fp32")
    if int8_folder is None:
        return TorchEngine(model, batch_size, device)
    return int8_engine_class(int8_folder)(int8_folder, batch_size)
