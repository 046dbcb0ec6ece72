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
"""
import argparse
import asyncio
import collections
import copy
import json
import logging
import signal
import socket
import sys
import time
import uuid
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.exceptions import HTTPException

from qrewrite.batching import Job, Worker, unchanged
from qrewrite.cli import ArgumentParser, fail, positive_int
from qrewrite.engines import int8_dir_for
from qrewrite.modeling import TRAINED_MODEL, ModelError
from qrewrite.prompt import plain_token_ids
from qrewrite.rewriter import MAX_INPUT_TOKENS, Rewriter, add_guard_arguments, fallback_kind, guard_options
from qrewrite.stream import RECORD_FIELDS

ENDPOINTS = ("/v1/rewrite", "/v1/chat/completions", "/health", "/metrics")  # metric labels; others are "other"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

log = logging.getLogger("qrewrite.serve")
access_log = logging.getLogger("qrewrite.serve.access")  # a logger of its own: --no-access-log silences it alone


class ApiError(Exception):
    """A request the server refuses: HTTP status, a one-line message, the error type, extra headers."""

    def __init__(self, status, message, kind="invalid_request_error", headers=None):
        super().__init__(message)
        self.status, self.message, self.kind, self.headers = status, message, kind, headers


def error_response(status, message, kind="invalid_request_error", headers=None):
    """The server's one error body, shaped like OpenAI's so that its clients show the message."""
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status, headers=headers)


class Metrics:
    """The server's Prometheus metrics, in a registry of their own (tests run several apps in one process)."""

    def __init__(self):
        r = self.registry = CollectorRegistry()
        self.requests = Counter("qrewrite_requests", "HTTP requests by endpoint and status",
                                ["endpoint", "status"], registry=r)
        self.latency = Histogram("qrewrite_request_seconds", "Request latency by endpoint", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("qrewrite_batch_size", "Questions per engine call", buckets=BATCH_BUCKETS,
                                    registry=r)
        self.queue_depth = Gauge("qrewrite_queue_depth", "Questions waiting for the worker", registry=r)
        self.fallbacks = Counter("qrewrite_fallbacks", "Questions returned unchanged, by reason", ["reason"],
                                 registry=r)
        self.questions = Counter("qrewrite_questions", "Questions run through the engine", registry=r)
        self.new_tokens = Counter("qrewrite_generated_tokens", "Tokens the engine generated", registry=r)


async def read_json(request, max_bytes):
    """The request body as JSON; 413 past max_bytes (read no further), 400 when it is not JSON."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise ApiError(413, f"the body is {length} bytes; the limit is {max_bytes} (--max-body-bytes)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise ApiError(413, f"the body is over {max_bytes} bytes (--max-body-bytes)")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise ApiError(400, f"the body is not valid JSON ({err})") from None


def rewrite_questions_of(body, max_questions):
    """The questions of a /v1/rewrite body, checked: {"questions": [str, ...]}."""
    questions = body.get("questions") if isinstance(body, dict) else None
    if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
        raise ApiError(422, 'expected a JSON object {"questions": ["...", ...]} with a list of strings')
    if not questions:
        raise ApiError(422, '"questions" is empty; send at least one question')
    if len(questions) > max_questions:
        raise ApiError(422, f"{len(questions)} questions in one request; the limit is {max_questions}")
    return questions


MAX_PROTECTED, MAX_TERM_CHARS = 256, 200


def protected_terms_of(body):
    """The request's protected terms ({"protected": ["PE", "ubereats", ...]}, optional): each must stand in the
    rewrite exactly as written where the question holds it (qrewrite.rewriter.fallback_reason)."""
    terms = body.get("protected", []) if isinstance(body, dict) else []
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise ApiError(422, '"protected" must be a list of strings, the terms a rewrite must keep as written')
    if len(terms) > MAX_PROTECTED or any(len(t) > MAX_TERM_CHARS for t in terms):
        raise ApiError(422, f'"protected" takes at most {MAX_PROTECTED} terms of at most {MAX_TERM_CHARS} '
                            "characters each")
    return tuple(terms)


def message_text(content):
    """A message's text: a string, or OpenAI's list of content parts ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in content):
        return "".join(p["text"] for p in content)
    raise ApiError(422, 'a message\'s "content" must be a string or a list of {"type": "text", "text": "..."} parts')


