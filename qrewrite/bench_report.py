"""bench_engines.py's report: the markdown table of its measurements, and the goals for the settings the Rewriter
picks on this CPU. Only the standard library at the top, as in bench_workers.py."""
from qrewrite.bench_workers import THREADS

PROJECT_OPENVINO = "the openvino engine"  # in its row's label: the project's own engine, not a peer
PROJECT_ONNX = "the onnx engine"


def markdown(report):
    lines = [f"CPU: {report['cpu']}; {report['threads']} threads; {report['date']}", "",
             f"{report['questions']} questions of {report['data']}, model {report['model']}; greedy, the project's "
             f"prompt token ids for every engine; batch {report['batch']}", "",
             f"| engine | size MB | ms, one question alone (median) | new tok/s, batch {report['batch']} "
             f"| greedy = fp32, alone | greedy = fp32, batch {report['batch']} | BLEU, batch {report['batch']} (raw) |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {label} | {m['size_mb']} | {m['ms_alone']} | {m['tokens_per_s_batch']} "
              f"| {m['same_as_fp32_alone']:.1%} | {m['same_as_fp32_batch']:.1%} | {m['bleu_batch']:.2f} |"
              for label, m in report["engines"].items()]
    lines += ["", ceiling_line(report)] if "ceiling" in report else []
    lines += [""] + [f"- could not run: {label}: {why}" for label, why in report["could_not_run"].items()]
    lines += [f"- CTranslate2, CT2_USE_MKL={backend} (CT2_VERBOSE): {'; '.join(said)}"
              for backend, said in report["ct2_backends"].items()]
    return "\n".join(lines + goals(report)) + "\n"


def ceiling_line(report):
    """The ceiling (qrewrite/bench_ceiling.py): what no engine on these kernels passes on this CPU."""
    top = report["ceiling"]
    if "could_not_run" in top:
        return f"ceiling: could not be measured: {top['could_not_run']}"
    return (f"ceiling on this CPU (the model's matrix multiplies alone, torch's int8 kernels, the shared prompt prefix "
            f"once; no attention, no overhead): {top['ms_alone']} ms one question alone, "
            f"{top['tokens_per_s_batch']} new tok/s at batch {report['batch']}")


def picked_labels(report):
    """(the batch row, the alone row) of what the Rewriter picks on this CPU for an int8 folder (engines.open_engine):
    batches on the openvino engine where cpu.fastest_engine() names it, else on the int8 engine with its vendor's
    backend and the layout the Rewriter measured at load (report["int8_layout"]); one question alone on the onnx
    engine where cpu.fastest_alone() names it and its row was measured (without its model beside the int8 one, the
    Rewriter does not split either), else on the batch engine. An openvino engine picked but not measured is named
    by PROJECT_OPENVINO alone."""
    from qrewrite import cpu

    rows, layout = report["engines"], report.get("int8_layout", {})
    named = lambda marker: next((name for name in rows if marker in name), marker)
    if cpu.fastest_engine()[0] == "openvino":
        batch = named(PROJECT_OPENVINO)
    else:
        chosen, _ = cpu.choose(THREADS)
        mkl = {"mkl": "1", "onednn": "0", None: "1" if cpu.cpu_vendor() == "GenuineIntel" else "0"}[chosen["backend"]]
        batch = (f"CTranslate2 {chosen['compute_type']}, CT2_USE_MKL={mkl}, {layout.get('workers')} worker(s) x "
                 f"{layout.get('threads')} thread(s), static prompt on")
    onnx = named(PROJECT_ONNX)
    return batch, onnx if cpu.fastest_alone()[0] == "onnx" and onnx in rows else batch


def out_of_reach(report, goal):
    top = report.get("ceiling", {}).get("tokens_per_s_batch")
    return (f"; out of reach on this CPU at batch {report['batch']}: the ceiling is {top}"
            if top is not None and top < goal else "")


def goals(report):
    """The goals, for the settings the Rewriter picks here: batch speed, one question alone against the fastest peer,
    greedy outputs identical to fp32's, BLEU against fp32's (on the batch engine; the alone engine's own figures are
    in its row)."""
    rows = report["engines"]
    label, alone = picked_labels(report)
    missing = [name for name in (label, alone) if name not in rows]
    if missing:
        return ["", f"goals: the row the Rewriter picks here ({missing[0]}) was not measured"]
    mine, fp32 = rows[label], next(iter(rows.values()))
    ours = lambda name: name.startswith("CTranslate2") or PROJECT_OPENVINO in name or PROJECT_ONNX in name
    peers = {name: m for name, m in rows.items() if not ours(name) and not name.startswith("fp32")}
    met = lambda ok: "met" if ok else "not met"
    picked = label if alone == label else f"{label}; one question alone: {alone}"
    lines = ["", f"goals, for the settings the Rewriter picks on this CPU ({picked}):",
             f"- {mine['tokens_per_s_batch']} new tok/s at batch {report['batch']} (goal >= 400): "
             f"{met(mine['tokens_per_s_batch'] >= 400)}{out_of_reach(report, 400)}"]
    if peers:
        fastest = min(peers, key=lambda name: peers[name]["ms_alone"])
        lines.append(f"- one question alone: {rows[alone]['ms_alone']} ms; the fastest peer, {fastest}, "
                     f"{peers[fastest]['ms_alone']} ms (goal: no slower): "
                     f"{met(rows[alone]['ms_alone'] <= peers[fastest]['ms_alone'])}")
    lines += [f"- greedy output identical to fp32 on {mine['same_as_fp32_batch']:.1%} (goal >= 90%): "
              f"{met(mine['same_as_fp32_batch'] >= 0.9)}",
              f"- BLEU {mine['bleu_batch']:.2f} against fp32's {fp32['bleu_batch']:.2f} (goal: within 0.5): "
              f"{met(mine['bleu_batch'] >= fp32['bleu_batch'] - 0.5)}"]
    return lines
