"""int8 export (GGUF Q8_0): llama.cpp must compute what the fp32 model computes, and load like any model."""
import numpy as np
import pytest
import torch

from qrewrite.modeling import ModelError, load_model
from qrewrite.prompt import plain_token_ids, prompt_token_ids
from qrewrite.rewriter import Rewriter
from quantize import GGUF_NAME, quantize


@pytest.fixture(scope="module")
def int8_dir(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8")
    quantize(str(tiny_model_dir), out)
    return out


def test_gguf_logits_match_fp32(tiny_model_dir, int8_dir, tokenizer):
    from llama_cpp import Llama

    model, _ = load_model(str(tiny_model_dir), device="cpu", dtype=torch.float32)
    ids = prompt_token_ids(tokenizer, plain_token_ids(tokenizer, "hey waht is teh capital of frnace? thx"))
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits[0].numpy()
    llama = Llama(model_path=str(int8_dir / GGUF_NAME), n_ctx=256, logits_all=True, verbose=False)
    llama.eval(ids)
    got = np.asarray(llama.scores[:len(ids)])
    # Wrong tensor names or rotary layout would decorrelate these; Q8_0 rounding alone keeps them close.
    assert np.corrcoef(expected.ravel(), got.ravel())[0, 1] > 0.99
    assert (expected.argmax(-1) == got.argmax(-1)).mean() > 0.9


def test_int8_model_loads_in_rewriter(tiny_model_dir, int8_dir):
    rewriter = Rewriter(str(int8_dir))
    assert rewriter.backend == "int8"
    records = rewriter.rewrite_records(["hi waht is teh capital of frnace", ""])
    assert records[1]["rewrite"] == "" and records[0]["rewrite"] in (records[0]["input"], records[0]["raw"])
    assert (int8_dir / GGUF_NAME).stat().st_size < 0.5 * (tiny_model_dir / "model.safetensors").stat().st_size
    with pytest.raises(ModelError, match="fp32 backend only"):
        Rewriter(str(int8_dir), beams=4)


def test_corrupt_gguf_is_one_line_error(int8_dir, tmp_path):
    broken = tmp_path / "broken-int8"
    broken.mkdir()
    for f in int8_dir.iterdir():
        (broken / f.name).write_bytes(f.read_bytes()[:1000] if f.name == GGUF_NAME else f.read_bytes())
    with pytest.raises(ModelError) as err:
        Rewriter(str(broken))
    assert "\n" not in str(err.value) and GGUF_NAME in str(err.value)
