"""The run layout (which folder holds what) and the rules every script follows when it writes there.

    dataset/                  the shipped JSON pairs and their generator: read, never written by the scripts
    data/<name>/              datamod.py's DatasetDict: data/processed by default, data/quick for the quick preset
    weights/base/<name>/      the embedded default model, converted once
    weights/<run>/            finetune.py's run (<run> is the method by default: full, lora; quick for the preset):
        checkpoints/          one per epoch
        best/                 the chosen epoch
        int8/                 quantize.py's int8 model of best/ (and engine_layouts.json: the thread layouts
                              measured per CPU when the engine first loads there, qrewrite/layouts.py)
        openvino/             quantize.py --openvino's OpenVINO model of best/ (int8 weights)
    outputs/<run>/            the run's reports: finetune's table and loss curve, score.py's metrics.json and
                              *_io.json for best/, quantize.json
    outputs/<run>/int8/       score.py's reports for the int8 model (outputs/<run>/openvino/: the OpenVINO one)

Runs never share a folder, so one run's files cannot block another's. The rules: a script writes only what
it owns. A folder it may fill or replace is new, empty, or marked by the same script (OWNER_FILE); anything
else is refused with one line naming the path and the fix. It never writes through a symbolic link or over
something that is not a regular file, never writes over one of its own inputs, and checks all its inputs
before it deletes or replaces anything.
"""
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from qrewrite.errors import OutputError

PROCESSED_DATA = "data/processed"
DEFAULT_MODEL = "weights/base/smollm2-135m-instruct"
REPORTS_ROOT = "outputs"
REPORTS_OWNER = "qrewrite"  # the outputs folder is shared by all the scripts
OWNER_FILE = ".qrewrite-owner.json"  # {"written_by": script, "files": {name: sha256}} in every folder we own
IGNORED = {OWNER_FILE, ".gitkeep"}


def run_dir(method):
    """finetune.py's folder for one method: checkpoints/ and best/ inside."""
    return Path("weights") / method


def trained_model(method="full"):
    return run_dir(method) / "best"


def int8_dir_for(model_dir):
    """Where quantize.py writes the int8 model of an fp32 folder: weights/full/best -> weights/full/int8."""
    return Path(model_dir).parent / "int8"


def openvino_dir_for(model_dir):
    """Where quantize.py --openvino writes: weights/full/best -> weights/full/openvino."""
    return Path(model_dir).parent / "openvino"


def onnx_dir_for(model_dir):
    """Where quantize.py --onnx writes: weights/full/best -> weights/full/onnx."""
    return Path(model_dir).parent / "onnx"


CONVERTED_FOLDERS = ("int8", "openvino", "onnx")  # quantize.py's folders beside best/, one per engine


def run_name(model):
    """The run a model belongs to: weights/full/best and its int8, openvino and onnx folders -> "full"; any
    other folder or hub id is a run of its own, named by its last part (Qwen/Qwen2-0.5B -> "Qwen2-0.5B")."""
    path = Path(model)
    return path.parent.name if path.name in ("best", *CONVERTED_FOLDERS) and path.parent.name else path.name


def reports_dir_for(model, engine=None):
    """The default --reports folder for a model: outputs/<run>, or outputs/<run>/<engine> for the int8, openvino
    and onnx engines' models."""
    folder = Path(REPORTS_ROOT) / run_name(model)
    return folder / engine if engine in CONVERTED_FOLDERS else folder


def _same_or_inside(path, other):
    """True when `path` is `other` or a folder that holds it (so replacing `path` would destroy `other`)."""
    path, other = Path(path).resolve(), Path(other).resolve()
    return path == other or path in other.parents


def owner_of(folder):
    return marker_entry(folder, "written_by")


def marker_entry(folder, key):
    """An entry of a folder's owner marker ("written_by", quantize.py's "converted_from"), or None."""
    marker = Path(folder) / OWNER_FILE
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError, AttributeError):
        return None


def link_or_other(path, folder=False):
    """Whether `path` is a symbolic link, or exists as something other than a regular file (a folder, with
    folder=True): a path no script writes through or over."""
    path = Path(path)
    return path.is_symlink() or (path.exists() and not (path.is_dir() if folder else path.is_file()))


