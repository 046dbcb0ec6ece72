"""serve.py's batching: requests' questions queued, taken in batches by worker threads, answered in order.
(serve_ray.py batches with Ray Serve's @serve.batch instead; both make records with records_or_unchanged.)

Each worker thread has a Rewriter of its own on the one engine (a tokenizer is not thread-safe: each call
sets whether control tokens are split); while one batch decodes, the next forms and waits in the engine's
queue. A Job is one request's questions; its results are set on the request's event loop only.
"""
import asyncio
import collections
import copy
import logging
import threading
import time

log = logging.getLogger("qrewrite.serve")


def completion_tokens(tokenizer, text):
    """Tokens in a generated text (re-encoded: the count the usage block and new tokens/s report)."""
    return len(tokenizer(text, add_special_tokens=False).input_ids)


def unchanged(question, reason):
    """The record of a question returned as it came (timeout, engine error): fail-open."""
    return {"input": question, "rewrite": question, "raw": "", "fallback": reason, "restored": [], "retried": False,
            "confidence": 1.0, "edits": [], "prompt_tokens": 0, "completion_tokens": 0}


class Job:
    """One request's questions on their way through the queue. Its results change on the event loop only."""

    def __init__(self, questions, deadline, protected=()):
        self.questions = questions
        self.protected = protected  # the caller's protected terms, for every question of the request
        self.arrived = time.monotonic()
        self.deadline = deadline  # time.monotonic() value past which the request answers "timeout"
        self.records = [None] * len(questions)
        self.left = len(questions)
        self.loop = asyncio.get_running_loop()
        self.done = self.loop.create_future()
        self.expired = False  # set once the request has answered: the worker skips what it has not started

    def deliver(self, index, record):
        self.records[index] = record
        self.left -= 1
        if not self.left and not self.done.done():
            self.done.set_result(None)

    def stale(self, now):
        return self.expired or now >= self.deadline


class Worker:
    """The threads that run the engine, each with a Rewriter of its own on the one engine, and the queue they
    take batches from. Two threads on an engine of two workers (CTranslate2 int8): while one call decodes, the
    next batch forms and waits in the engine's queue, so neither engine worker idles between calls."""

    def __init__(self, rewriter, metrics, max_batch, max_wait_s, queue_size, threads=1):
        self.metrics = metrics
        self.max_batch, self.max_wait_s, self.queue_size = max_batch, max_wait_s, queue_size
        self.items = collections.deque()  # (job, index): one queued question
        self.cond = threading.Condition()
        self.ready = threading.Event()  # set once every thread has run its warm-up: /health answers 200
        self.stopping, self.warm = False, 0
        rewriters = [rewriter] + [rewriter_twin(rewriter) for _ in range(threads - 1)]
        self.threads = [threading.Thread(target=self.run, args=(r,), name=f"rewriter-{i}", daemon=True)
                        for i, r in enumerate(rewriters)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def is_alive(self):
        return all(thread.is_alive() for thread in self.threads)

    def submit(self, job):
        """Queues a job's questions; False when they do not fit (the request gets 503)."""
        with self.cond:
            if len(self.items) + len(job.questions) > self.queue_size:
                return False
            self.items.extend((job, index) for index in range(len(job.questions)))
            self.metrics.queue_depth.set(len(self.items))
            self.cond.notify()
        return True

    def stop(self):
        """Lets the threads finish what is queued, then waits for them to end."""
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        for thread in self.threads:
            thread.join()

    def run(self, rewriter):
        rewriter.warm_up()
        with self.cond:
            self.warm += 1
            if self.warm == len(self.threads):
                self.ready.set()
        while (batch := self.next_batch()) is not None:
            if batch:
                self.run_batch(rewriter, batch)

    def next_batch(self):
        """Up to max_batch questions of live requests, once the batch is full or the oldest has waited
        max_wait_s; stale ones are dropped unstarted. None once stopping with nothing queued."""
        with self.cond:
            while not self.items and not self.stopping:
                self.cond.wait()
            if not self.items:
                return None
            fill_by = self.items[0][0].arrived + self.max_wait_s
            while len(self.items) < self.max_batch and not self.stopping and time.monotonic() < fill_by:
                self.cond.wait(fill_by - time.monotonic())
            batch, now = [], time.monotonic()
            while self.items and len(batch) < self.max_batch:
                job, index = self.items.popleft()
                if not job.stale(now):
                    batch.append((job, index))
            self.metrics.queue_depth.set(len(self.items))
        return batch

    def run_batch(self, rewriter, batch):
        """One engine call; the records go back to the requests' event loop. An engine error fails open."""
        questions = [job.questions[index] for job, index in batch]
        self.metrics.batch_size.observe(len(questions))
        records = records_or_unchanged(rewriter, questions, [job.protected for job, _ in batch])
        self.metrics.count_records(records)
        try:
            batch[0][0].loop.call_soon_threadsafe(deliver_all, batch, records)
        except RuntimeError:  # the event loop has closed: nobody is waiting any more
            pass


def records_or_unchanged(rewriter, questions, protected_each):
    """One engine call: the questions' records with their token counts. An engine error fails open: every question
    comes back unchanged, "error" (the caller must outlive any engine failure)."""
    try:
        return [count_tokens(rewriter, r) for r in rewriter.rewrite_records(questions, protected_each=protected_each)]
    except Exception as err:  # noqa: BLE001
        log.error("a batch of %d failed (%s: %s); returned the questions unchanged", len(questions),
                  type(err).__name__, err)
        return [unchanged(q, "error") for q in questions]


def rewriter_twin(rewriter):
    """Another Rewriter on the same engine, with a tokenizer of its own: a tokenizer is not thread-safe
    (each call sets whether control tokens are split), the engine is."""
    twin = copy.copy(rewriter)
    twin.tokenizer = copy.deepcopy(rewriter.tokenizer)
    return twin


def count_tokens(rewriter, record):
    """Adds the prompt's and the output's token counts (the OpenAI usage block, new tokens/s)."""
    record["prompt_tokens"] = len(rewriter.prompt_ids(record["input"])[0]) if record["input"].strip() else 0
    record["completion_tokens"] = completion_tokens(rewriter.tokenizer, record["raw"])
    return record


def deliver_all(batch, records):
    for (job, index), record in zip(batch, records):
        job.deliver(index, record)
