"""Prometheus metrics of one server (``GET /metrics``), in a registry of its own so that several apps in one
process (the tests) do not share counters."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.http_requests = Counter(
            "small_lm_http_requests", "HTTP requests by path and status code (4xx/5xx are the errors)",
            ["path", "code"], registry=r,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "small_lm_request_seconds", "POST /v1/extract answered with 200: seconds from arrival to answer",
            ["model"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.texts = Counter("small_lm_texts", "Texts read by the model", ["model"], registry=r)
        self.text_errors = Counter("small_lm_text_errors", "Texts whose result holds an error", ["model"], registry=r)
        self.batch_size = Histogram(
            "small_lm_batch_size", "Texts per batch", ["model"], buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "small_lm_batch_seconds", "Seconds per batch", ["model"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.queue_depth = Gauge("small_lm_queue_depth", "Texts waiting for their model", ["model"], registry=r)
        self.model_ready = Gauge("small_lm_model_ready", "1 once loaded and warmed up", ["model"], registry=r)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
