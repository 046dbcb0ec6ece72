"""Step 6 on Ray: serve.py's HTTP API from N replicas of a Ray Serve deployment, each holding one Rewriter.

    python serve_ray.py --model weights/full/int8 --replicas 2 --port 8000        # a laptop: a local Ray instance
    python serve_ray.py --model weights/full/int8 --address auto --host 0.0.0.0 \\
        --min-replicas 2 --max-replicas 20                                        # on a cluster's head node
    curl -s localhost:8000/v1/rewrite -H 'content-type: application/json' \\
         -d '{"questions": ["hey so um waht is teh capital of frnace? thx"]}'

The same endpoints, bodies, errors and metric names as serve.py: the API is defined once, in qrewrite/api.py.
What differs is underneath: Ray Serve's proxy spreads requests over the replicas (each a process with
--replica-cpus CPUs, one Rewriter, int8 when --model holds it), and within a replica @serve.batch gathers the
questions of concurrent requests into engine calls of up to --max-batch, waiting at most --max-wait-ms, instead
of serve.py's own queue and worker threads. Past --deadline-ms a request's questions come back unchanged
("timeout", fail-open), and those not yet started are skipped. /metrics adds up every replica's metrics;
Ray's own metrics (ray_serve_*) are on its metrics port as usual. /health is 200 once a replica has loaded its
model and run one warm-up rewrite (Ray routes nothing to a replica before that).

--replicas N runs N replicas (default: one per --replica-cpus of the cluster); --min-replicas/--max-replicas
let Ray Serve's autoscaler add and remove replicas between the two, aiming at --target-ongoing-requests per
replica. Each replica takes at most --max-ongoing-requests at once; past --max-queued-requests waiting in
the proxy, Ray answers 503. Without --address a local Ray instance is started (and stopped at exit); with
--address (auto, or host:port of the head node) the app joins that cluster, whose every node needs this
project installed and the model folder at the same path. SIGTERM or Ctrl-C deletes the app (requests in
flight finish first) and exits 0.
"""
import argparse
import asyncio
import copy
import os
import signal
import socket
import sys
import threading
import time

from qrewrite.api import (
    ApiService,
    add_service_arguments,
    build_app,
    check_service_arguments,
    configure_logging,
    log,
    merge_metrics,
)
from qrewrite.batching import records_or_unchanged, unchanged
from qrewrite.cli import ArgumentParser, fail, positive_float, positive_int
from qrewrite.errors import ModelError
from qrewrite.ray_cluster import add_address_argument, model_for_workers, start_ray
from qrewrite.rewriter import Rewriter, guard_options

os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # read as ray is imported: every replica's access line is shown
try:
    import ray
    from ray import serve
except ImportError:
    fail("serve_ray.py needs Ray; install the extra: pip install -e \".[ray]\"")

APP_NAME = "qrewrite"  # the Serve application; its one deployment is "Rewriter"
REPLICA_CPUS = 1.0  # a replica's CPUs; its engine decodes on as many threads
METRICS_TIMEOUT_S = 10.0  # /metrics waits this long for every replica's numbers
SHUTDOWN_TIMEOUT_S = 30.0  # a replica finishes its requests in flight for at most this long on SIGTERM


class QueuedQuestion:
    """One question on its way through @serve.batch; it leaves the queue-depth gauge once, when its batch starts
    or when its request answers without it (past the deadline, skipped unstarted)."""

    def __init__(self, question, protected):
        self.question, self.protected, self.queued = question, protected, True

    def leave_queue(self, metrics):
        if self.queued:
            self.queued = False
            metrics.queue_depth.dec()