def check_output_dir(path, owner, inputs=(), flag="--out"):
    """Refuses an output folder that `owner` may not fill or replace; returns it as a Path."""
    path = Path(path)
    for source in inputs:
        if _same_or_inside(path, source):
            raise OutputError(f"{flag} {path}: holds the input {source}, which writing there would destroy; "
                              "pass a new folder")
    if path.is_symlink():
        raise OutputError(f"{flag} {path}: is a symbolic link; pass a real folder")
    if path.exists() and not path.is_dir():
        raise OutputError(f"{flag} {path}: exists and is not a folder; pass a new folder name")
    if path.is_dir():
        found = owner_of(path)
        entries = [p for p in path.iterdir() if p.name not in IGNORED]
        if found is None and entries:
            raise OutputError(f"{flag} {path}: holds files not written by {owner}; pass a new or empty folder "
                              "(nothing there was changed)")
        if found is not None and found != owner:
            raise OutputError(f"{flag} {path}: was written by {found}, not {owner}; pass another folder")
    return path


def check_output_file(path, inputs=(), flag="--out"):
    """Refuses an output file that is a link, a folder, a device or pipe, one of the inputs, or unwritable."""
    path = Path(path)
    for source in inputs:
        if _same_or_inside(path, source):
            raise OutputError(f"{flag} {path}: is the input {source}; pass another output file")
    if path.is_symlink():
        raise OutputError(f"{flag} {path}: is a symbolic link; pass the path of a regular file")
    if path.exists() and not path.is_file():
        raise OutputError(f"{flag} {path}: is not a regular file (a folder, device or pipe); pass a file path")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {path}: {parent} is not a writable folder; pass a path you can write")
    return path


def check_reports_dir(path, names, inputs=(), flag="--reports"):
    """The folder for tables and metrics (shared by all the scripts) and the files a script will write there."""
    path = check_output_dir(path, REPORTS_OWNER, inputs, flag)
    for name in names:
        check_output_file(path / name, inputs, flag)
    return path


def open_reports_dir(path):
    """Creates and marks the outputs folder (after check_reports_dir), right before the first write; the folders
    above it that this makes are marked too, so that a later run may write its reports there."""
    path = Path(path)
    made = [folder for folder in (path, *path.parents) if not folder.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for folder in made:
        mark_dir(folder, REPORTS_OWNER)
    if owner_of(path) is None:
        mark_dir(path, REPORTS_OWNER)
    return path


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_digest(model):
    """One sha256 over a model folder's *.safetensors files, None for a hub id or a folder without them: quantize.py
    records it in each folder it converts ("converted_from"), so that two converted folders are known to hold one
    model."""
    files = sorted(Path(model).glob("*.safetensors")) if Path(model).is_dir() else []
    if not files:
        return None
    return hashlib.sha256(" ".join(f"{file.name}:{sha256(file)}" for file in files).encode()).hexdigest()


def mark_dir(folder, owner, hashed=(), about=None):
    """Writes the owner marker, with the sha256 of the named files so a corrupt copy is caught on load, and
    `about`'s entries."""
    folder = Path(folder)
    marker = {"written_by": owner, "files": {name: sha256(folder / name) for name in hashed}, **(about or {})}
    (folder / OWNER_FILE).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")


def verify_files(folder):
    """Checks the files a marker lists against their sha256; a folder without a marker is not checked."""
    marker = Path(folder) / OWNER_FILE
    if not marker.is_file():
        return
    try:
        written = json.loads(marker.read_text(encoding="utf-8"))
    except ValueError:
        raise OutputError(f"{marker}: not valid JSON; re-create the folder with the script that wrote it") from None
    for name, expected in written.get("files", {}).items():
        target = Path(folder) / name
        if not target.is_file() or sha256(target) != expected:
            raise OutputError(f"{target}: missing or changed since it was written (checksum differs); "
                              f"re-create it with {written.get('written_by', 'the script that wrote it')}")


def staging_dir(out):
    """A new folder beside `out` to write into before replace_dir swaps it in (readable by all, like a mkdir)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp."))
    staged.chmod(0o755)
    return staged


def replace_dir(staged, out, owner, hashed=(), about=None):
    """Marks `staged`, then swaps it in for `out`; `out` must have passed check_output_dir."""
    staged, out = Path(staged), Path(out)
    for file in staged.rglob("*"):
        if file.is_file():
            file.chmod(0o644)  # some writers leave owner-only files
    mark_dir(staged, owner, hashed, about)
    old = out.with_name(f".{out.name}.old.{os.getpid()}")
    if out.is_dir():
        os.replace(out, old)
    os.replace(staged, out)
    shutil.rmtree(old, ignore_errors=True)
    return out


def discard(staged):
    shutil.rmtree(staged, ignore_errors=True)
