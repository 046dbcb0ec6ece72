"""quantize.py --onnx: an fp32 model folder -> an ONNX Runtime GenAI folder (int8 weights in ONNX Runtime's
MatMulNBits) for the onnx engine (qrewrite/onnx_engine.py), written by ONNX Runtime GenAI's model builder (the `onnx`
extra: onnxruntime-genai, onnx, onnx-ir), run in a process of its own.
"""
import subprocess
import sys
import tempfile
from pathlib import Path

from qrewrite.errors import ModelError

GENAI_CONFIG, MODEL_ONNX, MODEL_DATA = "genai_config.json", "model.onnx", "model.onnx.data"
BUILDER = "onnxruntime_genai.models.builder"


def export_onnx(model_dir, staged):
    """Writes into `staged` (a new folder) the int8 ONNX model, genai_config.json and the tokenizer files, with ONNX
    Runtime GenAI's model builder (it loads the fp32 folder's safetensors with transformers; no remote code)."""
    if not Path(model_dir).is_dir() or not any(Path(model_dir).glob("*.safetensors")):
        raise ModelError(f"--onnx: {model_dir} is not a local folder of safetensors weights; pass finetune.py's "
                         "best/ folder")
    with tempfile.TemporaryDirectory(prefix="onnx-builder-cache.") as cache:
        done = subprocess.run([sys.executable, "-m", BUILDER, "-i", str(Path(model_dir).resolve()), "-o",
                               str(Path(staged).resolve()), "-p", "int8", "-e", "cpu", "-c", cache,
                               "--extra_options", "hf_remote=false"], capture_output=True, text=True)
    if done.returncode != 0 or not (Path(staged) / GENAI_CONFIG).is_file():
        last = ((done.stderr or done.stdout).strip().splitlines() or ["no output"])[-1]
        raise ModelError(f"--onnx: ONNX Runtime GenAI's builder cannot convert {model_dir} ({last[:200]})")
