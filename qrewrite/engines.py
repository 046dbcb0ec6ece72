"""Generation engines: prompt token ids in, generated token ids out, one class per engine (TorchEngine and
CTranslate2Engine here; OpenVINOEngine in qrewrite/openvino_engine.py and OnnxEngine in qrewrite/onnx_engine.py,
their packages optional).

Every engine has `tokenizer` and `generate(prompts, max_new_tokens, stop_ids, beams=1, progress=None)`:
for each prompt (a list of token ids) it returns `beams` candidates [(new token ids, mean token
log-prob)], best first. The new ids stop before the first stop id and are at most that prompt's
max_new_tokens long. The Rewriter owns everything else (the prompt, the bounds, decoding text,
picking a beam, the safety net), so a new engine is one class. `batch_size` is how many prompts
an engine decodes together; `progress`, if given, is told (`update(n)`) as prompts finish.
"""
import importlib.util
from pathlib import Path

import torch

from qrewrite import cpu, layouts
from qrewrite.errors import ModelError
from qrewrite.modeling import check_written_files, load_model, pick_device, prepare_tokenizer
from qrewrite.onnx_export import GENAI_CONFIG
from qrewrite.openvino_export import MODEL_XML
from qrewrite.paths import int8_dir_for, marker_entry, onnx_dir_for, openvino_dir_for
from qrewrite.prompt import prompt_prefix_ids
from qrewrite.stream import chunks


def cut_at_stop(ids, stop_ids, limit):
    """The ids before the first stop id, at most `limit` of them."""
    for position, token in enumerate(ids[:limit]):
        if token in stop_ids:
            return ids[:position]
    return ids[:limit]


class GreedyLogProbs:
    """A logits processor that records, at each step, the log-probability of the token greedy search picks (the
    most likely one), so that a greedy output has a mean token log-prob as a beam candidate does."""

    def __init__(self):
        self.steps = []

    def __call__(self, input_ids, scores):
        self.steps.append(torch.log_softmax(scores.float(), dim=-1).max(dim=-1).values)
        return scores

    def mean(self, row, ids, stop_ids, limit):
        """The mean log-prob of row `row`'s tokens up to its first stop id (included), at most `limit` of them."""
        length = min(len(cut_at_stop(ids, stop_ids, limit)) + 1, len(self.steps), limit)
        return torch.stack([step[row] for step in self.steps[:max(length, 1)]]).mean().item()


class TorchEngine:
    """transformers (fp32 on CPU, bf16 on GPU): padded batches, greedy or beam search."""

    name = "fp32"
    beam_search = True

    def __init__(self, model, batch_size=8, device=None):
        self.batch_size = batch_size
        self.folder = Path(model) if Path(model).is_dir() else None  # None for a hub id
        self.device, dtype = pick_device() if device is None else (device, torch.float32)
        self.model, self.tokenizer = load_model(model, self.device, dtype)
        on_cpu = f", {cpu.cpu_name()}, {torch.get_num_threads()} threads" if str(self.device) == "cpu" else ""
        self.choice = f"{self.name} engine (transformers) on {self.device}{on_cpu}"

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
        from transformers import LogitsProcessorList

        batch = self.tokenizer.pad({"input_ids": prompts}, return_tensors="pt").to(self.device)
        greedy = GreedyLogProbs() if beams == 1 else None
        processors = LogitsProcessorList([greedy] if greedy else [])
        out = self.model.generate(**batch, max_new_tokens=max(max_new_tokens), do_sample=False,
                                  eos_token_id=list(stop_ids), pad_token_id=self.tokenizer.pad_token_id,
                                  num_beams=beams, num_return_sequences=beams, return_dict_in_generate=True,
                                  output_scores=beams > 1, logits_processor=processors)
        rows = out.sequences[:, batch["input_ids"].shape[1]:].tolist()  # `beams` rows per prompt, in order
        scores = (out.sequences_scores.tolist() if beams > 1  # mean token log-probs
                  else [greedy.mean(k, rows[k], stop_ids, max_new_tokens[k]) for k in range(len(rows))])
        return [[(cut_at_stop(rows[k], stop_ids, limit), scores[k]) for k in range(p * beams, (p + 1) * beams)]
                for p, limit in enumerate(max_new_tokens)]