class RayService(ApiService):
    """serve_ray.py's service: a replica's Rewriter behind @serve.batch; /metrics adds up every replica's."""

    def __init__(self, replica, args):
        super().__init__(args.model, replica.rewriter.backend, copy.deepcopy(replica.rewriter.tokenizer),
                         args.max_body_bytes, args.max_questions)  # the Rewriter's tokenizer is the batch thread's
        self.replica, self.deadline_s = replica, args.deadline_ms / 1000

    async def rewrite(self, questions, protected=()):
        """The questions' records, in order; those not done by the deadline come back unchanged ("timeout")."""
        items = [QueuedQuestion(q, protected) for q in questions]
        self.metrics.queue_depth.inc(len(items))
        tasks = [asyncio.ensure_future(self.replica.rewrite_batch(item)) for item in items]
        done, pending = await asyncio.wait(tasks, timeout=self.deadline_s)
        for task in pending:  # a cancelled question not yet in a batch is skipped by @serve.batch
            task.cancel()
        for item in items:
            item.leave_queue(self.metrics)
        if pending:
            self.metrics.fallbacks.labels("timeout").inc(len(pending))
        return [task.result() if task in done else unchanged(item.question, "timeout")
                for task, item in zip(tasks, items)]

    async def metrics_text(self):
        context = serve.get_replica_context()
        handle = serve.get_deployment_handle(context.deployment, context.app_name)
        texts = await handle.broadcast("replica_metrics").results_async(timeout_s=METRICS_TIMEOUT_S,
                                                                         return_exceptions=True)
        return merge_metrics([t for t in texts if isinstance(t, str)])


@serve.deployment(name="Rewriter")
@serve.ingress()
class RewriterReplica:
    """One replica: a Rewriter, warmed up before Ray routes it anything, and qrewrite/api.py's app over it."""

    def __init__(self, args):
        configure_logging(args)
        start = time.perf_counter()
        self.rewriter = Rewriter(args.model, batch_size=args.max_batch, backend=args.backend,
                                 engine_settings=args.engine_settings, **guard_options(args))
        self.rewriter.warm_up()
        log.info("replica: model %s loaded (%s) and warmed up in %.1f s; %s", args.model, self.rewriter.backend,
                 time.perf_counter() - start, self.rewriter.engine_choice)
        self.rewrite_batch.set_max_batch_size(args.max_batch)
        self.rewrite_batch.set_batch_wait_timeout_s(args.max_wait_ms / 1000)
        self.service = RayService(self, args)

    def __serve_build_asgi_app__(self):
        return build_app(self.service)

    @serve.batch
    async def rewrite_batch(self, items):
        """One engine call for the questions of concurrent requests, in a thread (the event loop stays free for
        /health and /metrics); an engine error fails open, as in serve.py."""
        metrics = self.service.metrics
        for item in items:
            item.leave_queue(metrics)
        metrics.batch_size.observe(len(items))
        records = await asyncio.to_thread(records_or_unchanged, self.rewriter, [i.question for i in items],
                                          [i.protected for i in items])
        metrics.count_records(records)
        return records

    def replica_metrics(self):
        """This replica's metrics as Prometheus text (for /metrics on any replica to add up)."""
        return self.service.metrics.text().decode()


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_service_arguments(parser)
    parser.add_argument("--port", type=int, default=8000, help="port of Ray Serve's HTTP proxy (1 to 65535)")
    add_address_argument(parser)
    parser.add_argument("--replicas", type=positive_int,
                        help="replicas to run (default: one per --replica-cpus of the cluster's CPUs)")
    parser.add_argument("--min-replicas", type=positive_int,
                        help="autoscaling: fewest replicas (with --max-replicas; default 1)")
    parser.add_argument("--max-replicas", type=positive_int,
                        help="autoscaling: most replicas; Ray Serve adds and removes replicas between the bounds")
    parser.add_argument("--target-ongoing-requests", type=positive_float,
                        help="autoscaling: requests in flight a replica should hold (default: --max-batch)")
    parser.add_argument("--replica-cpus", type=positive_float, default=REPLICA_CPUS,
                        help="CPUs a replica reserves; its engine decodes on as many threads (default: %(default)s)")
    parser.add_argument("--replica-gpus", type=float, default=0.0,
                        help="GPUs a replica reserves (pass an fp32 --model: it then runs in bf16 on the GPU; the "
                             "int8 engine is CPU-only)")
    parser.add_argument("--max-ongoing-requests", type=positive_int,
                        help="requests a replica takes at once (default: 2 x --max-batch: one batch decoding, "
                             "the next forming)")
    parser.add_argument("--max-queued-requests", type=int, default=256,
                        help="requests waiting in the proxy at most; past that Ray answers 503 (-1: no limit)")
    args = parser.parse_args(argv)
    check_service_arguments(parser, args, lowest_port=1)
    if args.min_replicas and not args.max_replicas:
        parser.error("--min-replicas bounds autoscaling; pass --max-replicas too")
    if args.max_replicas and args.max_replicas < (args.min_replicas or 1):
        parser.error(f"--max-replicas ({args.max_replicas}) must be at least --min-replicas ({args.min_replicas})")
    if args.replica_gpus < 0:
        parser.error(f"--replica-gpus must be 0 or more, not {args.replica_gpus}")
    if args.max_queued_requests == 0 or args.max_queued_requests < -1:
        parser.error("--max-queued-requests must be 1 or more, or -1 for no limit")
    return args