def chat_question_of(body):
    """The question of a chat completions body: the text of its last user message ("stream" fields checked)."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise ApiError(422, 'expected a JSON object with "messages": [{"role": "user", "content": "..."}, ...]')
    stream, options = body.get("stream"), body.get("stream_options")
    if not isinstance(stream, (bool, type(None))) or not isinstance(options, (dict, type(None))):
        raise ApiError(422, '"stream" must be true or false, "stream_options" an object: {"include_usage": true}')
    messages = body["messages"]
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise ApiError(422, 'each message must be an object with a "role" string and a "content"')
    users = [m for m in messages if m["role"] == "user"]
    if not users:
        raise ApiError(422, 'no message with "role": "user"; the last user message is the question to rewrite')
    return message_text(users[-1].get("content"))


def check_lengths(tokenizer, questions):
    """422 for a question over MAX_INPUT_TOKENS tokens: refused rather than cut, so no context is lost silently."""
    for index, question in enumerate(questions):
        n_tokens = len(plain_token_ids(tokenizer, question))  # as the Rewriter counts it: control tokens split
        if n_tokens > MAX_INPUT_TOKENS:
            raise ApiError(422, f"question {index} has {n_tokens} tokens; the limit is {MAX_INPUT_TOKENS}")


class Service:
    """What the endpoints share: the worker, the metrics, the limits, a tokenizer for the event loop's checks."""

    def __init__(self, rewriter, args):
        self.args = args
        self.model = args.model
        self.backend = rewriter.backend
        self.metrics = Metrics()
        threads = args.threads or getattr(rewriter.engine, "workers", 1)
        self.worker = Worker(rewriter, self.metrics, args.max_batch, args.max_wait_ms / 1000, args.queue_size,
                             threads)
        self.tokenizer = copy.deepcopy(rewriter.tokenizer)  # the Rewriter's own belongs to the worker thread

    async def answer(self, request, parse):
        """A request's body and its questions' records: the body read (size, JSON), its questions taken by parse,
        their tokens counted, then rewritten; how many, and the fallbacks, kept on request.state for the access line."""
        body = await read_json(request, self.args.max_body_bytes)
        questions = parse(body)
        request.state.questions = len(questions)
        check_lengths(self.tokenizer, questions)
        records = await self.rewrite(questions, protected_terms_of(body))
        request.state.fallbacks = [fallback_kind(r["fallback"]) for r in records if r["fallback"]]
        return body, records

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


def chat_completion(model, record):
    """An OpenAI chat.completion object whose message is the rewrite (plus our "fallback" field)."""
    usage = {"prompt_tokens": record["prompt_tokens"], "completion_tokens": record["completion_tokens"],
             "total_tokens": record["prompt_tokens"] + record["completion_tokens"]}
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "system_fingerprint": None,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": record["rewrite"]},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": usage, "fallback": record["fallback"]}


def chat_chunks(completion, include_usage):
    """A chat.completion as the chunks OpenAI streams: the role, the content, the finish; then the usage when
    stream_options.include_usage asks for it (every chunk then has "usage", null but in that last one).
    Only OpenAI's fields: the completion's extras (our "fallback") stay out."""
    head = {"id": completion["id"], "object": "chat.completion.chunk", "created": completion["created"],
            "model": completion["model"], "system_fingerprint": completion["system_fingerprint"]}
    tail = {"usage": None} if include_usage else {}

    def chunk(delta, finish_reason=None):
        return {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
                **tail}

    chunks = [chunk({"role": "assistant", "content": ""}),
              chunk({"content": completion["choices"][0]["message"]["content"]}), chunk({}, "stop")]
    return chunks + ([{**head, "choices": [], "usage": completion["usage"]}] if include_usage else [])


