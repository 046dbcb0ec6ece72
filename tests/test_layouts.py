"""The int8 engine's thread layout, measured once on this CPU at load and cached beside the int8 model
(qrewrite/layouts.py)."""
import json
import shutil

import pytest
import torch

from qrewrite import cpu, layouts
from qrewrite.engines import SplitByBatch, open_engine
from qrewrite.rewriter import Rewriter
from quantize import quantize


@pytest.fixture(autouse=True)
def two_threads():
    """Two threads, whatever an earlier test in the process left torch with: the layouts are those of 2."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_candidates_use_every_thread():
    assert layouts.candidates(1) == [(1, 1)]
    assert layouts.candidates(2) == [(2, 1), (1, 2)]
    twelve = layouts.candidates(12)
    assert len(twelve) == 4 and (12, 1) in twelve and (1, 12) in twelve
    assert all(w * t == 12 for w, t in twelve)


def test_the_pick_follows_the_regime_the_engine_serves():
    timings = {"2x1": {"alone_s": 0.6, "batch_s": 1.7}, "1x2": {"alone_s": 0.3, "batch_s": 1.8}}
    assert layouts.pick(timings) == (1, 2)  # 2.1 s against 2.3 s for a lone question plus a batch
    assert layouts.pick(timings, batches_only=True) == (2, 1)


@pytest.fixture(scope="module")
def int8_source(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8")
    quantize(str(tiny_model_dir), out)
    return out


@pytest.fixture
def int8_model(int8_source, tmp_path):
    return shutil.copytree(int8_source, tmp_path / "int8")


def fake_timings(fastest):
    """A measure() whose layout `fastest` is the faster one, counting its calls."""
    def measure(engine):
        measure.calls += 1
        layout = f"{engine.settings['workers']}x{engine.settings['threads']}"
        return {"alone_s": 0.1, "batch_s": 1.0 if layout == fastest else 2.0}
    measure.calls = 0
    return measure


def test_measured_once_then_read_from_the_cache(int8_model, monkeypatch, capsys):
    engine = open_engine(int8_model, backend="int8")  # the real measurement, on the tiny model
    cache = json.loads((int8_model / layouts.CACHE_NAME).read_text())
    (key, timings), = cache.items()
    assert cpu.cpu_line() in key and set(timings) == {f"{w}x{t}" for w, t in layouts.candidates(2)}
    assert all(t["alone_s"] > 0 and t["batch_s"] > 0 for t in timings.values())
    workers, threads = layouts.pick(timings)
    assert (engine.settings["workers"], engine.settings["threads"]) == (workers, threads)
    assert "measuring the int8 engine's thread layouts" in capsys.readouterr().err

    measure = fake_timings("1x2")
    monkeypatch.setattr(layouts, "measure", measure)
    again = open_engine(int8_model, backend="int8")
    assert measure.calls == 0 and again.settings["workers"] == workers  # the cache, not a new measurement
    assert "measured fastest here" in again.choice and "measuring" not in capsys.readouterr().err

    monkeypatch.setattr(cpu, "cpu_line", lambda: "Another CPU (flags unknown)")
    elsewhere = open_engine(int8_model, backend="int8")
    assert measure.calls == 2 and (elsewhere.settings["workers"], elsewhere.settings["threads"]) == (1, 2)
    assert len(json.loads((int8_model / layouts.CACHE_NAME).read_text())) == 2  # both CPUs kept


def test_an_override_skips_the_measurement(int8_model, monkeypatch):
    measure = fake_timings("1x2")
    monkeypatch.setattr(layouts, "measure", measure)
    engine = open_engine(int8_model, backend="int8", engine_settings={"workers": 2})
    assert measure.calls == 0 and (engine.settings["workers"], engine.settings["threads"]) == (2, 1)
    assert not (int8_model / layouts.CACHE_NAME).exists()
    assert torch.get_num_threads() == 2  # CTranslate2 set the calling thread's to 1; the engine puts it back


def test_a_bad_cache_is_measured_again_and_a_link_is_never_written(int8_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(layouts, "measure", fake_timings("2x1"))
    cache = int8_model / layouts.CACHE_NAME
    cache.write_text("{not json")
    assert open_engine(int8_model, backend="int8").settings["workers"] == 2
    assert len(json.loads(cache.read_text())) == 1

    cache.unlink()
    elsewhere = tmp_path / "users-file.json"
    elsewhere.write_text("theirs")
    cache.symlink_to(elsewhere)
    monkeypatch.setattr(layouts, "measure", fake_timings("1x2"))
    engine = open_engine(int8_model, backend="int8")
    assert (engine.settings["workers"], engine.settings["threads"]) == (1, 2)
    assert elsewhere.read_text() == "theirs" and cache.is_symlink()
    assert "not cached:" in capsys.readouterr().err


class CountingEngine:
    name, beam_search, batch_size, folder, choice = "fake", True, 8, None, "fake"

    def __init__(self, tokenizer):
        self.tokenizer, self.calls = tokenizer, []

    def generate(self, prompts, max_new_tokens, stop_ids, beams=1, progress=None):
        self.calls.append(len(prompts))
        return [[(self.tokenizer("What is it?", add_special_tokens=False).input_ids, -0.1)] for _ in prompts]


def test_warm_up_runs_every_engine_the_rewriter_holds(tokenizer):
    alone, batched = CountingEngine(tokenizer), CountingEngine(tokenizer)
    Rewriter(engine=SplitByBatch(alone, batched)).warm_up()
    assert alone.calls[0] == 1 and 2 in batched.calls
    single = CountingEngine(tokenizer)
    Rewriter(engine=single).warm_up()
    assert single.calls and all(n == 1 for n in single.calls)  # one engine: no batch needed
