"""The onnx engine: quantize.py --onnx's folder (int8 weights, ONNX Runtime's MatMulNBits) decoded by ONNX Runtime
GenAI, one question at a time, greedy only. Imported only for such a folder: its packages are optional (the `onnx`
extra, prebuilt wheels).

It is the fastest engine measured for one question alone on AMD EPYCs (docs/results.md), not for batches: its
padded batches give other outputs than the same questions alone, so it never pads (one prompt per generator), and
open_engine pairs it with the batch engine (SplitByBatch in qrewrite/engines.py).
"""
import json
from pathlib import Path

import numpy as np
import torch

from qrewrite import cpu
from qrewrite.engines import load_tokenizer
from qrewrite.errors import ModelError


class OnnxEngine:
    """ONNX Runtime GenAI's Generator on token ids, one prompt at a time, greedy, the chosen tokens' log-probs read
    from the logits at each step."""

    name = "onnx"
    beam_search = False

    def __init__(self, folder, batch_size=1, threads=None):
        try:
            import onnxruntime_genai as og
        except ImportError:
            raise ModelError(f"{folder}: an ONNX model needs onnxruntime-genai; pip install -e \".[onnx]\"") from None
        threads = threads or torch.get_num_threads()
        self.og = og
        self.batch_size = batch_size  # kept for the interface: prompts are decoded one at a time whatever it is
        self.folder = Path(folder)
        self.tokenizer = load_tokenizer(folder)
        try:
            config = og.Config(str(folder))
            config.overlay(json.dumps({"model": {"decoder": {"session_options": {
                "intra_op_num_threads": threads, "inter_op_num_threads": 1}}}}))
            self.model = og.Model(config)
        except RuntimeError as err:
            first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ModelError(f"{folder}: cannot be loaded by ONNX Runtime GenAI ({first_line[:200]}); "
                             "re-run quantize.py --onnx") from None
        self.choice = (f"onnx engine on {cpu.cpu_name()}: ONNX Runtime GenAI {og.__version__}, int8 weights, "
                       f"one question at a time, {threads} thread(s)")

    def generate(self, prompts, max_new_tokens, stop_ids, beams=1, progress=None):
        if beams != 1:
            raise ModelError("the onnx engine has no beam search; pass beams=1")
        results = []
        for prompt, limit in zip(prompts, max_new_tokens):
            results.append([self.greedy(prompt, limit, stop_ids)])
            if progress:
                progress.update(1)
        return results

    def greedy(self, prompt, limit, stop_ids):
        """(new ids before the first stop id, at most `limit`; the mean log-prob of those ids and the stop id, as
        TorchEngine scores them). The model's own end of text also ends a sequence (the Rewriter's stop ids hold
        it)."""
        params = self.og.GeneratorParams(self.model)
        params.set_search_options(do_sample=False, batch_size=1, max_length=len(prompt) + limit)
        generator = self.og.Generator(self.model, params)
        generator.append_tokens(np.array([prompt], dtype=np.int32))
        ids, log_probs = [], []
        while len(ids) < limit and not generator.is_done():
            logits = generator.get_logits()[0, -1].astype(np.float32)
            generator.generate_next_token()
            token = int(generator.get_next_tokens()[0])
            top = logits.max()
            log_probs.append(float(logits[token] - top - np.log(np.exp(logits - top).sum())))
            if token in stop_ids:
                break
            ids.append(token)
        return ids, float(np.mean(log_probs)) if log_probs else 0.0
