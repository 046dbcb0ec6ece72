"""Step 5 on Ray: infer.py's JSONL records for a file of any size, rewritten by a pool of Rewriter actors (Ray Data).

    python infer_ray.py --model weights/full/int8 --input questions.txt --out rewrites.jsonl       # a local Ray
    python infer_ray.py --model weights/full/int8 --input logs.jsonl --out rewrites.jsonl --address auto  # a cluster
    python infer_ray.py --model weights/full/int8 --input questions.txt --out rewrites.jsonl --resume  # after a stop
    python infer_ray.py --model weights/full/best --input questions.txt --out rewrites.jsonl --gpus-per-actor 1

--input is a text file (a question a line) or JSONL (records with an "input" field; blank lines skipped).
This process reads it once, checking every line (a bad one is reported before any rewriting) and cutting it
into pieces of --chunk-size questions by byte offset. Ray Data reads each piece (on this node, so the file
need not be on the others), gives it to one of --actors actors, each holding one Rewriter (one per
--actor-cpus CPUs of the cluster by default, int8 when --model holds it; one per GPU where the cluster has
GPUs and the model is fp32), and hands the records back here in the input's order. An actor that dies is
restarted and its piece run again, so no record is lost or written twice (the records' line numbers are
checked on arrival). The records are appended to <out>.partial and renamed to <out> when whole: the file
infer.py --input ... --out writes (the same fields, the same guard), or none. --ids adds "id", the
question's line number in --input. An interrupted run continues with --resume. Ray's progress bars show
each stage.
"""
import argparse
import sys
import time
from itertools import islice
from pathlib import Path

from qrewrite.cli import ArgumentParser, add_backend_argument, fail, positive_float, positive_int
from qrewrite.errors import DataError, ModelError
from qrewrite.modeling import TRAINED_MODEL
from qrewrite.ray_cluster import add_address_argument, model_for_workers, start_ray
from qrewrite.rewriter import Rewriter, add_engine_arguments, add_guard_arguments, guard_options
from qrewrite.stream import (
    RECORD_FIELDS,
    PartialOutput,
    question_lines,
    read_protected,
    read_questions,
    record_line,
)

try:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
except ImportError:
    fail("infer_ray.py needs Ray; install the extra: pip install -e \".[ray]\"")

CHUNK_SIZE = 256  # questions a piece: what one actor call rewrites, and what a retry after a lost actor redoes
ACTOR_CPUS = 1.0  # CPUs an actor reserves; its engine decodes on as many threads
READERS = 2  # tasks reading pieces of the input at once (on this node)


class RewriteChunk:
    """A Ray Data actor: one Rewriter, loaded once; each call turns a piece's questions into JSONL lines."""

    def __init__(self, model, options, protected, fields):
        self.rewriter = Rewriter(model, **options)
        self.protected, self.fields = protected, fields

    def __call__(self, batch):
        questions = [str(q) for q in batch["input"]]
        records = self.rewriter.rewrite_records(questions, protected=self.protected)
        for record, line in zip(records, batch["id"]):
            record["id"] = int(line)
        return {"id": batch["id"], "line": [record_line(r, self.fields) for r in records]}


def read_piece(piece, path):
    """The questions of one piece as rows {"id": line number, "input": question}."""
    lines = islice(question_lines(path, piece["offset"], piece["line"]), piece["count"])
    return [{"id": number, "input": question} for number, _, question in lines]


def cut_into_pieces(path, size, skip):
    """([{"offset", "line", "count"}] of each piece of `size` questions after the first `skip`, the questions in
    all); every line is read and checked on the way."""
    pieces, total = [], 0
    for index, (number, offset, _) in enumerate(question_lines(path)):
        total += 1
        if index >= skip:
            if (index - skip) % size == 0:
                pieces.append({"offset": offset, "line": number, "count": 0})
            pieces[-1]["count"] += 1
    return pieces, total


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=TRAINED_MODEL, help="model folder (fp32, merged LoRA or int8)")
    parser.add_argument("--input", required=True, help="questions: .txt (a line each) or .jsonl records")
    parser.add_argument("--out", required=True, help="the JSONL records, in the input's order")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run that left <out>.partial (same --input and --out)")
    parser.add_argument("--ids", action="store_true", help='add "id": the question\'s line number in --input')
    add_backend_argument(parser)
    parser.add_argument("--beams", type=positive_int, default=1, help="1: greedy; more: beam search, as infer.py")
    add_guard_arguments(parser)
    add_engine_arguments(parser)
    parser.add_argument("--protect", metavar="FILE", help="terms a rewrite must keep as written, one a line")
    parser.add_argument("--batch-size", type=positive_int, default=8, help="questions an engine call decodes")
    parser.add_argument("--chunk-size", type=positive_int, default=CHUNK_SIZE,
                        help="questions a piece: one actor call, and what is redone if its actor dies")
    add_address_argument(parser)
    parser.add_argument("--actors", type=positive_int,
                        help="Rewriter actors (default: one per --actor-cpus of the cluster's CPUs, or one per GPU)")
    parser.add_argument("--actor-cpus", type=positive_float, default=ACTOR_CPUS,
                        help="CPUs an actor reserves (default: %(default)s)")
    parser.add_argument("--gpus-per-actor", type=float,
                        help="GPUs an actor reserves (default: 1 where the cluster has GPUs and the model is fp32, "
                             "else 0)")
    args = parser.parse_args(argv)
    if args.gpus_per_actor is not None and args.gpus_per_actor < 0:
        parser.error(f"--gpus-per-actor must be 0 or more, not {args.gpus_per_actor}")
    return args


