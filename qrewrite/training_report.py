"""What finetune.py reports of a run: the table of its evaluations (the epoch reached, the training and validation
loss, the learning rate, the one kept) and the loss curve."""


def epoch_table(log_history):
    """Per evaluation (at the end of each epoch, or --evals-per-epoch times in one): the epoch reached, the
    mean training loss since the evaluation before, the validation loss and the learning rate."""
    rows, last = [], 0.0
    for entry in log_history:
        if "eval_loss" not in entry:
            continue
        at = round(entry["epoch"], 2)
        train_logs = [e for e in log_history if "loss" in e and last < e["epoch"] <= at + 1e-6]
        rows.append({
            "epoch": int(at) if at == int(at) else at,
            "step": entry["step"],
            "train_loss": round(sum(e["loss"] for e in train_logs) / len(train_logs), 4) if train_logs else None,
            "valid_loss": round(entry["eval_loss"], 4),
            "learning_rate": train_logs[-1]["learning_rate"] if train_logs else None,
        })
        last = at
    trained = [r for r in rows if r["epoch"] > 0]
    best = min(trained, key=lambda r: r["valid_loss"]) if trained else None
    for row in rows:
        row["chosen"] = row is best
    return rows, best


def markdown_table(rows):
    lines = ["| epoch | train loss | valid loss | learning rate | chosen |", "|---|---|---|---|---|"]
    for r in rows:
        fmt = lambda v, spec: "-" if v is None else format(v, spec)
        lines.append(f"| {r['epoch']} | {fmt(r['train_loss'], '.4f')} | {fmt(r['valid_loss'], '.4f')} | "
                     f"{fmt(r['learning_rate'], '.2e')} | {'**yes**' if r['chosen'] else ''} |")
    return "\n".join(lines) + "\n"


def plot_losses(log_history, rows, method, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [e for e in log_history if "loss" in e and "eval_loss" not in e]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([e["epoch"] for e in steps], [e["loss"] for e in steps], label="train (logged steps)", alpha=0.7)
    ax.plot([r["epoch"] for r in rows], [r["valid_loss"] for r in rows], "o-", label="valid (each evaluation)")
    for r in rows:
        if r["chosen"]:
            ax.plot(r["epoch"], r["valid_loss"], "r*", markersize=14, label=f"chosen: epoch {r['epoch']}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (rewrite tokens)")
    ax.set_title(f"{method} fine-tuning")
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
