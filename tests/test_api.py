"""qrewrite/api.py's merge_metrics: serve_ray.py's /metrics, every replica's metrics added up under serve.py's names."""
from prometheus_client.parser import text_string_to_metric_families

from qrewrite.api import Metrics, merge_metrics


def samples(text):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def replica(batches, fallbacks, waiting):
    metrics = Metrics()
    for size in batches:
        metrics.batch_size.observe(size)
    metrics.count_records([{"completion_tokens": 3, "fallback": f} for f in fallbacks])
    metrics.requests.labels("/v1/rewrite", "200").inc(len(batches))
    metrics.queue_depth.set(waiting)
    return metrics.text().decode()


def test_replicas_metrics_add_up_under_the_same_names():
    one, two = replica([1, 4], [None, "dropped: 4417"], 2), replica([8], ["dropped: 12", "empty"], 1)
    merged = samples(merge_metrics([one, two]).decode())
    assert merged[("qrewrite_batch_size_count", ())] == 3
    assert merged[("qrewrite_batch_size_sum", ())] == 13
    assert merged[("qrewrite_batch_size_bucket", (("le", "1.0"),))] == 1
    assert merged[("qrewrite_batch_size_bucket", (("le", "4.0"),))] == 2
    assert merged[("qrewrite_questions_total", ())] == 4 and merged[("qrewrite_generated_tokens_total", ())] == 12
    assert merged[("qrewrite_fallbacks_total", (("reason", "dropped"),))] == 2
    assert merged[("qrewrite_fallbacks_total", (("reason", "empty"),))] == 1
    assert merged[("qrewrite_requests_total", (("endpoint", "/v1/rewrite"), ("status", "200")))] == 3
    assert merged[("qrewrite_queue_depth", ())] == 3
    assert not any(name.endswith("_created") for name, _ in merged)
    assert set(samples(one)) - {k for k in samples(one) if k[0].endswith("_created")} <= set(merged)
