"""int8 export (CTranslate2): it must compute what the fp32 model computes, for Llama and Qwen2, and load like
any model in the Rewriter."""
import numpy as np
import pytest
import torch

from qrewrite.errors import ModelError
from qrewrite.modeling import load_model
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


@pytest.mark.slow
def test_the_gguf_export_reads_back_as_the_same_q8_0_model(tiny_model_dir, tmp_path):
    """quantize.py --gguf, for llama.cpp and Ollama: read back with gguf's own reader, the header names the
    architecture and shape, every 2-D weight is Q8_0 and dequantizes to the fp32 weight it came from."""
    import gguf

    from quantize import GGUF_NAME, export_gguf_dir

    folder = export_gguf_dir(str(tiny_model_dir), tmp_path / "gguf")
    reader = gguf.GGUFReader(folder / GGUF_NAME)
    assert reader.fields["general.architecture"].contents() == "llama"
    assert reader.fields["llama.block_count"].contents() == 2
    assert reader.fields["llama.attention.head_count_kv"].contents() == 2
    tensors = {t.name: t for t in reader.tensors}
    assert "output.weight" not in tensors  # tied: llama.cpp reuses token_embd
    assert len(tensors) == 1 + 2 * 9 + 1  # embeddings, 9 a layer, the final norm
    model, _ = load_model(str(tiny_model_dir), device="cpu", dtype=torch.float32)
    state = model.state_dict()
    for gguf_name, hf_name in (("token_embd.weight", "model.embed_tokens.weight"),
                               ("blk.1.ffn_down.weight", "model.layers.1.mlp.down_proj.weight")):
        tensor = tensors[gguf_name]
        assert tensor.tensor_type == gguf.GGMLQuantizationType.Q8_0
        restored = gguf.quants.dequantize(tensor.data, tensor.tensor_type).reshape(state[hf_name].shape)
        original = state[hf_name].numpy()
        assert np.abs(restored - original).max() <= np.abs(original).max() / 127 + 1e-6
    assert tensors["output_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32


def test_the_gguf_export_refuses_other_architectures_in_one_line(tiny_qwen2_dir, tmp_path):
    from quantize import export_gguf_dir

    with pytest.raises(ModelError, match="convert_hf_to_gguf"):
        export_gguf_dir(str(tiny_qwen2_dir), tmp_path / "gguf")
    assert not (tmp_path / "gguf").exists()