def check_inputs(args):
    """(the output, the questions done by an interrupted run, the pieces left, the questions in all, the protected
    terms, the model as the actors open it): everything checked before Ray starts."""
    if not Path(args.input).is_file():
        raise DataError(f"--input {args.input}: file not found; pass a .txt or .jsonl file of questions")
    if Path(args.input).suffix not in (".txt", ".jsonl"):
        raise DataError(f"--input {args.input}: infer_ray.py reads .txt (a question a line) or .jsonl; a .json "
                        "list is parsed whole: convert it with jq -c '.[]' and pass the .jsonl")
    inputs = [p for p in (args.input, args.model) if Path(p).exists()]
    output = PartialOutput(args.out, args.resume, inputs)
    protected = tuple(read_protected(args.protect)) if args.protect else ()
    done, _ = output.skip_done(read_questions(args.input), 1)
    pieces, total = cut_into_pieces(args.input, args.chunk_size, done)
    return output, done, pieces, total, protected, model_for_workers(args.model)


def actor_resources(args, model):
    """(how many actors, the resources of each): one per GPU for an fp32 model where there are GPUs, else one
    per --actor-cpus CPUs."""
    from qrewrite.engines import CONVERTED, folder_kind

    cluster = ray.cluster_resources()
    cpu_engine = args.backend in CONVERTED or folder_kind(model) is not None  # no GPU to use
    gpus = (args.gpus_per_actor if args.gpus_per_actor is not None
            else float(bool(cluster.get("GPU")) and not cpu_engine))
    if gpus:
        return args.actors or max(1, int(cluster.get("GPU", 0) // gpus)), {"num_cpus": args.actor_cpus,
                                                                             "num_gpus": gpus}
    return args.actors or max(1, int(cluster.get("CPU", 1) // args.actor_cpus)), {"num_cpus": args.actor_cpus}


def build_dataset(args, pieces, model, protected, actors, resources):
    """The pipeline: pieces -> their questions (read on this node) -> records from the actor pool, in order."""
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    options = {"batch_size": args.batch_size, "backend": args.backend, "beams": args.beams,
               "engine_settings": args.engine_settings, **guard_options(args)}
    fields = ("id", *RECORD_FIELDS) if args.ids else RECORD_FIELDS
    # Reading takes no CPU of its own (the actors hold them all); a small pool of tasks is plenty, and keeps Ray
    # from starting a worker process for every piece.
    questions = ray.data.from_items(pieces, override_num_blocks=len(pieces)).flat_map(
        read_piece, fn_kwargs={"path": str(Path(args.input).resolve())}, num_cpus=0, scheduling_strategy=here,
        compute=ray.data.TaskPoolStrategy(size=READERS))
    return questions.map_batches(RewriteChunk, fn_constructor_args=(model, options, protected, fields),
                                 batch_size=args.chunk_size, compute=ray.data.ActorPoolStrategy(size=actors),
                                 **resources)


def collect(dataset, output, expected):
    """Appends the records to the output as they come, checking that each question comes once, in order."""
    written, last = 0, 0
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        ids = batch["id"].tolist()
        if not ids:
            continue
        if ids[0] <= last or any(a >= b for a, b in zip(ids, ids[1:])):
            raise RuntimeError(f"records out of order after line {last} (lines {ids[0]}..{ids[-1]})")
        output.write_lines(batch["line"].tolist())
        written, last = written + len(ids), ids[-1]
    if written != expected:
        raise RuntimeError(f"{written} records came back for {expected} questions")


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        output, done, pieces, total, protected, model = check_inputs(args)
    except (DataError, ModelError) as err:
        fail(err)
    if pieces:
        start_ray(ray, args.address)
        actors, resources = actor_resources(args, model)
        dataset = build_dataset(args, pieces, model, protected, actors, resources)
        print(f"{total - done} questions in {len(pieces)} pieces for {actors} actor(s) {resources}", file=sys.stderr)
        rewriting = time.perf_counter()
        try:
            collect(dataset, output, total - done)
        except KeyboardInterrupt:
            fail(f"interrupted: the records so far are kept in {output.partial}; run the same command with --resume")
        except RuntimeError as err:  # not expected of Ray; the file would not be infer.py's
            fail(f"{err}; {output.partial} holds what came before it: delete it and run again")
        seconds = time.perf_counter() - rewriting
        print(f"rewrote {total - done} questions in {seconds:.1f} s ({(total - done) / seconds:.2f} questions/s, the "
              f"actors' start included) with {actors} actor(s); Ray's start and the input's check took "
              f"{rewriting - start:.1f} s", file=sys.stderr)
        if args.address is None:
            ray.shutdown()
    output.finish()
    print(f"wrote {total} records to {output.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
