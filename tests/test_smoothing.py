"""Activation smoothing before int8 (qrewrite/smoothing.py): exact in float, closer to fp32 once in int8."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import PAIRS
from qrewrite.modeling import load_model
from qrewrite.prompt import plain_token_ids, prompt_token_ids, training_example
from qrewrite.smoothing import smooth
from quantize import quantize

QUESTIONS = ["hey waht is teh capital of frnace? thx", "um when does the store on 5th street open"]


def calibration(tokenizer):
    return [training_example(tokenizer, {"input": i, "output": o})["input_ids"] for i, o in PAIRS]


def prompts(tokenizer):
    return [prompt_token_ids(tokenizer, plain_token_ids(tokenizer, q)) for q in QUESTIONS]


def fp32_logits(model, tokenizer):
    with torch.no_grad():
        return [model(torch.tensor([ids])).logits[0].numpy() for ids in prompts(tokenizer)]


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_qwen2_dir"])
def test_smoothing_leaves_the_float_model_as_it_was(fixture, request, tokenizer):
    model, _ = load_model(str(request.getfixturevalue(fixture)), device="cpu", dtype=torch.float32)
    before, embedding = fp32_logits(model, tokenizer), model.model.embed_tokens.weight.detach().clone()
    assert smooth(model, calibration(tokenizer))
    for old, new in zip(before, fp32_logits(model, tokenizer)):
        np.testing.assert_allclose(new, old, rtol=1e-4, atol=1e-4)
    assert torch.equal(model.model.embed_tokens.weight, embedding)  # the output layer was untied, not the input
    assert model.lm_head.weight is not model.model.embed_tokens.weight and not model.config.tie_word_embeddings


def test_an_unknown_architecture_is_left_alone(tiny_model_dir, tokenizer):
    model, _ = load_model(str(tiny_model_dir), device="cpu", dtype=torch.float32)
    model.config.model_type = "gemma"  # its norm adds 1 to the weight: folding a division into it would be wrong
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    assert not smooth(model, calibration(tokenizer))
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())


INT8_LOGITS = """
import json, sys
import ctranslate2, numpy as np
generator = ctranslate2.Generator(sys.argv[1], compute_type="int8")
tokens = json.loads(open(sys.argv[2]).read())
np.savez(sys.argv[3], *[np.asarray(generator.forward_batch([t]))[0] for t in tokens])
"""


def int8_logits_on_mkl(folder, tokens, tmp_path):
    """CTranslate2's int8 logits with its MKL backend, in a process of its own: CTranslate2 picks the backend by
    CPU vendor once a process (CT2_USE_MKL overrides it), and the other backends quantize differently."""
    (tmp_path / "tokens.json").write_text(json.dumps(tokens))
    subprocess.run([sys.executable, "-c", INT8_LOGITS, str(folder), str(tmp_path / "tokens.json"),
                    str(tmp_path / "logits.npz")], check=True, env=dict(os.environ, CT2_USE_MKL="1"))
    with np.load(tmp_path / "logits.npz") as saved:
        return [saved[f"arr_{i}"] for i in range(len(tokens))]


@pytest.mark.slow
def test_smoothing_brings_int8_closer_to_fp32_with_an_outlier_channel(tiny_model_dir, tokenizer, tmp_path):
    """A model whose norms make a few channels 100x larger than the rest (as trained models have): per-token int8
    activations lose the small channels, unless smoothing moved the outliers into the weights. Measured on
    MKL's int8 path on every CPU; the other backends' figures are in docs/results.md."""
    model, _ = load_model(str(tiny_model_dir), device="cpu", dtype=torch.float32)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.input_layernorm.weight[:3] *= 100
            layer.post_attention_layernorm.weight[:3] *= 100
    outlier_dir = tmp_path / "outliers"
    model.save_pretrained(outlier_dir)
    tokenizer.save_pretrained(outlier_dir)
    expected = fp32_logits(model, tokenizer)
    tokens = [tokenizer.convert_ids_to_tokens(ids) for ids in prompts(tokenizer)]
    errors = {}
    for name, examples in (("plain", None), ("smoothed", calibration(tokenizer))):
        assert quantize(str(outlier_dir), tmp_path / name, examples) == (examples is not None)
        got = int8_logits_on_mkl(tmp_path / name, tokens, tmp_path)
        errors[name] = np.mean([np.abs(g - e).mean() for g, e in zip(got, expected)])
    # measured: 0.0143 plain, 0.0064 smoothed (0.0018 both without the outliers)
    assert errors["smoothed"] < 0.6 * errors["plain"], errors
