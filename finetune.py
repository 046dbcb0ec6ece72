"""Step 2: fine-tune the base model to rewrite questions (full fine-tuning or LoRA).

Reads the DatasetDict written by datamod.py, turns each pair into token ids and the loss mask
(qrewrite.prompt.training_example: the prompt of build_messages, the user's text always plain text; the
loss falls on the rewrite tokens only), trains with TRL's SFTTrainer, evaluates the validation loss 4 times
in a run of one pass over the pairs (the default) or after each epoch, keeps a checkpoint at each as
safetensors and picks the one with the lowest validation loss. The chosen model is written to <out>/best (a
LoRA adapter is merged first, so it loads like any model); the table of evaluations goes to
<reports>/finetune_<method>.json and .md, the loss curve to <reports>/finetune_<method>_loss.png, where
<reports> is outputs/<run> (the run is <out>'s name: weights/full -> outputs/full).

    python finetune.py --method full                     # each pair once on data/processed -> weights/full/best
    python finetune.py --method full --recipe original --data data/v4   # the original work's 3 epochs
    python finetune.py --method lora                     # LoRA -> weights/lora/best (merged)
    python finetune.py --method full --resume            # continue an interrupted run from its last checkpoint
    accelerate launch --config_file configs/accelerate_ddp.yaml finetune.py --method full   # several GPUs
    torchrun --standalone --nproc_per_node 2 finetune.py --method full           # the same, without a config

--precision auto trains in bf16 mixed precision where the hardware multiplies bf16 (a GPU that has it; a CPU with
AVX512-BF16 or AMX) and in fp32 elsewhere, with no change to the code. Under several processes (one per GPU, or gloo
processes on a CPU) each process trains on its share of every batch: the global batch is
--batch-size x --grad-accum x processes, and the main process alone writes <out>/best, the table and the plot.
"""
import argparse
import logging
import math
import resource
import shutil
import time
from pathlib import Path

import torch

from qrewrite import cpu
from qrewrite.cli import ArgumentParser, fail, positive_float, positive_int
from qrewrite.data import write_json_atomic, write_text_atomic
from qrewrite.errors import DataError, ModelError, OutputError
from qrewrite.modeling import load_model, save_model_atomic
from qrewrite.paths import (
    DEFAULT_MODEL,
    PROCESSED_DATA,
    check_output_dir,
    check_reports_dir,
    link_or_other,
    mark_dir,
    open_reports_dir,
    reports_dir_for,
    run_dir,
)
from qrewrite.prompt import training_example
from qrewrite.training_report import epoch_table, markdown_table, plot_losses

OWNER = "finetune.py"

LORA_LR = 2e-4
# the schedules: each training pair seen once (the default), or the original work's 3 epochs at its learning rate
RECIPES = {"distinct": {"epochs": 1, "full_lr": 1e-4}, "original": {"epochs": 3, "full_lr": 5e-5}}
EVALS_IN_ONE_EPOCH = 4  # a run of one epoch evaluates this often; a longer one after each epoch
IGNORE_INDEX = -100  # label value the loss skips


class TiedOutputNotMissing(logging.Filter):
    """A model with tied embeddings keeps no lm_head.weight in its checkpoints: the output layer is the embedding.
    Loading the best epoch back, the Trainer reports that key as missing although nothing is lost (the tied
    layer shares the loaded embedding); this filter drops that one line, and only it."""

    def filter(self, record):
        return not record.getMessage().startswith("There were missing keys in the checkpoint model loaded: "
                                                  "['lm_head.weight']")


class EpochSeededOrder(torch.utils.data.Sampler):
    """The Trainer's length-grouped order of the training pairs, drawn from the seed and the epoch alone. The stock
    sampler draws it from the global random state, which a run resumed inside an epoch does not share: the rest of
    the epoch would then train on other batches than the uninterrupted run (some pairs twice, some never)."""

    def __init__(self, sampler, seed):
        self.sampler, self.seed, self.epoch = sampler, seed, 0
        sampler.generator = torch.Generator()

    def set_epoch(self, epoch):  # called by the Trainer (through accelerate) before each epoch
        self.epoch = epoch

    def __len__(self):
        return len(self.sampler)

    def __iter__(self):
        self.sampler.generator.manual_seed(self.seed + self.epoch)
        return iter(self.sampler)


