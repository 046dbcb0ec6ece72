"""The OpenVINO engine: quantize.py --openvino's folder (int8 weights) decoded by OpenVINO GenAI's
ContinuousBatchingPipeline (paged attention, the prompts of a call scheduled together), greedy or beam search.
Imported by open_engine only for such a folder: the openvino packages are optional (the `openvino` extra).
"""
from pathlib import Path

import torch

from qrewrite import cpu
from qrewrite.engines import cut_at_stop, load_tokenizer
from qrewrite.errors import ModelError
from qrewrite.stream import chunks

KV_CACHE_GB = 1  # the pipeline's KV cache, allocated at load


class OpenVINOEngine:
    """OpenVINO GenAI's ContinuousBatchingPipeline on token ids: each call's prompts go in batch_size at a time."""

    name = "openvino"
    beam_search = True

    def __init__(self, folder, batch_size=8, threads=None):
        try:
            import openvino as ov
            import openvino_genai
        except ImportError:
            raise ModelError(f"{folder}: an OpenVINO model needs the openvino packages; "
                             "pip install -e \".[openvino]\"") from None
        threads = threads or torch.get_num_threads()
        self.batch_size = batch_size
        self.folder = Path(folder)
        self.tokenizer = load_tokenizer(folder)
        self.tensor = lambda ids: ov.Tensor(torch.tensor([ids], dtype=torch.int64).numpy())
        scheduler = openvino_genai.SchedulerConfig()
        scheduler.cache_size = KV_CACHE_GB
        try:
            self.pipeline = openvino_genai.ContinuousBatchingPipeline(str(folder), scheduler, "CPU",
                                                                      {"INFERENCE_NUM_THREADS": threads})
        except RuntimeError as err:
            first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ModelError(f"{folder}: cannot be loaded by OpenVINO GenAI ({first_line[:200]}); "
                             "re-run quantize.py --openvino") from None
        self.choice = (f"openvino engine on {cpu.cpu_name()}: OpenVINO GenAI {openvino_genai.__version__} "
                       f"ContinuousBatchingPipeline, int8 weights, {threads} thread(s)")

    def config(self, max_new_tokens, stop_ids, beams):
        """Greedy (with the chosen tokens' log-probs summed: logprobs=1) or beam search keeping every beam; the
        project's stop ids end a sequence, not the model's own end of text."""
        config = self.pipeline.get_config()
        config.do_sample = False
        config.max_new_tokens = max_new_tokens
        config.stop_token_ids = set(stop_ids)
        config.eos_token_id = min(stop_ids) if stop_ids else -1
        config.num_beams = config.num_return_sequences = beams
        config.logprobs = 1 if beams == 1 else 0
        if beams > 1:
            config.num_beam_groups, config.diversity_penalty, config.length_penalty = 1, 0.0, 1.0
        return config

    def generate(self, prompts, max_new_tokens, stop_ids, beams=1, progress=None):
        results = []
        for indices in chunks(list(range(len(prompts))), self.batch_size):
            found = self.pipeline.generate([self.tensor(prompts[i]) for i in indices],
                                           [self.config(max_new_tokens[i], stop_ids, beams) for i in indices])
            results += [self.candidates(result, stop_ids, max_new_tokens[i], beams)
                        for i, result in zip(indices, found)]
            if progress:
                progress.update(len(indices))
        return results

    @staticmethod
    def candidates(result, stop_ids, limit, beams):
        """[(new ids, mean token log-prob)], best first. Beam scores are already means (length penalty 1); the
        greedy score is the sum over the tokens generated, the stop token included, as TorchEngine's mean is."""
        found = []
        for ids, score in zip(result.m_generation_ids, result.m_scores):
            ids = cut_at_stop(list(ids), stop_ids, limit)
            if beams == 1:
                score /= max(1, min(len(ids) + 1, limit))
            found.append((ids, float(score)))
        return sorted(found, key=lambda candidate: -candidate[1])
