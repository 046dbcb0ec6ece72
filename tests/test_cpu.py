"""The int8 engine's settings chosen for the CPU at load (qrewrite/cpu.py), --engine-settings, and the line each
script prints about its choice."""
import os

import pytest

from conftest import run_script
from qrewrite import cpu
from quantize import quantize


def test_settings_parse_or_name_the_bad_part():
    assert cpu.parse_settings("auto") == {} and cpu.parse_settings(None) == {}
    assert cpu.parse_settings("workers=1, threads=2,compute_type=int8_float32,backend=onednn") == {
        "workers": 1, "threads": 2, "compute_type": "int8_float32", "backend": "onednn"}
    for bad in ("workers=0", "threads=two", "backend=openblas", "speed=fast", "workers"):
        with pytest.raises(ValueError, match=bad.split(",")[0]):
            cpu.parse_settings(bad)


@pytest.mark.parametrize("vendor, expected", [
    ("AuthenticAMD", ("onednn", "int8")),
    ("GenuineIntel", ("mkl", "int8")),
    ("CentaurHauls", (None, "int8")),
])
def test_the_table_picks_the_backend_by_vendor_and_leaves_the_layout_to_measure(monkeypatch, vendor, expected):
    monkeypatch.setattr(cpu, "cpu_vendor", lambda: vendor)
    settings, why = cpu.choose(cores=4)
    assert (settings["backend"], settings["compute_type"]) == expected and vendor in why
    assert settings["workers"] is None and settings["threads"] is None  # measured at load: qrewrite/layouts.py
    overridden, why = cpu.choose(cores=4, override={"workers": 2, "threads": 2})
    assert (overridden["workers"], overridden["threads"], why) == (2, 2, "set by --engine-settings")
    assert cpu.choose(cores=4, override={"workers": 4})[0]["threads"] == 1
    assert cpu.choose(cores=4, override={"threads": 4})[0]["workers"] == 1


def test_the_cpu_line_names_the_model_and_the_instruction_sets(monkeypatch):
    fields = {"model name": "Some Xeon", "flags": "fpu avx2 avx512f avx512_vnni"}
    monkeypatch.setattr(cpu, "cpuinfo", fields.get)
    assert cpu.cpu_line().startswith("Some Xeon (avx2 yes, avx512f yes, avx512_vnni yes, avx512_bf16 no, amx_tile no")
    monkeypatch.setattr(cpu, "cpuinfo", lambda field: None)  # off Linux: no /proc/cpuinfo
    assert cpu.cpu_line().endswith("(flags unknown)")


def test_bf16_autocast_only_where_the_cpu_multiplies_bf16(monkeypatch):
    from finetune import use_bf16_autocast

    for flags, expected in [("avx2 avx512f", False), ("avx512f avx512_bf16", True), ("amx_tile amx_bf16", True)]:
        monkeypatch.setattr(cpu, "cpuinfo", {"flags": flags}.get)
        assert cpu.has_bf16_instructions() is expected
        assert use_bf16_autocast("auto", on_gpu=False) is expected
        assert use_bf16_autocast("fp32", on_gpu=False) is False and use_bf16_autocast("bf16", on_gpu=False) is True


def test_an_exported_ct2_use_mkl_wins_and_is_reported(monkeypatch):
    monkeypatch.setenv("CT2_USE_MKL", "1")
    assert cpu.set_backend({"backend": "onednn"})["backend"] == "mkl"
    monkeypatch.delenv("CT2_USE_MKL")
    assert cpu.set_backend({"backend": "onednn"})["backend"] == "onednn"
    assert os.environ["CT2_USE_MKL"] == "0"


@pytest.fixture(scope="module")
def int8_model(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8")
    quantize(str(tiny_model_dir), out)
    return out


def test_infer_prints_the_choice_and_takes_an_override(int8_model):
    done = run_script("infer.py", "--model", str(int8_model), "--engine-settings", "workers=1,threads=2",
                      "hello there how are you")
    assert "int8 engine on" in done.stderr and "1 worker(s) x 2 thread(s) (set by --engine-settings)" in done.stderr
    done = run_script("infer.py", "--model", str(int8_model), "hello there how are you")
    why = "measured fastest" if cpu.cpu_vendor() in cpu.MEASURED else "no measurement"
    assert "int8 engine on" in done.stderr and why in done.stderr
    assert "measured fastest here for one question alone plus a batch of 16" in done.stderr
    bad = run_script("infer.py", "--model", str(int8_model), "--engine-settings", "workers=none", "hi", check=False)
    assert bad.returncode == 2 and "--engine-settings" in bad.stderr and "Traceback" not in bad.stderr