def show_loss_mask(trainer, tokenizer):
    """Prints the first training example as the model sees it, with the loss mask made visible:
    tokens in [brackets] carry loss (the rewrite and its end-of-turn), the rest is prompt."""
    batch = trainer.data_collator([trainer.train_dataset[0]])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    pieces = [tokenizer.decode([t]) if label == IGNORE_INDEX else f"[{tokenizer.decode([t])}]"
              for t, label in zip(ids, labels)]
    print("one training example, loss on [bracketed] tokens only:\n" + "".join(pieces))


def save_best(trainer, tokenizer, method, best_dir):
    """The chosen epoch's weights -> best_dir as safetensors, written by the main process alone; LoRA is merged
    into the base first. Every process calls it: under FSDP each holds a shard, and gathering takes them all."""
    state_dict = trainer.accelerator.get_state_dict(trainer.model) if trainer.is_fsdp_enabled else None
    if trainer.is_world_process_zero():
        model = trainer.accelerator.unwrap_model(trainer.model)
        if method == "lora":
            model = model.merge_and_unload()
        save_model_atomic(model, tokenizer, best_dir, owner=OWNER, state_dict=state_dict)
    trainer.accelerator.wait_for_everyone()


def parse_args():
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=PROCESSED_DATA, renamed_from=["--dataset"],
                        help="the pairs in: the folder datamod.py wrote")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="base model: folder or hub id (e.g. Qwen/Qwen2-0.5B)")
    parser.add_argument("--method", choices=["full", "lora"], default="full")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="distinct",
                        help="distinct: each training pair seen once (1 epoch); original: the original work's 3 "
                             "epochs (--epochs overrides either)")
    parser.add_argument("--epochs", type=positive_int, help="passes over the training pairs")
    parser.add_argument("--evals-per-epoch", type=positive_int,
                        help=f"validation loss and a checkpoint this many times an epoch, the lowest kept (default: "
                             f"{EVALS_IN_ONE_EPOCH} in a run of one epoch, else 1)")
    parser.add_argument("--lr", type=positive_float, help="peak learning rate (full 1e-4, original 5e-5, LoRA 2e-4)")
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--grad-accum", type=positive_int, default=1, help="gradient accumulation steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-length", type=positive_int, default=256, help="longer examples are truncated")
    parser.add_argument("--lora-r", type=positive_int, default=16)
    parser.add_argument("--lora-alpha", type=positive_int, default=32)
    parser.add_argument("--out", help="run folder (default: weights/<method>); the model goes to <out>/best")
    parser.add_argument("--reports", renamed_from=["--outputs"],
                        help="folder for the table and the loss curve (default: outputs/<run>, the run being "
                             "<out>'s name)")
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction,
                        help="recompute activations in the backward pass: less memory, slower steps "
                             "(default: on GPU only; CPU RAM is rarely the limit)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                        help="bf16: mixed precision (fp32 weights, bf16 matrix multiplies); auto: bf16 on a GPU "
                             "that has it and on a CPU with AVX512-BF16 or AMX, fp32 elsewhere")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in <out>")
    parser.add_argument("--overwrite", action="store_true", help="discard an earlier run's checkpoints in <out>")
    args = parser.parse_args()
    args.epochs = args.epochs or RECIPES[args.recipe]["epochs"]
    args.lr = args.lr or (LORA_LR if args.method == "lora" else RECIPES[args.recipe]["full_lr"])
    args.evals_per_epoch = args.evals_per_epoch or (EVALS_IN_ONE_EPOCH if args.epochs == 1 else 1)
    return args


def load_training_data(path):
    """The DatasetDict of pairs; refuses a folder without non-empty train and valid splits."""
    from datasets import DatasetDict, load_from_disk

    if not Path(path).is_dir():
        raise DataError(f"--data {path}: no dataset; run `python datamod.py` first")
    try:
        dataset = load_from_disk(str(path))
    except (OSError, ValueError, IndexError, KeyError) as err:  # what datasets raises on a broken folder
        raise DataError(f"--data {path}: not a dataset saved by datamod.py ({type(err).__name__}); "
                        "run `python datamod.py --out FOLDER` and pass that folder") from None
    for split in ("train", "valid"):
        if not isinstance(dataset, DatasetDict) or split not in dataset or len(dataset[split]) == 0:
            raise DataError(f"--data {path}: no '{split}' examples; build it with datamod.py")
    return dataset


