"""The int8 engine's settings for the CPU it runs on: CTranslate2's matrix-multiply backend and compute type from
what bench_engines.py measured fastest on that vendor's CPUs (the figures per CPU are in docs/results.md), and the
thread layout measured on this very CPU at the first load (qrewrite/layouts.py).

CTranslate2 picks its int8 backend by CPU vendor (Intel MKL on GenuineIntel, oneDNN elsewhere; MKL on AMD is
more than ten times slower). The fastest thread layout (workers x threads a worker) differs even between two
machines of one CPU model, so it is not in the table. `--engine-settings` overrides either.
"""
import os
import platform
from pathlib import Path

# vendor -> settings; a vendor not listed gets DEFAULT_SETTINGS
MEASURED = {
    "GenuineIntel": {"backend": "mkl", "compute_type": "int8"},
    "AuthenticAMD": {"backend": "onednn", "compute_type": "int8"},
}
DEFAULT_SETTINGS = {"backend": None, "compute_type": "int8"}
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
BACKENDS = {"mkl": "1", "onednn": "0"}  # CT2_USE_MKL; None leaves CTranslate2 its own choice (by vendor)


def cpuinfo(field):
    """A field of /proc/cpuinfo ("vendor_id", "model name"), or None off Linux."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_vendor():
    """GenuineIntel, AuthenticAMD, ... (the platform's processor name off Linux)."""
    return cpuinfo("vendor_id") or platform.processor() or "unknown"


def cpu_name():
    """The CPU's model name, for the line a script prints about its choice."""
    return cpuinfo("model name") or platform.processor() or "unknown CPU"


def cpu_flags():
    """The CPU's instruction-set flags from /proc/cpuinfo ("avx2", "avx512_bf16", ...); empty off Linux."""
    return (cpuinfo("flags") or "").split()


def cpu_line():
    """The CPU's model name and which of the instruction sets that set int8 speed it has, e.g. "AMD EPYC (avx2 yes,
    avx512f no, ...)": the first line of every benchmark table, since the same engine is another on each CPU."""
    flags = cpu_flags()
    listed = ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in SPEED_FLAGS)
    return f"{cpu_name()} ({listed if flags else 'flags unknown'})"


def has_bf16_instructions():
    """Whether the CPU multiplies bf16 in hardware (AVX512-BF16 or AMX-BF16): without either, bf16 autocast is
    emulated and far slower than fp32 (docs/results.md)."""
    flags = cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def fastest_engine():
    """The engine measured fastest both alone and in batches on this kind of CPU, and why: "openvino" where the CPU
    multiplies bf16 (OpenVINO then computes in bf16; measured on an AMD EPYC Zen 4), else "int8" (on AVX2 alone the
    int8 engine is the faster one in batches; docs/design.md)."""
    if has_bf16_instructions():
        return "openvino", "faster than the int8 engine alone and in batches on CPUs with bf16 instructions"
    return "int8", "the faster engine in batches on CPUs without bf16 instructions"


def fastest_alone():
    """The engine measured fastest for one question alone on this kind of CPU where that is another than
    fastest_engine's, and why; (None, None) where no other was measured faster. "onnx" on AMD: ONNX Runtime GenAI
    beat every other engine alone on an AMD EPYC Zen 3 and Zen 4 (docs/results.md); Intel is not measured yet."""
    if cpu_vendor() == "AuthenticAMD":
        return "onnx", "the fastest engine for one question alone on AMD CPUs"
    return None, None


def cpu_heading():
    """The line a benchmark table opens with: "CPU: <cpu_line()>; <N> CPUs"."""
    return f"CPU: {cpu_line()}; {os.cpu_count()} CPUs"


def parse_settings(text):
    """'auto', or KEY=VALUE pairs separated by commas (backend=mkl|onednn, compute_type=..., workers=N,
    threads=N), each overriding the measured choice; raises ValueError naming the bad part."""
    if text in (None, "", "auto"):
        return {}
    settings = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if key == "backend" and value in BACKENDS:
            settings[key] = value
        elif key == "compute_type" and value:
            settings[key] = value
        elif key in ("workers", "threads") and value.isdigit() and int(value) > 0:
            settings[key] = int(value)
        else:
            raise ValueError(f"'{part}': expected backend=mkl|onednn, compute_type=NAME, workers=N or threads=N")
    return settings


def choose(cores, override=None):
    """The backend and compute type for this CPU, and why; "workers" and "threads" are None (to be measured:
    layouts.layout_for) unless the override sets either (the other then fills the `cores` threads)."""
    vendor = cpu_vendor()
    measured = MEASURED.get(vendor)
    settings = {**(measured or DEFAULT_SETTINGS), "workers": None, "threads": None, **(override or {})}
    if settings["workers"] and not settings["threads"]:
        settings["threads"] = max(1, cores // settings["workers"])
    elif settings["threads"] and not settings["workers"]:
        settings["workers"] = max(1, cores // settings["threads"])
    why = f"measured fastest on {vendor}" if measured else f"no measurement for {vendor}: CTranslate2's defaults"
    return settings, "set by --engine-settings" if override else why


def set_backend(settings):
    """Sets CT2_USE_MKL before ctranslate2 is loaded (it reads it once); a CT2_USE_MKL the user exported wins,
    and the settings then say so."""
    if "CT2_USE_MKL" in os.environ:
        exported = os.environ["CT2_USE_MKL"]
        settings["backend"] = "mkl" if exported in ("1", "ON", "on", "true") else "onednn"
    elif settings["backend"]:
        os.environ["CT2_USE_MKL"] = BACKENDS[settings["backend"]]
    return settings


def describe(settings, why, layout_why=None):
    """The line a script prints about the int8 engine: backend and compute type (why), layout (layout_why)."""
    backend = {"mkl": "Intel MKL", "onednn": "oneDNN", None: "CTranslate2's own"}[settings["backend"]]
    layout = f"{settings['workers']} worker(s) x {settings['threads']} thread(s)"
    engine = f"int8 engine on {cpu_name()}: CTranslate2 {settings['compute_type']}, {backend} backend"
    if layout_why in (None, why):
        return f"{engine}, {layout} ({why})"
    return f"{engine} ({why}), {layout} ({layout_why})"
