"""bench_engines.py's report: the markdown table of its measurements, and the goals for the settings the Rewriter
picks on this CPU. Only the standard library at the top, as in bench_workers.py."""
from qrewrite.bench_workers import THREADS

PROJECT_OPENVINO = "the openvino engine"  # in its row's label: the project's own engine, not a peer


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
    lines += [""] + [f"- could not run: {label}: {why}" for label, why in report["could_not_run"].items()]
    lines += [f"- CTranslate2, CT2_USE_MKL={backend} (CT2_VERBOSE): {'; '.join(said)}"
              for backend, said in report["ct2_backends"].items()]
    return "\n".join(lines + goals(report)) + "\n"


def picked_label(rows):
    """The row of what the Rewriter picks on this CPU for an int8 folder (engines.faster_beside): the openvino
    engine where cpu.fastest_engine() names it and its row was measured, else the int8 engine's settings."""
    from qrewrite import cpu

    openvino = [name for name in rows if PROJECT_OPENVINO in name]
    if cpu.fastest_engine()[0] == "openvino" and openvino:
        return openvino[0]
    chosen, _ = cpu.choose(THREADS)
    mkl = {"mkl": "1", "onednn": "0", None: "1" if cpu.cpu_vendor() == "GenuineIntel" else "0"}[chosen["backend"]]
    return (f"CTranslate2 {chosen['compute_type']}, CT2_USE_MKL={mkl}, {chosen['workers']} worker(s) x "
            f"{chosen['threads']} thread(s), static prompt on")


def goals(report):
    """The goals, for the settings the Rewriter picks here: batch speed, one question on the project's fastest
    engine against the fastest peer, greedy outputs identical to fp32's, BLEU against fp32's."""
    rows = report["engines"]
    label = picked_label(rows)
    if label not in rows:
        return ["", f"goals: the row the Rewriter picks here ({label}) was not measured"]
    mine, fp32 = rows[label], next(iter(rows.values()))
    ours = {name: m for name, m in rows.items() if name.startswith("CTranslate2") or PROJECT_OPENVINO in name}
    peers = {name: m for name, m in rows.items() if name not in ours and not name.startswith("fp32")}
    quickest = min(ours, key=lambda name: ours[name]["ms_alone"])
    met = lambda ok: "met" if ok else "not met"
    lines = ["", f"goals, for the settings the Rewriter picks on this CPU ({label}):",
             f"- {mine['tokens_per_s_batch']} new tok/s at batch {report['batch']} (goal >= 400): "
             f"{met(mine['tokens_per_s_batch'] >= 400)}"]
    if peers:
        fastest = min(peers, key=lambda name: peers[name]["ms_alone"])
        lines.append(f"- one question alone: {ours[quickest]['ms_alone']} ms ({quickest}); the fastest peer, "
                     f"{fastest}, {peers[fastest]['ms_alone']} ms (goal: no slower): "
                     f"{met(ours[quickest]['ms_alone'] <= peers[fastest]['ms_alone'])}")
    lines += [f"- greedy output identical to fp32 on {mine['same_as_fp32_batch']:.1%} (goal >= 90%): "
              f"{met(mine['same_as_fp32_batch'] >= 0.9)}",
              f"- BLEU {mine['bleu_batch']:.2f} against fp32's {fp32['bleu_batch']:.2f} (goal: within 0.5): "
              f"{met(mine['bleu_batch'] >= fp32['bleu_batch'] - 0.5)}"]
    return lines