def check_run_folder(args, out):
    """Everything is checked before anything is deleted: the run folder, the output files, the resume state."""
    local_model = [args.model] if Path(args.model).exists() else []
    check_output_dir(out, OWNER, inputs=[args.data] + local_model)
    check_output_dir(out / "best", OWNER)  # refused now, not after hours of training
    reports = check_reports_dir(args.reports or reports_dir_for(out),
                                [f"finetune_{args.method}{suffix}" for suffix in (".json", ".md", "_loss.png")],
                                inputs=[args.data, out] + local_model)
    checkpoints = out / "checkpoints"
    if link_or_other(checkpoints, folder=True):
        raise OutputError(f"{checkpoints}: a link or a file, not a folder of checkpoints; move it away or pass "
                          "another --out")
    has_checkpoints = checkpoints.is_dir() and any(checkpoints.glob("checkpoint-*"))
    if args.resume and not has_checkpoints:
        raise OutputError(f"{checkpoints}: no checkpoint to resume from; run without --resume to start")
    if has_checkpoints and not (args.resume or args.overwrite):
        raise OutputError(f"{checkpoints}: holds an earlier run; pass --resume to continue it or --overwrite "
                          "to discard it")
    return reports, checkpoints


def score_rewrite_positions_only():
    """TRL's fused LM head projects only the positions that carry loss (the rewrite's) on a GPU with Triton, and
    every position elsewhere, so that a compiler (Neuron's) sees one tile shape. Eager mode on a CPU compiles
    nothing, and most positions are prompt: projecting the rewrite's alone gives the same loss in far less time
    (docs/results.md). Returns False on a TRL without that switch (its own loss path, unchanged)."""
    import trl.trainer.utils as trl_utils

    projects_compact = getattr(trl_utils, "_use_triton", None)
    if projects_compact is None:
        return False
    trl_utils._use_triton = lambda device: device.type == "cpu" or projects_compact(device)
    return True


def use_bf16_autocast(precision, on_gpu):
    """bf16 mixed precision (fp32 weights, bf16 matrix multiplies) or plain fp32. auto: bf16 on a GPU that has it
    and on a CPU with bf16 instructions (AVX512-BF16 or AMX), fp32 elsewhere."""
    if precision != "auto":
        return precision == "bf16"
    return torch.cuda.is_bf16_supported() if on_gpu else cpu.has_bf16_instructions()


