"""Shared fixtures: tiny random Llama and Qwen2 models with SmolLM2's tokenizer, built inside the tests."""
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    from qrewrite.modeling import embedded_gguf_path, prepare_tokenizer

    gguf = embedded_gguf_path()
    return prepare_tokenizer(AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name))


def tiny_config(config_class, tokenizer, tied):
    """The same tiny shape for every architecture: width 64, 2 layers, 4 heads sharing 2 key/value heads."""
    return config_class(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                        tie_word_embeddings=tied, bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer):
    """Same architecture as SmolLM2 (Llama, GQA, tied embeddings), a few hundred thousand weights."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_config(LlamaConfig, tokenizer, tied=True))
    path = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_qwen2_dir(tmp_path_factory, tokenizer):
    """Qwen2's architecture (bias on the query, key and value projections), tiny, untied, with SmolLM2's tokenizer
    stripped of its chat template (as some base models ship), so that the ChatML fallback formats its prompts."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(1)
    model = Qwen2ForCausalLM(tiny_config(Qwen2Config, tokenizer, tied=False))
    with torch.no_grad():  # random biases, so that a converter dropping them would show
        for layer in model.model.layers:
            for projection in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                projection.bias.normal_(0, 0.5)
    path = tmp_path_factory.mktemp("tiny-qwen2")
    model.save_pretrained(path)
    no_template = copy.deepcopy(tokenizer)
    no_template.chat_template = None
    no_template.save_pretrained(path)
    return path


PAIRS = [
    ("hi waht is teh capital of frnace? thx", "What is the capital of France?"),
    ("how do i reset my pasword pls", "How do I reset my password?"),
    ("um when does the store on 5th street open", "When does the store on 5th Street open?"),
    ("Can I cancel order 1234?", "Can I cancel order 1234?"),
    ("hey so why isnt my wifi working??", "Why isn't my Wi-Fi working?"),
    ("sorry dumb question but how long to boil an egg", "How long should I boil an egg?"),
    ("where is teh eiffel tower", "Where is the Eiffel Tower?"),
    ("quick question, can i not pay by card?", "Can I not pay by card?"),
]


@pytest.fixture
def pair_files(tmp_path):
    """A tiny train/valid split in the project's JSON format."""
    def write(name, pairs):
        path = tmp_path / name
        path.write_text(json.dumps([{"input": i, "output": o} for i, o in pairs]))
        return path
    return write("train.json", PAIRS[:6]), write("valid.json", PAIRS[6:])


def run_script(*args, stdin=None, check=True, env=None, cwd=REPO):
    """Runs one of the project's scripts as a user would, from the repository root (env: added variables;
    cwd: another folder to run in, as a user's own checkout, the script still the repository's)."""
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", **(env or {}))
    script, *rest = map(str, args)
    if Path(cwd) != REPO and not Path(script).is_absolute():
        script = str(REPO / script)
    result = subprocess.run([sys.executable, script, *rest], cwd=cwd, input=stdin, capture_output=True,
                            text=True, env=env, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray instance of 2 CPUs, started by this process, for the Ray tests: yields the address that the
    scripts' --address joins (they run as a user runs them, against a cluster); shut down at the end."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


ENGINE_QUESTIONS = ["hi", "where is teh eiffel tower", "wat time does teh bank open on sundays and holidays pls",
                    "can i not pay by card", "um when does the store on 5th street open", "ok",
                    "sorry dumb question but how long to boil an egg"]


@pytest.fixture(scope="session")
def prompts(tokenizer):
    """The prompt token ids of ENGINE_QUESTIONS, as the engines get them."""
    from qrewrite.prompt import plain_token_ids, prompt_token_ids

    return [prompt_token_ids(tokenizer, plain_token_ids(tokenizer, q)) for q in ENGINE_QUESTIONS]


def forward_mean(model, prompt, ids):
    """The mean log-prob fp32 gives `ids` after `prompt`: a forward pass over both."""
    with torch.no_grad():
        logits = model(torch.tensor([prompt + ids])).logits[0, len(prompt) - 1:-1]
    return torch.log_softmax(logits, -1).gather(1, torch.tensor(ids)[:, None]).mean().item()