def event_stream(chunks):
    """Server-sent events as OpenAI sends them: "data: {json}" a chunk, then "data: [DONE]"."""
    events = [f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]

    async def send():
        for event in events:
            yield event

    return StreamingResponse(send(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def create_app(rewriter, args):
    """The FastAPI app: the endpoints, error bodies, metrics; the worker runs for the app's lifespan."""
    service = Service(rewriter, args)

    @asynccontextmanager
    async def lifespan(app):
        service.worker.start()
        yield
        await asyncio.to_thread(service.worker.stop)

    app = FastAPI(title="qrewrite", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service
    add_error_handling(app, service.metrics)

    @app.post("/v1/rewrite")
    async def rewrite(request: Request):
        _, records = await service.answer(request, lambda b: rewrite_questions_of(b, args.max_questions))
        return {"rewrites": [{k: r[k] for k in RECORD_FIELDS} for r in records]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        body, records = await service.answer(request, lambda b: [chat_question_of(b)])
        completion = chat_completion(service.model, records[0])
        if not body.get("stream"):
            return completion
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return event_stream(chat_chunks(completion, include_usage))

    @app.get("/health")
    async def health():
        if not service.worker.ready.is_set() or not service.worker.is_alive():
            return error_response(503, "not ready: the model is warming up", "unavailable", {"Retry-After": "1"})
        return {"status": "ok", "model": service.model, "backend": service.backend}

    @app.get("/metrics")
    async def metrics():
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def add_error_handling(app, metrics):
    """Every error as one JSON line (never a traceback), and every request counted and timed."""

    @app.exception_handler(ApiError)
    async def api_error(request, err):
        return error_response(err.status, err.message, err.kind, err.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request, err):  # 404 unknown path, 405 wrong method
        return error_response(err.status_code, f"{err.detail}: {request.method} {request.url.path}",
                              headers=getattr(err, "headers", None))

    @app.middleware("http")
    async def observe(request, call_next):
        start = time.perf_counter()
        endpoint = request.url.path if request.url.path in ENDPOINTS else "other"
        try:
            response = await call_next(request)
        except Exception as err:  # noqa: BLE001 -- the client gets one line, the log the details
            log.exception("%s %s failed", request.method, request.url.path)
            response = error_response(500, f"internal error ({type(err).__name__})", "server_error")
        seconds = time.perf_counter() - start
        metrics.requests.labels(endpoint, str(response.status_code)).inc()
        metrics.latency.labels(endpoint).observe(seconds)
        log_access(request, response.status_code, seconds)
        return response


def log_access(request, status, seconds):
    """A request's one access line: "POST /v1/rewrite 200 questions=3 ms=41.2 fallbacks=2 (dropped:1, empty:1)"."""
    kinds = collections.Counter(getattr(request.state, "fallbacks", ()))
    detail = " (" + ", ".join(f"{kind}:{n}" for kind, n in sorted(kinds.items())) + ")" if kinds else ""
    access_log.info("%s %s %d questions=%d ms=%.1f fallbacks=%d%s", request.method, request.url.path, status,
                    getattr(request.state, "questions", 0), seconds * 1000, sum(kinds.values()), detail)


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(int8_dir_for(TRAINED_MODEL)),
                        help="model folder, as for infer.py (default: %(default)s)")
    parser.add_argument("--backend", choices=["auto", "fp32", "int8"], default="auto",
                        help="int8: the int8 model quantize.py wrote beside --model (auto: what --model holds)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--max-batch", type=positive_int, default=16, help="questions per engine call")
    add_guard_arguments(parser)
    parser.add_argument("--threads", type=positive_int,
                        help="engine calls in flight at once (default: the engine's workers: 2 for int8 on 2 "
                             "cores, 1 for fp32)")
    parser.add_argument("--max-wait-ms", type=float, default=5.0,
                        help="how long the oldest queued question waits for the batch to fill")
    parser.add_argument("--queue-size", type=positive_int, default=256, help="questions queued at most; then 503")
    parser.add_argument("--deadline-ms", type=float, default=2000.0,
                        help="past this a request's questions come back unchanged, fallback \"timeout\"")
    parser.add_argument("--max-body-bytes", type=positive_int, default=64 * 1024, help="larger bodies get 413")
    parser.add_argument("--max-questions", type=positive_int, default=64, help="questions per request at most")
    parser.add_argument("--max-connections", type=positive_int, default=512,
                        help="open connections at most (uvicorn answers 503 past it)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info",
                        help="least level logged to stderr; access lines are info (default: %(default)s)")
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True,
                        help="one line a request at info: method, path, status, questions, ms, fallbacks "
                             "(default: on)")
    args = parser.parse_args(argv)
    if args.deadline_ms <= 0 or args.max_wait_ms < 0 or not 0 <= args.port <= 65535:
        parser.error("--deadline-ms must be above 0, --max-wait-ms 0 or more and --port between 0 and 65535")
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


def configure_logging(args):
    """Our lines and uvicorn's, one format, to stderr; uvicorn's own access lines stay off (ours replace them)."""
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    access_log.setLevel(logging.NOTSET if args.access_log else logging.WARNING)  # NOTSET: as --log-level


def main(argv=None):
    args = parse_args(argv)
    configure_logging(args)
    sock = bind_socket(args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # while loading nothing is in flight: leave at once
    start = time.perf_counter()
    try:
        rewriter = Rewriter(args.model, batch_size=args.max_batch, backend=args.backend,
                            **guard_options(args))
    except ModelError as err:
        fail(err)
    log.info("model %s loaded (%s) in %.1f s", args.model, rewriter.backend, time.perf_counter() - start)
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