def deployment_options(args):
    """The Rewriter deployment's Ray Serve options: a fixed number of replicas, or autoscaling bounds."""
    options = {"ray_actor_options": {"num_cpus": args.replica_cpus, "num_gpus": args.replica_gpus},
               "max_ongoing_requests": args.max_ongoing_requests or 2 * args.max_batch,
               "max_queued_requests": args.max_queued_requests,
               "graceful_shutdown_timeout_s": SHUTDOWN_TIMEOUT_S,
               "logging_config": {"enable_access_log": False, "log_level": args.log_level.upper()}}
    if args.max_replicas:
        low = args.min_replicas or 1
        options["autoscaling_config"] = {
            "min_replicas": low, "max_replicas": args.max_replicas,
            "initial_replicas": min(max(args.replicas or low, low), args.max_replicas),
            "target_ongoing_requests": args.target_ongoing_requests or args.max_batch}
    else:
        cpus = ray.cluster_resources().get("CPU", 1)
        options["num_replicas"] = args.replicas or max(1, int(cpus // args.replica_cpus))
    return options


def check_port_free(host, port):
    """A taken port fails at once, before Ray starts (a local instance only: a cluster's proxy may hold it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            fail(f"cannot listen on {host}:{port} ({err.strerror}); pick another --port or --host")


def start(args):
    """Ray (local or joined), Serve's proxy on --host:--port, then the app; returns once every replica is up."""
    if args.address is None:
        check_port_free(args.host, args.port)
    start_ray(ray, args.address)
    serve.start(http_options={"host": args.host, "port": args.port},
                logging_config={"log_level": "WARNING", "enable_access_log": False})
    options = deployment_options(args)
    replicas = options.get("num_replicas") or f"{options['autoscaling_config']['initial_replicas']} (autoscaling)"
    log.info("starting %s replica(s) of %s on %s", replicas, args.model, args.address or "a local Ray instance")
    try:
        serve.run(RewriterReplica.options(**options).bind(args), name=APP_NAME, route_prefix="/")
    except RuntimeError as err:  # a replica that cannot start: the deployment fails after Ray's retries
        stop(args)
        fail(f"--model {args.model}: the replicas did not start ({str(err).strip().splitlines()[-1]})")


def stop(args):
    """Deletes the app (requests in flight finish first); then a local Ray instance, or on a cluster Serve itself
    when no other app is left."""
    serve.delete(APP_NAME)
    if args.address is None:
        ray.shutdown()
    elif not serve.status().applications:
        serve.shutdown()


def main(argv=None):
    args = parse_args(argv)
    configure_logging(args)
    try:
        args.model = model_for_workers(args.model)
    except ModelError as err:
        fail(err)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # while starting nothing is in flight: leave at once
    start(args)
    log.info("listening on http://%s:%d", args.host, args.port)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    while not stopping.wait(1.0):
        pass
    log.info("stopping: deleting the app")
    stop(args)
    sys.exit(0)


if __name__ == "__main__":
    main()
