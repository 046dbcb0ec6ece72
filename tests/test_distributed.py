"""Training under several processes: two gloo processes on the CPU stand in for two GPUs.

finetune.py runs as two processes under torchrun and under `accelerate launch --config_file
configs/accelerate_ddp.yaml`. Each process must train on its half of every batch, and the main process alone must
write what a run leaves behind. Who writes what is recorded by a Python audit hook (sys.addaudithook) that a
sitecustomize.py on PYTHONPATH installs in every process of the run.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import PAIRS, REPO, run_script

pytestmark = pytest.mark.slow  # trains, converts or starts a server

TORCHRUN = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
EPOCHS = 3
# Records every file a process opens for writing (from Python), renames, creates or removes under WRITES_WATCHED,
# one line per event, "rank<TAB>event<TAB>path..." in WRITES_LOG/<pid>.log.
AUDIT_HOOK = """
import os, sys
WATCHED, RANK = os.environ["WRITES_WATCHED"], os.environ.get("RANK", "-")
LOG = os.open(os.path.join(os.environ["WRITES_LOG"], f"{os.getpid()}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT
PATH_EVENTS = {"os.rename": 2, "os.mkdir": 1, "os.remove": 1, "shutil.rmtree": 1, "tempfile.mkdtemp": 1}

def record(event, args):
    if event == "open":
        path, mode, flags = args
        if not (set(mode or "") & set("wax+") or (mode is None and flags & WRITING)):
            return
        paths = [path]
    elif event in PATH_EVENTS:
        paths = list(args[:PATH_EVENTS[event]])
    else:
        return
    paths = [os.fsdecode(p) for p in paths if isinstance(p, (str, bytes, os.PathLike))]
    if any(p.startswith(WATCHED) for p in paths):
        os.write(LOG, "\\t".join([RANK, event, *paths]).encode() + b"\\n")

sys.addaudithook(record)
"""


def audited(tmp_path, watched):
    """Environment for a launch whose writes under `watched` are recorded; returns (env, log folder)."""
    hook, log = tmp_path / "hook", tmp_path / "writes"
    hook.mkdir()
    log.mkdir()
    (hook / "sitecustomize.py").write_text(AUDIT_HOOK)
    path = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path, "WRITES_WATCHED": str(watched), "WRITES_LOG": str(log)}, log


def recorded_writes(log):
    return [line.split("\t") for f in sorted(log.glob("*.log")) for line in f.read_text().splitlines()]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """24 training pairs (12 batches of 2 on one process) and 2 validation pairs, through datamod.py."""
    ws = tmp_path_factory.mktemp("ws")
    train = [{"input": f"{i} (order {n})", "output": f"{o} (Order {n})"} for n in range(4) for i, o in PAIRS[:6]]
    (ws / "train.json").write_text(json.dumps(train))
    (ws / "valid.json").write_text(json.dumps([{"input": i, "output": o} for i, o in PAIRS[6:]]))
    run_script("datamod.py", "--train", ws / "train.json", "--valid", ws / "valid.json", "--out", ws / "processed")
    return ws


def finetune_args(workspace, model_dir, epochs=EPOCHS):
    return ["finetune.py", "--data", workspace / "processed", "--model", model_dir, "--method", "full",
            "--batch-size", "2", "--lr", "1e-3", "--epochs", str(epochs)]


@pytest.fixture(scope="module")
def two_processes(workspace, tiny_model_dir, tmp_path_factory):
    """One uninterrupted run of two processes under torchrun, its writes recorded."""
    env, log = audited(tmp_path_factory.mktemp("audit"), workspace)
    run, outputs = workspace / "run", workspace / "outputs"
    result = run_script(*TORCHRUN, *finetune_args(workspace, tiny_model_dir), "--out", run, "--reports", outputs,
                        env=env)
    return {"run": run, "outputs": outputs, "stdout": result.stdout, "writes": recorded_writes(log)}


def test_each_process_trains_on_half_of_every_batch(two_processes, workspace, tiny_model_dir, tmp_path):
    run_script(*finetune_args(workspace, tiny_model_dir, epochs=1), "--evals-per-epoch", "1", "--out", tmp_path / "one",
               "--reports", tmp_path / "one-out")
    one_process = json.loads((tmp_path / "one-out" / "finetune_full.json").read_text())
    assert one_process["processes"] == 1 and one_process["epochs"][1]["step"] == 12  # 24 pairs, batches of 2

    summary = json.loads((two_processes["outputs"] / "finetune_full.json").read_text())
    assert summary["processes"] == 2 and summary["global_batch_size"] == 4
    assert [row["step"] for row in summary["epochs"]] == [0, 6, 12, 18]  # half the steps: each took half a batch
    checkpoints = two_processes["run"] / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("checkpoint-*")) == ["checkpoint-12", "checkpoint-18",
                                                                        "checkpoint-6"]
    state = json.loads((checkpoints / "checkpoint-18" / "trainer_state.json").read_text())
    assert state["global_step"] == 18 and state["train_batch_size"] == 2


def test_the_main_process_alone_writes_the_results_once(two_processes, workspace):
    run, outputs, writes = two_processes["run"], two_processes["outputs"], two_processes["writes"]
    assert not list((workspace / "processed").rglob("cache-*"))  # tokenized in memory: datamod.py's folder untouched
    assert {rank for rank, *_ in writes} == {"0", "1"}  # the hook ran in both processes
    # The second process only makes each checkpoint's folder (the Trainer saves its RNG state there for --resume,
    # through torch.save's C++ writer, which the hook does not see): no staging folder, marker or output file.
    by_rank_1 = {(event, os.path.relpath(p, run)) for rank, event, *paths in writes if rank == "1" for p in paths}
    assert by_rank_1 == {("os.mkdir", f"checkpoints/checkpoint-{s}") for s in (6, 12, 18)}
    renamed_to = [Path(paths[1]) for rank, event, *paths in writes if event == "os.rename"]
    for name in ("finetune_full.json", "finetune_full.md", "finetune_full_loss.png"):
        assert renamed_to.count(outputs / name) == 1, name
    assert renamed_to.count(run / "best") == 1
    # Owner markers: the run folder, best/ (in its staging folder) and the outputs folder, one each.
    markers = [Path(p).parent.name.split(".tmp.")[0] for rank, event, p, *_ in writes
               if event == "open" and p.endswith(".qrewrite-owner.json")]
    assert sorted(markers) == [".best", "outputs", "run"]
    assert sorted(p.name for p in run.iterdir()) == [".qrewrite-owner.json", "best", "checkpoints"]  # no staging left
    assert sorted(p.name for p in outputs.iterdir()) == [".qrewrite-owner.json", "finetune_full.json",
                                                         "finetune_full.md", "finetune_full_loss.png"]
    assert two_processes["stdout"].count("loss on [bracketed] tokens only") == 1
    assert two_processes["stdout"].count("chosen epoch") == 1


def test_best_holds_the_epoch_the_table_marks(two_processes):
    run, outputs = two_processes["run"], two_processes["outputs"]
    summary = json.loads((outputs / "finetune_full.json").read_text())
    marked = [line for line in (outputs / "finetune_full.md").read_text().splitlines() if "**yes**" in line]
    assert len(marked) == 1
    epoch = int(marked[0].split("|")[1])
    assert summary["chosen_epoch"] == epoch
    assert summary["chosen_checkpoint"] == str(run / "checkpoints" / f"checkpoint-{6 * epoch}")
    chosen = next(row for row in summary["epochs"] if row["chosen"])
    assert chosen["valid_loss"] == min(row["valid_loss"] for row in summary["epochs"][1:])
    best = load_file(str(run / "best" / "model.safetensors"))
    kept = load_file(str(Path(summary["chosen_checkpoint"]) / "model.safetensors"))
    assert kept.keys() <= best.keys() and all(torch.equal(best[k], kept[k]) for k in kept)


def test_stopped_run_resumes_under_accelerate_launch(two_processes, workspace, tiny_model_dir, tmp_path):
    run, outputs = tmp_path / "run", tmp_path / "outputs"
    args = [*finetune_args(workspace, tiny_model_dir), "--out", run, "--reports", outputs]
    process = subprocess.Popen([sys.executable, *TORCHRUN, *map(str, args)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = run / "checkpoints" / "checkpoint-6"
    deadline = time.time() + 600
    while not ((first / "trainer_state.json").exists() and (first / "rng_state_1.pth").exists()) \
            and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)  # torchrun stops both workers
    assert process.wait() != 0 and not (run / "best").exists()  # it really stopped mid-run

    launch = ["-m", "accelerate.commands.launch", "--config_file", REPO / "configs" / "accelerate_ddp.yaml",
              "--main_process_port", str(free_port())]
    run_script(*launch, *args, "--resume")
    summary = json.loads((outputs / "finetune_full.json").read_text())
    assert summary["processes"] == 2 and [row["step"] for row in summary["epochs"]] == [0, 6, 12, 18]
    whole = load_file(str(two_processes["run"] / "best" / "model.safetensors"))
    resumed = load_file(str(run / "best" / "model.safetensors"))
    assert whole.keys() == resumed.keys() and all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_lora_under_fsdp_is_refused_before_anything_is_written(workspace, tiny_model_dir, tmp_path):
    result = run_script("finetune.py", "--data", workspace / "processed", "--model", tiny_model_dir, "--method",
                        "lora", "--out", tmp_path / "run", "--reports", tmp_path / "outputs",
                        env={"ACCELERATE_USE_FSDP": "true"}, check=False)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "configs/accelerate_ddp.yaml" in result.stderr and not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["accelerate_ddp.yaml", "accelerate_fsdp.yaml"])
def test_accelerate_config_launches_what_it_says(name, tiny_model_dir, tiny_qwen2_dir, monkeypatch):
    """Each config goes through accelerate's own launch path (file -> launch options -> the workers' environment);
    FSDP needs GPUs to run, so its plugin is built from that environment and asked what it would wrap."""
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.launch import prepare_multi_gpu_env
    from transformers import AutoModelForCausalLM

    path = str(REPO / "configs" / name)
    config = load_config_from_file(path)
    for key, value in config.fsdp_config.items():  # a misspelt key would be dropped silently by accelerate
        launch_command_parser().parse_args([f"--{key}", str(value), "finetune.py"])
    args, _, _ = _validate_launch_command(launch_command_parser().parse_args(["--config_file", path, "finetune.py"]))
    env = prepare_multi_gpu_env(args)
    fsdp = name == "accelerate_fsdp.yaml"
    assert args.num_processes == 2 and args.use_fsdp == fsdp and args.multi_gpu != fsdp
    assert env["ACCELERATE_MIXED_PRECISION"] == "no"  # finetune.py picks bf16 itself
    if not fsdp:
        return
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for model_dir, layer in ((tiny_model_dir, "LlamaDecoderLayer"), (tiny_qwen2_dir, "Qwen2DecoderLayer")):
        plugin = FullyShardedDataParallelPlugin()
        assert plugin.fsdp_version == 2 and plugin.state_dict_type.name == "FULL_STATE_DICT"
        plugin.set_auto_wrap_policy(AutoModelForCausalLM.from_pretrained(model_dir))
        assert [c.__name__ for c in plugin.auto_wrap_policy.keywords["transformer_layer_cls"]] == [layer]