def build_trainer(args, model, tokenizer, dataset, checkpoints, processes):
    """TRL's SFTTrainer with the loss mask, per-epoch evaluation and checkpoints, and the best epoch kept."""
    from trl import SFTConfig, SFTTrainer

    # token ids and the loss mask of each pair: qrewrite.prompt.training_example. In memory: no cache files
    # in datamod.py's folder, and no two processes writing the same one.
    dataset = dataset.map(lambda record: training_example(tokenizer, record),
                          remove_columns=dataset["train"].column_names, keep_in_memory=True)
    model.train()
    score_rewrite_positions_only()
    on_gpu = torch.cuda.is_available()
    use_bf16 = use_bf16_autocast(args.precision, on_gpu)
    if args.gradient_checkpointing is None:
        args.gradient_checkpointing = on_gpu

    peft_config = None
    if args.method == "lora":
        from peft import LoraConfig
        peft_config = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=0.05,
                                 target_modules="all-linear", task_type="CAUSAL_LM")

    steps_per_epoch = max(1, len(dataset["train"]) // (args.batch_size * args.grad_accum * processes))
    eval_every = max(1, math.ceil(steps_per_epoch / args.evals_per_epoch))
    config = SFTConfig(
        output_dir=str(checkpoints),
        num_train_epochs=args.epochs,
        learning_rate=args.lr,
        lr_scheduler_type="linear",
        warmup_steps=max(1, steps_per_epoch // 20),
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=2 * args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        max_length=args.max_length,
        completion_only_loss=True,  # the loss mask: rewrite tokens only, never the prompt
        train_sampling_strategy="group_by_length",  # similar lengths per batch: less padding
        eval_strategy="epoch" if args.evals_per_epoch == 1 else "steps",
        eval_steps=eval_every,
        save_steps=eval_every,
        eval_on_start=not args.resume,  # epoch 0: the base model's validation loss, for reference
        save_strategy="epoch" if args.evals_per_epoch == 1 else "steps",
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_strategy="steps",
        logging_steps=max(1, steps_per_epoch // 10),
        bf16=use_bf16,
        activation_checkpointing=args.gradient_checkpointing,  # transformers 5 name of gradient checkpointing
        seed=args.seed,
        report_to="none",
        dataloader_pin_memory=on_gpu,
        use_cpu=not torch.accelerator.is_available(),  # without it, torchrun on a CPU runs N unrelated trainings
        ddp_find_unused_parameters=False,  # every weight takes part in each step (LoRA: every adapter)
    )
    class SeededOrderTrainer(SFTTrainer):
        def _get_train_sampler(self, train_dataset=None):
            return EpochSeededOrder(super()._get_train_sampler(train_dataset), self.args.seed)

    trainer = SeededOrderTrainer(model=model, args=config, train_dataset=dataset["train"],
                                 eval_dataset=dataset["valid"], processing_class=tokenizer, peft_config=peft_config)
    if model.config.tie_word_embeddings:
        logging.getLogger("transformers.trainer").addFilter(TiedOutputNotMissing())
    return trainer


def prepare_run(args, state):
    """Checks everything (every process, nothing written yet), loads the data and the model, then the main
    process alone marks <out> and discards old checkpoints under --overwrite."""
    from accelerate.utils import parse_flag_from_env

    if args.method == "lora" and parse_flag_from_env("ACCELERATE_USE_FSDP"):
        fail("--method lora under FSDP: the adapter cannot be merged from sharded weights; launch with "
             "--config_file configs/accelerate_ddp.yaml")
    if args.precision == "bf16" and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        fail("--precision bf16: this GPU has no bf16; pass --precision fp32 or auto")
    out = Path(args.out or run_dir(args.method))
    try:
        reports, checkpoints = check_run_folder(args, out)
        dataset = load_training_data(args.data)
        with state.main_process_first():  # the embedded default model is converted once, by the main process
            model, tokenizer = load_model(args.model, device="cpu", dtype=torch.float32)
    except (DataError, ModelError) as err:
        fail(err)
    if state.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        mark_dir(out, OWNER)
        if args.overwrite and not args.resume:
            shutil.rmtree(checkpoints, ignore_errors=True)
    state.wait_for_everyone()
    return out, reports, checkpoints, dataset, model, tokenizer


def write_results(args, trainer, dataset, reports, best_dir, wall_s):
    """The per-epoch table (.json and .md) and the loss curve; the main process calls it, once."""
    rows, best = epoch_table(trainer.state.log_history)
    on_gpu = torch.cuda.is_available()
    peak_rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    processes = trainer.args.world_size
    summary = {
        "method": args.method,
        "base_model": args.model,
        "chosen_epoch": best["epoch"],
        "chosen_checkpoint": trainer.state.best_model_checkpoint,
        "model_dir": str(best_dir),
        "epochs": rows,
        "train_examples": len(dataset["train"]),
        "valid_examples": len(dataset["valid"]),
        "processes": processes,
        "global_batch_size": args.batch_size * args.grad_accum * processes,
        "wall_time_s": round(wall_s, 1),
        "peak_cpu_memory_gib": round(peak_rss_gib, 2),  # of the main process
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if on_gpu else None,
        "device": "cuda" if on_gpu else "cpu",
        "precision": "bf16" if trainer.args.bf16 else "fp32",
        "args": vars(args),
    }
    open_reports_dir(reports)
    write_json_atomic(reports / f"finetune_{args.method}.json", summary)
    write_text_atomic(reports / f"finetune_{args.method}.md", markdown_table(rows))
    plot_losses(trainer.state.log_history, rows, args.method, reports / f"finetune_{args.method}_loss.png")
    print(markdown_table(rows))
    gpu_memory = f", GPU {summary['peak_gpu_memory_gib']:.1f} GiB" if on_gpu else ""
    print(f"chosen epoch {best['epoch']} (lowest valid loss {best['valid_loss']}) -> {best_dir}; "
          f"{wall_s / 60:.1f} min on {processes} process(es), peak memory {peak_rss_gib:.1f} GiB{gpu_memory}")


def main():
    args = parse_args()
    from accelerate import PartialState
    from transformers import set_seed

    # One process, or one of several under torchrun or accelerate launch (NCCL on GPUs, gloo on a CPU).
    state = PartialState(cpu=not torch.accelerator.is_available())
    set_seed(args.seed)
    out, reports, checkpoints, dataset, model, tokenizer = prepare_run(args, state)
    trainer = build_trainer(args, model, tokenizer, dataset, checkpoints, state.num_processes)
    if trainer.is_world_process_zero():
        show_loss_mask(trainer, tokenizer)
        where = "GPU" if torch.cuda.is_available() else cpu.cpu_line()
        print(f"precision: {'bf16 mixed' if trainer.args.bf16 else 'fp32'} (--precision {args.precision}; {where})")

    start = time.time()
    trainer.train(resume_from_checkpoint=args.resume or None)
    wall_s = time.time() - start

    best_dir = out / "best"
    save_best(trainer, tokenizer, args.method, best_dir)
    if trainer.is_world_process_zero():
        write_results(args, trainer, dataset, reports, best_dir, wall_s)


if __name__ == "__main__":
    main()
