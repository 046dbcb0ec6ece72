"""Engines: batched decoding equals one-at-a-time decoding, stop ids and bounds hold, int8 tracks fp32."""
import pytest

from conftest import forward_mean
from qrewrite.engines import CTranslate2Engine, TorchEngine, open_engine
from quantize import export_converted_dir, quantize


@pytest.fixture(scope="module")
def ct2_dir(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8")
    quantize(str(tiny_model_dir), out)
    return out


@pytest.fixture(scope="module")
def open_int8(ct2_dir):
    return lambda batch_size: CTranslate2Engine(ct2_dir, batch_size=batch_size)


def new_ids(engine, prompts, limits, stop_ids=()):
    return [beams[0][0] for beams in engine.generate(prompts, limits, set(stop_ids))]


def test_batched_equals_one_at_a_time(open_int8, prompts):
    # More prompts than the batch size, of mixed lengths: each batch is padded and decoded together.
    limits = [12, 20, 7, 20, 15, 20, 9]
    one_at_a_time = new_ids(open_int8(1), prompts, limits)
    assert new_ids(open_int8(3), prompts, limits) == one_at_a_time
    assert [len(ids) for ids in one_at_a_time] == limits  # a random model rarely stops: each runs to its bound


def test_stop_ids_and_bounds(open_int8, prompts):
    engine = open_int8(3)
    free = new_ids(engine, prompts, [20] * len(prompts))
    stop = free[1][4]  # a token the second prompt generates: its output ends right before it
    stopped = new_ids(engine, prompts, [20] * len(prompts), {stop})
    for ids, stopped_ids in zip(free, stopped):
        cut = ids.index(stop) if stop in ids else len(ids)
        assert stopped_ids == ids[:cut]
    assert stopped[1] == free[1][:free[1].index(stop)] and len(stopped[1]) <= 4
    assert new_ids(engine, prompts, [3] * len(prompts)) == [ids[:3] for ids in free]


def test_int8_greedy_tracks_fp32(tiny_model_dir, ct2_dir, prompts):
    limits = [10] * len(prompts)
    fp32 = new_ids(TorchEngine(str(tiny_model_dir), batch_size=4, device="cpu"), prompts, limits)
    int8 = new_ids(CTranslate2Engine(ct2_dir, batch_size=4), prompts, limits)
    # Per-row int8 rounding may flip a near-tie of the random model late in a sequence, not from the start.
    assert sum(a[:3] == b[:3] for a, b in zip(fp32, int8)) >= len(prompts) - 1


@pytest.mark.parametrize("beams", [1, 3])
def test_static_prompt_changes_nothing(open_int8, prompts, beams):
    """The prefix every prompt shares goes to CTranslate2 once, as its cached static prompt: same outputs."""
    engine = open_int8(3)
    assert engine.prompt_prefix and all(p[:len(engine.prompt_prefix)] == engine.prompt_prefix for p in prompts)
    assert "static_prompt" in engine.split_static_prompt(prompts)
    limits = [12] * len(prompts)
    with_prefix = [engine.generate(prompts, limits, set(), beams) for _ in range(2)]  # the second: from the cache
    engine.prompt_prefix = []
    assert "static_prompt" not in engine.split_static_prompt(prompts)
    whole = engine.generate(prompts, limits, set(), beams)
    for cached in with_prefix:
        assert [[ids for ids, _ in c] for c in cached] == [[ids for ids, _ in w] for w in whole]
    # a prompt that does not start with the prefix goes whole, with the others of its call
    engine.prompt_prefix = prompts[0][:3] + [prompts[0][3] + 1]
    assert "static_prompt" not in engine.split_static_prompt(prompts)


def test_a_greedy_output_carries_its_mean_token_log_prob(tiny_model_dir, open_int8, prompts):
    """The confidence of a rewrite comes from this score: for greedy decoding, the mean log-probability of the
    tokens generated, the stop token included (as beam search scores its candidates). Checked against a forward
    pass of the fp32 model over the prompt and the output; int8 close to it."""
    import torch

    fp32 = TorchEngine(str(tiny_model_dir), batch_size=3, device="cpu")
    limits, stop = [6] * len(prompts), {int(fp32.tokenizer.convert_tokens_to_ids("<|im_end|>"))}
    found = fp32.generate(prompts, limits, stop)
    for prompt, ((ids, score),) in zip(prompts, found):
        with torch.no_grad():
            logits = fp32.model(torch.tensor([prompt + ids])).logits[0, len(prompt) - 1:-1]
        expected = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids)[:, None]).mean().item()
        assert score == pytest.approx(expected, abs=1e-4) and score < 0
    int8 = open_int8(3).generate(prompts, limits, stop)
    assert [c[0][1] for c in int8] == pytest.approx([c[0][1] for c in found], rel=0.02)  # a mean, not a sum


@pytest.mark.parametrize("kind", ["openvino", "onnx"])
def test_qwen2_converts_with_its_biases(tiny_qwen2_dir, prompts, tmp_path, kind):
    """Another architecture (Qwen2: untied, biased query, key and value projections) through the openvino trace and
    the onnx builder."""
    converted = open_engine(str(export_converted_dir(kind, str(tiny_qwen2_dir), tmp_path / kind)))
    fp32 = TorchEngine(str(tiny_qwen2_dir), batch_size=4, device="cpu")
    limits = [6] * len(prompts)
    ours, reference = ([c[0] for c in engine.generate(prompts, limits, set())] for engine in (converted, fp32))
    assert converted.name == kind
    assert sum(a[0][:3] == b[0][:3] for a, b in zip(ours, reference)) >= len(prompts) - 1
    for prompt, (ids, score) in zip(prompts, ours):
        assert score == pytest.approx(forward_mean(fp32.model, prompt, ids), abs=0.02)
