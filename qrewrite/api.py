"""The HTTP API, defined once for serve.py (one process) and serve_ray.py (replicas on Ray Serve).

    POST /v1/rewrite           {"questions": [...], "protected": [...]} -> {"rewrites": [record, ...]}
    POST /v1/chat/completions  OpenAI-compatible, stream=true answered as OpenAI streams
    GET  /health               200 once ready, 503 before
    GET  /metrics              Prometheus text

What the two services share lives here: request parsing and its checks, the one-line JSON errors
({"error": {"message", "type", "code"}}), the records and chat completions (and their chunks) a reply holds,
the metrics, the access log. A service (ApiService) supplies only how questions become records, when it is
ready, and the text of its metrics; build_app puts the endpoints on it.
"""
import collections
import json
import logging
import sys
import time
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from starlette.exceptions import HTTPException

from qrewrite.prompt import plain_token_ids
from qrewrite.rewriter import MAX_INPUT_TOKENS, fallback_kind
from qrewrite.stream import RECORD_FIELDS

ENDPOINTS = ("/v1/rewrite", "/v1/chat/completions", "/health", "/metrics")  # metric labels; others are "other"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_PROTECTED, MAX_TERM_CHARS = 256, 200

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

    def count_records(self, records):
        """One engine call's records: questions, new tokens, fallbacks by kind (a label per kind, not per item)."""
        self.questions.inc(len(records))
        self.new_tokens.inc(sum(r["completion_tokens"] for r in records))
        for record in records:
            if record["fallback"]:
                self.fallbacks.labels(fallback_kind(record["fallback"])).inc()

    def text(self):
        return generate_latest(self.registry)


class _Families:
    """A collector that yields metric families made elsewhere (merge_metrics)."""

    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families


def merge_metrics(texts):
    """One Prometheus text from several (one a replica): samples of one name and labels are added up. Counters,
    histogram buckets, sums and counts, and the queue gauge all add; the _created timestamps are left out."""
    families, values = {}, {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            families.setdefault(family.name, Metric(family.name, family.documentation, family.type))
            for sample in family.samples:
                if not sample.name.endswith("_created"):
                    key = (family.name, sample.name, tuple(sorted(sample.labels.items())))
                    values[key] = values.get(key, 0.0) + sample.value
    for (family, name, labels), value in values.items():
        families[family].add_sample(name, dict(labels), value)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(families.values())))
    return generate_latest(registry)


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


class ApiService:
    """What the endpoints need of a service: the model's name and backend, the limits, the metrics, a tokenizer for
    the length check (not the one the engine's thread uses: a tokenizer is not thread-safe). A service supplies
    rewrite() (the questions' records, in order), ready() and metrics_text()."""

    def __init__(self, model, backend, tokenizer, max_body_bytes, max_questions):
        self.model, self.backend, self.tokenizer = model, backend, tokenizer
        self.max_body_bytes, self.max_questions = max_body_bytes, max_questions
        self.metrics = Metrics()

    async def answer(self, request, parse):
        """A request's body and its questions' records: the body read (size, JSON), its questions taken by parse,
        their tokens counted, then rewritten; how many, and the fallbacks, kept on request.state for the access line."""
        body = await read_json(request, self.max_body_bytes)
        questions = parse(body)
        request.state.questions = len(questions)
        check_lengths(self.tokenizer, questions)
        records = await self.rewrite(questions, protected_terms_of(body))
        request.state.fallbacks = [fallback_kind(r["fallback"]) for r in records if r["fallback"]]
        return body, records

    async def rewrite(self, questions, protected=()):
        raise NotImplementedError

    def ready(self):
        return True

    async def metrics_text(self):
        return self.metrics.text()


def build_app(service, lifespan=None):
    """The FastAPI app of a service: the four endpoints, error bodies, metrics and access lines."""
    app = FastAPI(title="qrewrite", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service
    add_error_handling(app, service.metrics)

    @app.post("/v1/rewrite")
    async def rewrite(request: Request):
        _, records = await service.answer(request, lambda b: rewrite_questions_of(b, service.max_questions))
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
        if not service.ready():
            return error_response(503, "not ready: the model is warming up", "unavailable", {"Retry-After": "1"})
        return {"status": "ok", "model": service.model, "backend": service.backend}

    @app.get("/metrics")
    async def metrics():
        return Response(await service.metrics_text(), media_type=CONTENT_TYPE_LATEST)

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


def add_service_arguments(parser):
    """The flags serve.py and serve_ray.py share: the model, where to listen, batching, the guard, the deadline,
    the limits of a request, logging. Each script adds --port and its own (threads and queue, or replicas)."""
    import argparse

    from qrewrite.cli import add_backend_argument, positive_int
    from qrewrite.engines import int8_dir_for
    from qrewrite.modeling import TRAINED_MODEL
    from qrewrite.rewriter import add_engine_arguments, add_guard_arguments

    parser.add_argument("--model", default=str(int8_dir_for(TRAINED_MODEL)),
                        help="model folder, as for infer.py (default: %(default)s)")
    add_backend_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--max-batch", type=positive_int, default=16, help="questions per engine call")
    add_guard_arguments(parser)
    add_engine_arguments(parser)
    parser.add_argument("--max-wait-ms", type=float, default=5.0,
                        help="how long the oldest queued question waits for the batch to fill")
    parser.add_argument("--deadline-ms", type=float, default=2000.0,
                        help="past this a request's questions come back unchanged, fallback \"timeout\"")
    parser.add_argument("--max-body-bytes", type=positive_int, default=64 * 1024, help="larger bodies get 413")
    parser.add_argument("--max-questions", type=positive_int, default=64, help="questions per request at most")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info",
                        help="least level logged to stderr; access lines are info (default: %(default)s)")
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True,
                        help="one line a request at info: method, path, status, questions, ms, fallbacks "
                             "(default: on)")


def check_service_arguments(parser, args, lowest_port=0):
    if args.deadline_ms <= 0 or args.max_wait_ms < 0 or not lowest_port <= args.port <= 65535:
        parser.error(f"--deadline-ms must be above 0, --max-wait-ms 0 or more and --port between {lowest_port} and "
                     "65535")


def configure_logging(args):
    """Our lines and uvicorn's, one format, to stderr; uvicorn's own access lines stay off (ours replace them)."""
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    access_log.setLevel(logging.NOTSET if args.access_log else logging.WARNING)  # NOTSET: as --log-level
