"""int8 export (CTranslate2): it must compute what the fp32 model computes, for Llama and Qwen2, and load like
any model in the Rewriter."""
import numpy as np
import pytest
import torch

from qrewrite.modeling import ModelError, load_model
from qrewrite.prompt import plain_token_ids, prompt_token_ids
from qrewrite.rewriter import Rewriter
from quantize import quantize

QUESTION = "hey waht is teh capital of frnace? thx"


@pytest.fixture(scope="module")
def int8_dir(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8")
    quantize(str(tiny_model_dir), out)
    return out


def logits_fp32_and_int8(model_dir, int8_dir, tokenizer):
    import ctranslate2

    model, _ = load_model(str(model_dir), device="cpu", dtype=torch.float32)
    ids = prompt_token_ids(tokenizer, plain_token_ids(tokenizer, QUESTION))
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits[0].numpy()
    generator = ctranslate2.Generator(str(int8_dir), compute_type="int8")
    got = np.asarray(generator.forward_batch([tokenizer.convert_ids_to_tokens(ids)]))[0]
    return expected, got


def test_int8_logits_match_fp32(tiny_model_dir, int8_dir, tokenizer):
    expected, got = logits_fp32_and_int8(tiny_model_dir, int8_dir, tokenizer)
    # Wrong weights or rotary layout would decorrelate these; int8 rounding alone keeps them close.
    assert np.corrcoef(expected.ravel(), got.ravel())[0, 1] > 0.99
    assert (expected.argmax(-1) == got.argmax(-1)).mean() > 0.9


def test_qwen2_goes_through_quantize_and_rewriter(tiny_qwen2_dir, tmp_path, tokenizer):
    quantize(str(tiny_qwen2_dir), tmp_path)
    expected, got = logits_fp32_and_int8(tiny_qwen2_dir, tmp_path, tokenizer)
    assert np.corrcoef(expected.ravel(), got.ravel())[0, 1] > 0.99  # the q/k/v biases were carried over
    rewriter = Rewriter(str(tmp_path), batch_size=2)
    assert rewriter.backend == "int8"
    records = rewriter.rewrite_records([QUESTION, "", "how do i reset my pasword pls"])
    assert records[1]["rewrite"] == "" and all(r["rewrite"] in (r["input"], r["raw"]) for r in records)


def test_int8_model_loads_in_rewriter(tiny_model_dir, int8_dir):
    rewriter = Rewriter(str(int8_dir))
    assert rewriter.backend == "int8"
    records = rewriter.rewrite_records(["hi waht is teh capital of frnace", ""])
    assert records[1]["rewrite"] == "" and records[0]["rewrite"] in (records[0]["input"], records[0]["raw"])
    assert (int8_dir / "model.bin").stat().st_size < 0.5 * (tiny_model_dir / "model.safetensors").stat().st_size


def test_int8_beam_search_gives_each_question_its_own_beams(int8_dir):
    questions = ["where is teh eiffel tower", "wat time does teh bank open"]
    batched = Rewriter(str(int8_dir), batch_size=2, beams=3)
    one_by_one = Rewriter(str(int8_dir), batch_size=1, beams=3)
    outputs = batched.generate(questions)
    assert outputs == one_by_one.generate(questions) and outputs[0] != outputs[1]


def test_corrupt_int8_model_is_one_line_error(int8_dir, tmp_path):
    broken = tmp_path / "broken-int8"
    broken.mkdir()
    for f in int8_dir.iterdir():
        if f.is_file():
            (broken / f.name).write_bytes(f.read_bytes()[:1000] if f.name == "model.bin" else f.read_bytes())
    with pytest.raises(ModelError) as err:
        Rewriter(str(broken))
    assert "\n" not in str(err.value) and "broken-int8" in str(err.value)