class CTranslate2Engine:
    """A CTranslate2 int8 folder: the batch decoded together in C++, greedy or beam search."""

    name = "int8"
    beam_search = True

    def __init__(self, folder, batch_size=8, threads=None, inter_threads=None, compute_type="int8", backend=None):
        """Default: one single-threaded worker per thread, so that a batch is split across workers; open_engine
        passes what qrewrite/cpu.py chose for this CPU. backend: "mkl", "onednn" or None (CTranslate2's choice),
        set before ctranslate2 is first imported in the process."""
        threads = threads or torch.get_num_threads()
        inter_threads = inter_threads or threads
        self.settings = cpu.set_backend({"backend": backend, "compute_type": compute_type, "workers": inter_threads,
                                         "threads": max(1, threads // inter_threads)})
        import ctranslate2

        if compute_type not in ctranslate2.get_supported_compute_types("cpu"):
            self.settings["compute_type"] = compute_type = "int8"
        self.batch_size = batch_size
        self.folder = Path(folder)
        self.tokenizer = load_tokenizer(folder)
        self.prompt_prefix = prompt_prefix_ids(self.tokenizer)
        self.workers = inter_threads
        self.choice = cpu.describe(self.settings, "as passed")
        torch_threads = torch.get_num_threads()
        try:
            self.generator = ctranslate2.Generator(str(folder), device="cpu", compute_type=compute_type,
                                                   intra_threads=max(1, threads // inter_threads),
                                                   inter_threads=inter_threads)
        except (RuntimeError, ValueError) as err:
            first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ModelError(f"{folder}: cannot be loaded by CTranslate2 ({first_line}); re-run quantize.py") from None
        finally:  # CTranslate2 sets the calling thread's OpenMP threads to intra_threads; torch shares them
            torch.set_num_threads(torch_threads)

    def generate(self, prompts, max_new_tokens, stop_ids, beams=1, progress=None):
        # Each chunk is a job of its own (asynchronous): with inter_threads > 1, workers take chunks in parallel,
        # so a call of fewer than workers x batch_size prompts is split to keep every worker busy (serve.py).
        size = max(1, min(self.batch_size, -(-len(prompts) // self.workers)))
        jobs = [(indices, self.generator.generate_batch(
            **self.split_static_prompt([prompts[i] for i in indices]),
            max_length=max(max_new_tokens[i] for i in indices), beam_size=beams, num_hypotheses=beams,
            end_token=list(stop_ids), include_prompt_in_result=False, return_scores=True, asynchronous=True))
            for indices in chunks(list(range(len(prompts))), size)]
        results = [None] * len(prompts)
        for indices, outputs in jobs:
            for i, output in zip(indices, outputs):
                output = output.result()
                results[i] = [(cut_at_stop(ids, stop_ids, max_new_tokens[i]), score)
                              for ids, score in zip(output.sequences_ids, output.scores)]
            if progress:
                progress.update(len(indices))
        return results

    def split_static_prompt(self, prompts):
        """generate_batch's prompt arguments: the prefix every prompt shares (prompt.prompt_prefix_ids) goes as
        CTranslate2's static prompt, computed once and cached (faster, the same outputs; docs/results.md); a
        prompt without it goes whole."""
        tokens = self.tokenizer.convert_ids_to_tokens
        prefix = self.prompt_prefix
        if prefix and all(prompt[:len(prefix)] == prefix for prompt in prompts):
            return {"start_tokens": [tokens(prompt[len(prefix):]) for prompt in prompts],
                    "static_prompt": tokens(prefix), "cache_static_prompt": True}
        return {"start_tokens": [tokens(prompt) for prompt in prompts]}


def load_tokenizer(folder):
    """The tokenizer of a model folder (quantize.py writes one beside the int8 model)."""
    from transformers import AutoTokenizer
    try:
        return prepare_tokenizer(AutoTokenizer.from_pretrained(folder))
    except (OSError, ValueError):
        raise ModelError(f"{folder}: no tokenizer files; re-run quantize.py for an int8 folder") from None


def holds_int8_model(folder):
    """Whether `folder` holds a CTranslate2 model written by quantize.py."""
    return (Path(folder) / "model.bin").is_file() and (Path(folder) / "vocabulary.json").is_file()


def holds_openvino_model(folder):
    """Whether `folder` holds an OpenVINO model (quantize.py --openvino's)."""
    return (Path(folder) / MODEL_XML).is_file()


def holds_onnx_model(folder):
    """Whether `folder` holds an ONNX Runtime GenAI model (quantize.py --onnx's)."""
    return (Path(folder) / GENAI_CONFIG).is_file()


# backend -> (whether a folder holds its model, where quantize.py writes it beside an fp32 folder, how, its package)
CONVERTED = {"int8": (holds_int8_model, int8_dir_for, "python quantize.py --model {}", "ctranslate2"),
             "openvino": (holds_openvino_model, openvino_dir_for, "python quantize.py --openvino --model {}",
                          "openvino_genai"),
             "onnx": (holds_onnx_model, onnx_dir_for, "python quantize.py --onnx --model {}", "onnxruntime_genai")}


def folder_kind(model):
    """"int8", "openvino" or "onnx" for a folder holding quantize.py's output, None for anything else (fp32, a hub
    id)."""
    return next((backend for backend, (holds, *_) in CONVERTED.items() if holds(model)), None)


def engine_folder(model, backend="auto"):
    """(engine name or None for fp32, folder, a note on the choice or None): backend "int8", "openvino" or "onnx"
    also looks beside an fp32 folder (int8_dir_for, ...); "fp32" refuses a converted folder; "auto" takes what the
    folder holds, an int8 folder possibly run on the openvino engine instead (converted_beside)."""
    kind = folder_kind(model)
    if backend == "fp32" and kind is not None:
        raise ModelError(f"{model} holds an {kind} model; pass the fp32 folder for --backend fp32")
    if backend in CONVERTED and kind != backend:
        holds, beside, command, _ = CONVERTED[backend]
        if not holds(beside(model)):
            raise ModelError(f"no {backend} model in {model} or {beside(model)}; run `{command.format(model)}`")
        return backend, beside(model), None
    if backend == "auto" and kind == "int8":
        fastest, why = cpu.fastest_engine()
        folder, note = converted_beside(Path(model), fastest, why)
        return ("openvino", folder, note) if folder else ("int8", Path(model), note)
    return kind, Path(model) if kind else model, None


def converted_beside(int8_folder, kind, why):
    """(the `kind` model quantize.py wrote beside an int8 folder, a note) where `kind` is the engine measured fastest
    on this kind of CPU (`why`), its package is installed and both folders were converted from the same weights;
    (None, a note or None) otherwise, the note saying what was passed over and how to use it."""
    if kind not in ("openvino", "onnx"):
        return None, None
    holds, beside, _, package = CONVERTED[kind]
    folder = beside(int8_folder)
    if not holds(folder):
        return None, None
    if importlib.util.find_spec(package) is None:
        return None, f"not the faster {kind} engine in {folder}: pip install -e \".[{kind}]\""
    source = marker_entry(int8_folder, "converted_from")
    if source is None or source != marker_entry(folder, "converted_from"):
        return None, (f"not the {kind} model in {folder}: not known to be converted from the same weights; re-run "
                      f"quantize.py --{kind} to use it")
    return folder, f"--backend auto on {int8_folder}: {why}; --backend int8 to keep int8"


class SplitByBatch:
    """A call of one prompt, greedy, on one engine (`alone`), every other call (batches, beams) on another: the pick
    of --backend auto where one engine is the fastest alone and another in batches (cpu.fastest_alone)."""

    def __init__(self, alone, batched):
        self.alone, self.batched = alone, batched
        self.name, self.tokenizer, self.folder = batched.name, batched.tokenizer, batched.folder
        self.beam_search = batched.beam_search
        self.choice = f"{batched.choice}; one question alone: {alone.choice}"

    @property
    def batch_size(self):
        return self.batched.batch_size

    @batch_size.setter
    def batch_size(self, size):
        self.batched.batch_size = size

    def generate(self, prompts, max_new_tokens, stop_ids, beams=1, progress=None):
        engine = self.alone if len(prompts) == 1 and beams == 1 else self.batched
        return engine.generate(prompts, max_new_tokens, stop_ids, beams, progress)


def open_engine(model, backend="auto", batch_size=8, device=None, engine_settings=None):
    """The engine for a model folder or hub id: CTranslate2, OpenVINO or ONNX Runtime GenAI where the folder holds
    quantize.py's output (or, with backend "int8", "openvino" or "onnx", where the folder beside it does;
    engine_folder), else fp32. The int8 engine's backend, compute type and threads are those measured fastest on
    this CPU (qrewrite/cpu.py), or engine_settings (cpu.parse_settings's overrides); the other engines take its
    threads= only. Under "auto" on an int8 folder, one question alone goes to the onnx model beside it where that
    engine is the fastest alone on this kind of CPU (SplitByBatch). The engine's `choice` says what was picked and
    why."""
    kind, folder, note = engine_folder(model, backend)
    alone_folder, alone_note = None, None
    if backend == "auto" and folder_kind(model) == "int8":
        alone_folder, alone_note = converted_beside(Path(model), *cpu.fastest_alone())
    engine = open_engine_of_kind(kind, folder, batch_size, device, engine_settings, batches_only=bool(alone_folder))
    if note:
        engine.choice += f" ({note})"
    if alone_folder:
        engine = SplitByBatch(open_engine_of_kind("onnx", alone_folder, 1, device, engine_settings), engine)
    elif alone_note:
        engine.choice += f" ({alone_note})"
    return engine


def open_engine_of_kind(kind, folder, batch_size, device, engine_settings, batches_only=False):
    """batches_only: the int8 engine will not be given lone questions (SplitByBatch), so its layout is the fastest
    in batches."""
    if kind is None:
        return TorchEngine(folder, batch_size, device)
    check_written_files(folder)  # weights changed since quantize.py wrote them are refused
    if kind == "openvino":
        from qrewrite.openvino_engine import OpenVINOEngine  # optional packages: imported only when needed

        return OpenVINOEngine(folder, batch_size, threads=(engine_settings or {}).get("threads"))
    if kind == "onnx":
        from qrewrite.onnx_engine import OnnxEngine

        return OnnxEngine(folder, batch_size, threads=(engine_settings or {}).get("threads"))
    return open_int8_engine(folder, batch_size, engine_settings, batches_only)


def open_int8_engine(folder, batch_size, engine_settings, batches_only):
    """The int8 engine with the backend and compute type of this CPU's vendor (cpu.choose) and the thread layout
    measured fastest on this CPU (layouts.layout_for), each unless engine_settings sets it."""
    cores = torch.get_num_threads()
    settings, why = cpu.choose(cores, engine_settings)
    layout_why = why
    cpu.set_backend(settings)  # before ctranslate2 is first imported (layouts.cache_key imports it)

    def open_layout(workers, threads_each, size=batch_size):
        return CTranslate2Engine(folder, size, threads=workers * threads_each, inter_threads=workers,
                                 compute_type=settings["compute_type"], backend=settings["backend"])

    if settings["workers"] is None:
        open_job = lambda workers, threads_each: open_layout(workers, threads_each, layouts.BATCH)
        settings["workers"], settings["threads"], layout_why = layouts.layout_for(folder, settings, cores, open_job,
                                                                                   batches_only)
    engine = open_layout(settings["workers"], settings["threads"])
    engine.choice = cpu.describe(engine.settings, why, layout_why)
    return engine
