"""Step 6: serve rewrites over HTTP, batching the questions of requests that arrive together.

    python serve.py --model weights/full/int8 --port 8000
    curl -s localhost:8000/v1/rewrite -H 'content-type: application/json' \\
         -d '{"questions": ["hey so um waht is teh capital of frnace? thx"]}'

Endpoints:
  POST /v1/rewrite           {"questions": [...], "protected": [...]} ->
                             {"rewrites": [{"input", "rewrite", "fallback", "restored", "edits"}, ...]}
  POST /v1/chat/completions  OpenAI-compatible: the last user message is the question, the reply's
                             message the rewrite; stream=true answers as OpenAI streams (server-sent
                             chat.completion.chunk events: the role, the whole rewrite, finish_reason
                             "stop", a usage chunk if stream_options.include_usage, then [DONE])
  GET  /health               200 once the model is loaded and has run one warm-up rewrite, 503 before
  GET  /metrics              Prometheus: requests, latency, batch sizes, queue depth, fallbacks, tokens

Worker threads (--threads; by default as many as the engine decodes in parallel) each take up to
--max-batch queued questions, waiting at most --max-wait-ms after the oldest arrived, and run them as
one engine call, each with a Rewriter of its own on the one engine (a tokenizer is not thread-safe).
The queue holds at most --queue-size questions; past that a request gets 503 with Retry-After.
Past --deadline-ms a request's questions come back unchanged with "fallback": "timeout" (fail-open:
a chat system must never wait on its rewriter), and its questions not yet started are skipped.
A streamed rewrite is computed whole first, through the same queue and deadline, so every error
comes before any event. Errors come as {"error": {"message", "type", "code"}}: 400 malformed JSON,
413 a body over --max-body-bytes, 422 wrong fields, more than --max-questions questions, or a
question over MAX_INPUT_TOKENS tokens (refused, not cut: the client keeps its question whole).
SIGTERM stops accepting connections, finishes the requests in flight and exits 0.
Logs go to stderr, one access line a request at INFO (logger qrewrite.serve.access: method, path,
status, questions, latency, fallbacks by kind; --no-access-log or --log-level warning turns them off).
The API itself (parsing, errors, records, chat completions, metrics) is qrewrite/api.py, shared with
serve_ray.py, which serves it from replicas on a Ray cluster.
"""
import argparse
import asyncio
import copy
import signal
import socket
import sys
import time
from contextlib import asynccontextmanager

import uvicorn

from qrewrite.api import (  # noqa: F401 -- ApiError, check_lengths, access_log: the API's names, also as serve.*
    ApiError,
    ApiService,
    access_log,
    add_service_arguments,
    build_app,
    check_lengths,
    check_service_arguments,
    configure_logging,
    log,
)
from qrewrite.batching import Job, Worker, unchanged
from qrewrite.cli import ArgumentParser, fail, positive_int
from qrewrite.errors import ModelError
from qrewrite.rewriter import Rewriter, guard_options


class Service(ApiService):
    """serve.py's service: one Rewriter, its queue and worker threads (qrewrite/batching.py)."""

    def __init__(self, rewriter, args):
        super().__init__(args.model, rewriter.backend, copy.deepcopy(rewriter.tokenizer), args.max_body_bytes,
                         args.max_questions)  # the Rewriter's own tokenizer belongs to the worker thread
        self.args = args
        threads = args.threads or getattr(rewriter.engine, "workers", 1)
        self.worker = Worker(rewriter, self.metrics, args.max_batch, args.max_wait_ms / 1000, args.queue_size,
                             threads)

    def ready(self):
        return self.worker.ready.is_set() and self.worker.is_alive()

    async def rewrite(self, questions, protected=()):
        """The questions' records, in order; those not done by the deadline come back unchanged ("timeout")."""
        job = Job(questions, time.monotonic() + self.args.deadline_ms / 1000, protected)
        if not self.worker.submit(job):
            raise ApiError(503, f"the queue is full ({self.args.queue_size} questions); retry shortly",
                           "overloaded", {"Retry-After": "1"})
        await asyncio.wait([job.done], timeout=max(0.0, job.deadline - time.monotonic()))
        job.expired = True
        records = [r or unchanged(q, "timeout") for q, r in zip(questions, job.records)]
        timeouts = sum(r is None for r in job.records)
        if timeouts:
            self.metrics.fallbacks.labels("timeout").inc(timeouts)
        return records


def create_app(rewriter, args):
    """The FastAPI app (qrewrite/api.py's endpoints); the worker runs for the app's lifespan."""
    service = Service(rewriter, args)

    @asynccontextmanager
    async def lifespan(app):
        service.worker.start()
        yield
        await asyncio.to_thread(service.worker.stop)

    return build_app(service, lifespan)


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_service_arguments(parser)
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--threads", type=positive_int,
                        help="engine calls in flight at once (default: the engine's workers: 2 for int8 on 2 "
                             "cores, 1 for fp32)")
    parser.add_argument("--queue-size", type=positive_int, default=256, help="questions queued at most; then 503")
    parser.add_argument("--max-connections", type=positive_int, default=512,
                        help="open connections at most (uvicorn answers 503 past it)")
    args = parser.parse_args(argv)
    check_service_arguments(parser, args)
    if args.max_questions > args.queue_size:
        parser.error(f"--max-questions ({args.max_questions}) must not exceed --queue-size ({args.queue_size})")
    return args


def bind_socket(host, port):
    """The listening socket, bound before the model loads so that a taken port fails at once."""
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on connections whose proto says TCP, and
    # without it a reply's header and body writes wait on the client's delayed ACK (+40 ms a keep-alive request)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        fail(f"cannot listen on {host}:{port} ({err.strerror}); pick another --port or --host")
    return sock


def main(argv=None):
    args = parse_args(argv)
    configure_logging(args)
    sock = bind_socket(args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # while loading nothing is in flight: leave at once
    start = time.perf_counter()
    try:
        rewriter = Rewriter(args.model, batch_size=args.max_batch, backend=args.backend,
                            engine_settings=args.engine_settings, **guard_options(args))
    except ModelError as err:
        fail(err)
    log.info("model %s loaded (%s) in %.1f s; %s", args.model, rewriter.backend, time.perf_counter() - start,
             rewriter.engine_choice)
    app = create_app(rewriter, args)
    # uvicorn handles SIGTERM while it runs (stop accepting, finish requests, stop the worker), then
    # re-raises it to the handler it found: ignoring it there lets that graceful stop exit 0.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    host, port = sock.getsockname()[:2]
    log.info("listening on http://%s:%d", host, port)
    config = uvicorn.Config(app, log_config=None, log_level=args.log_level, access_log=False,
                            limit_concurrency=args.max_connections)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
