"""Activation smoothing before int8 (qrewrite/smoothing.py): exact in float, closer to fp32 once in int8."""
import numpy as np
import pytest
import torch

from qrewrite.modeling import load_model
from qrewrite.prompt import plain_token_ids, prompt_token_ids, training_example
from qrewrite.smoothing import smooth
from quantize import quantize

from conftest import PAIRS

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


def test_smoothing_brings_int8_closer_to_fp32_with_an_outlier_channel(tiny_model_dir, tokenizer, tmp_path):
    """A model whose norms make a few channels 100x larger than the rest (as trained models have): per-token int8
    activations lose the small channels, unless smoothing moved the outliers into the weights."""
    import ctranslate2

    model, _ = load_model(str(tiny_model_dir), device="cpu", dtype=torch.float32)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.input_layernorm.weight[:3] *= 100
            layer.post_attention_layernorm.weight[:3] *= 100
    outlier_dir = tmp_path / "outliers"
    model.save_pretrained(outlier_dir)
    tokenizer.save_pretrained(outlier_dir)
    expected = fp32_logits(model, tokenizer)
    errors = {}
    for name, examples in (("plain", None), ("smoothed", calibration(tokenizer))):
        assert quantize(str(outlier_dir), tmp_path / name, examples) == (examples is not None)
        generator = ctranslate2.Generator(str(tmp_path / name), compute_type="int8")
        got = [np.asarray(generator.forward_batch([tokenizer.convert_ids_to_tokens(ids)]))[0]
               for ids in prompts(tokenizer)]
        errors[name] = np.mean([np.abs(g - e).mean() for g, e in zip(got, expected)])
    # measured: 0.0143 plain, 0.0064 smoothed (0.0018 both without the outliers)
    assert errors["smoothed"] < 0.6 * errors["plain"], errors
