"""Prometheus metrics: HTTP traffic, tasks, queue depth, inbox/outbox backlog and model latency.

Everything lives in prometheus_client's default registry, so ``GET /metrics`` in the web process and the
worker's own metrics server (``PETITION_WORKER_METRICS_PORT``) expose the same families. Label values
are bounded: routes are templates (``/api/v1/petitions/{tracking_no}``), never raw paths, and unknown
paths are "unmatched". Gauges that describe shared state (queue depth, backlog) are read at scrape
time by a collector that never fails the scrape.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# ok; retry (failed, queued again); dead (failed for good); error (an unrecorded task failed: the runner retries it).
TASK_OUTCOMES = ("ok", "retry", "dead", "error")
MODEL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# A scrape waits this long at most for Redis or a database count; past it the gauge is left out.
SCRAPE_TIMEOUT_S = 0.25

# The *_created samples would double the scrape and no dashboard of ours reads them.
disable_created_metrics()

HTTP_REQUESTS = Counter("petition_http_requests", "HTTP requests answered, by method, route template and status class",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("petition_http_request_duration_seconds", "Time to answer an HTTP request",
                         ["method", "route", "status"])
HTTP_IN_FLIGHT = Gauge("petition_http_requests_in_flight", "HTTP requests being answered now",
                       multiprocess_mode="livesum")
TASKS = Counter("petition_tasks", "Task runs by task name and outcome (ok, retry, dead, error)", ["task", "outcome"])
TASK_DURATION = Histogram("petition_task_duration_seconds", "Time one task run took, by task name and outcome",
                          ["task", "outcome"], buckets=MODEL_BUCKETS)
MODEL_LATENCY = Histogram("petition_model_latency_seconds", "Time of one model call (classifier, embedder, whisper)",
                          ["model", "backend"], buckets=MODEL_BUCKETS)


# ---- tasks and models -----------------------------------------------------------------------------------

def record_task(name: str, outcome: str, seconds: float) -> None:
    """Count one run of a task and its duration; outcome is ok, retry, dead or error."""
    if outcome not in TASK_OUTCOMES:
        raise ValueError(f"task outcome must be one of {TASK_OUTCOMES}, not {outcome!r}")
    TASKS.labels(name, outcome).inc()
    TASK_DURATION.labels(name, outcome).observe(max(0.0, float(seconds)))


_queue_depths: dict[str, int] = {}
_queue_lock = threading.Lock()


def set_queue_depth(queue: str, depth: int) -> None:
    """Report a queue's depth from outside (a scrape reads the configured task queue itself)."""
    with _queue_lock:
        _queue_depths[queue] = max(0, int(depth))


@contextlib.contextmanager
def model_timer(model: str, backend: str) -> Iterator[None]:
    """Time the block as one call of a model (model: classifier, intent, embedder, whisper)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        MODEL_LATENCY.labels(model, backend).observe(time.perf_counter() - start)


def timed_model(model: str, backend: str) -> Callable:
    """Decorate a function so that each call is timed as one call of a model."""

    def decorate(fn: Callable) -> Callable:
        import functools

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with model_timer(model, backend):
                return fn(*args, **kwargs)

        return wrapper

    return decorate


# ---- scrape-time gauges -----------------------------------------------------------------------------------

_redis_clients: dict[str, Any] = {}
# kombu's Redis transport keeps a queue's prioritised messages in sibling lists: name, name\x06\x163, …
_PRIORITY_SEP, _PRIORITY_STEPS = "\x06\x16", (0, 3, 6, 9)


def _redis(url: str):
    client = _redis_clients.get(url)
    if client is None:
        import redis

        client = _redis_clients[url] = redis.Redis.from_url(url, socket_timeout=SCRAPE_TIMEOUT_S,
                                                            socket_connect_timeout=SCRAPE_TIMEOUT_S)
    return client


def celery_queue_depth(broker_url: str, queue: str) -> int:
    """Return how many messages wait in a Celery queue on a Redis broker."""
    pipe = _redis(broker_url).pipeline(transaction=False)
    for step in _PRIORITY_STEPS:
        pipe.llen(queue if step == 0 else f"{queue}{_PRIORITY_SEP}{step}")
    return int(sum(pipe.execute()))


def embedded_queue_depth() -> int | None:
    """Return how many tasks the in-process runner holds (queued or running), or None without one."""
    from core import tasks

    return tasks.get_runner().pending()


def backlog_counts(database) -> dict[str, dict[str, int]]:
    """Count inbox rows not processed and outbox rows pending or failed (both columns are indexed)."""
    counts = {"inbox": {"received": 0, "failed": 0}, "outbox": {"pending": 0, "failed": 0}}
    # A raw driver connection: SQLAlchemy's BEGIN IMMEDIATE on SQLite would wait behind writers, and on
    # PostgreSQL a statement timeout keeps a slow count from holding the scrape.
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if not database.settings.is_sqlite:
            cursor.execute(f"SET LOCAL statement_timeout = {int(SCRAPE_TIMEOUT_S * 1000)}")
        for table, statuses in counts.items():
            names = ", ".join(f"'{s}'" for s in statuses)
            cursor.execute(f"SELECT status, count(*) FROM {table} WHERE status IN ({names}) GROUP BY status")
            for status, n in cursor.fetchall():
                statuses[status] = int(n)
        cursor.close()
    finally:
        with contextlib.suppress(Exception):
            raw.rollback()
        raw.close()
    return counts


class StateCollector(Collector):
    """Read queue depth and inbox/outbox backlog when scraped; a part that cannot be read is left out."""

    def describe(self) -> list:
        # Declared without values, so that registering does not query anything.
        return [GaugeMetricFamily("petition_task_queue_depth", "Tasks waiting", labels=["queue", "mode"]),
                GaugeMetricFamily("petition_task_queue_reachable", "Whether the broker answered", labels=["queue"]),
                GaugeMetricFamily("petition_inbox_backlog", "Inbox rows not processed", labels=["status"]),
                GaugeMetricFamily("petition_outbox_backlog", "Outbox rows pending or failed", labels=["status"])]

    def collect(self):
        from core.settings import get_settings

        settings = get_settings()
        depth = GaugeMetricFamily("petition_task_queue_depth", "Tasks waiting (Celery: the broker's list; embedded: "
                                  "queued or running in this process)", labels=["queue", "mode"])
        reachable = GaugeMetricFamily("petition_task_queue_reachable", "Whether the broker answered the last scrape",
                                      labels=["queue"])
        with _queue_lock:
            explicit = dict(_queue_depths)
        queue = settings.task_queue
        if settings.broker_url:
            if settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
                try:
                    explicit[queue] = celery_queue_depth(settings.broker_url, queue)
                    reachable.add_metric([queue], 1)
                except Exception as exc:
                    log.debug("queue depth unavailable: %s", type(exc).__name__)
                    explicit.pop(queue, None)
                    reachable.add_metric([queue], 0)
            mode = "celery"
        else:
            mode = "embedded"
            try:
                pending = embedded_queue_depth()
            except Exception as exc:
                log.debug("queue depth unavailable: %s", type(exc).__name__)
            else:
                if pending is not None:
                    explicit[queue] = pending
        for name, value in sorted(explicit.items()):
            depth.add_metric([name, mode], value)
        yield depth
        yield reachable
        yield from self._backlog()

    def _backlog(self):
        from core import db as core_db

        inbox = GaugeMetricFamily("petition_inbox_backlog", "Inbox rows not processed (received, failed)", labels=["status"])
        outbox = GaugeMetricFamily("petition_outbox_backlog", "Outbox rows not sent (pending, failed)", labels=["status"])
        database = getattr(core_db, "_database", None)
        if database is not None:
            try:
                counts = backlog_counts(database)
            except Exception as exc:  # no tables yet, database down: the scrape still answers
                log.debug("backlog unavailable: %s", type(exc).__name__)
            else:
                for status, n in counts["inbox"].items():
                    inbox.add_metric([status], n)
                for status, n in counts["outbox"].items():
                    outbox.add_metric([status], n)
        yield inbox
        yield outbox


_state_collector = StateCollector()
REGISTRY.register(_state_collector)


def render(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """Return the registry in the Prometheus text format and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


# ---- HTTP ---------------------------------------------------------------------------------------------

def route_template(scope: Scope, router: Any = None, root_path: str | None = None) -> str:
    """Return the route template a request matched, or "unmatched" (bounded label values, never the raw path).

    Call it after the app has answered, with the ``root_path`` the request arrived with: routing records the
    route in the scope, and a mount (static files) extends the root path instead.
    """
    before = scope.get("root_path", "") if root_path is None else root_path
    grown = scope.get("root_path", "")
    prefix = grown[len(before):] if grown != before and grown.startswith(before) else ""
    route = scope.get("route")
    template = getattr(route, "path_format", None) if route is not None else None
    if isinstance(template, str) and template:
        return prefix + template if prefix and not template.startswith(prefix) else template
    if prefix:
        return prefix + "/{path}"
    if router is not None:
        # Answered before routing (a body limit, a rate limit): find the route the request was meant for.
        found = _match(router, {**scope, "root_path": before})
        if found:
            return found
    return UNMATCHED


def _candidates(router: Any) -> Iterator[Any]:
    for route in getattr(router, "routes", ()):
        # FastAPI keeps included routers as branches; their effective routes carry the full template.
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):
            yield from contexts()
        else:
            yield route


def _match(router: Any, scope: Scope) -> str | None:
    from starlette.routing import Match

    try:
        for candidate in _candidates(router):
            if candidate.matches(scope)[0] is not Match.NONE:
                template = getattr(candidate, "path_format", None)
                return template if isinstance(template, str) and template else None
    except Exception:  # a router shape this code does not know: the label is "unmatched", the request unharmed
        log.debug("route template lookup failed", exc_info=True)
    return None


def method_label(scope: Scope) -> str:
    """Return the request method as a label value (unknown methods are "OTHER")."""
    method = scope.get("method", "")
    return method if method in METHODS else "OTHER"


class HttpMetrics:
    """Count requests and time them by method, route template and status class (pure ASGI: streaming stays intact)."""

    def __init__(self, app: ASGIApp, router: Any = None):
        self.app, self.router = app, router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status, root_path = time.perf_counter(), 500, scope.get("root_path", "")

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, observed)
        finally:
            elapsed = time.perf_counter() - start
            HTTP_IN_FLIGHT.dec()
            labels = (method_label(scope), route_template(scope, self.router, root_path), f"{status // 100}xx")
            HTTP_REQUESTS.labels(*labels).inc()
            HTTP_LATENCY.labels(*labels).observe(elapsed)


def install(app, settings) -> None:
    """Add the HTTP metrics middleware and ``GET /metrics`` (behind a bearer token when one is set)."""
    from starlette.responses import JSONResponse, Response

    token = settings.metrics_token

    def metrics(request) -> Response:
        """Return every metric in the Prometheus text format."""
        if token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(),
                                                                        token.get_secret_value().encode()):
                return JSONResponse({"detail": "metrics: send Authorization: Bearer <PETITION_METRICS_TOKEN>"}, 401,
                                    headers={"WWW-Authenticate": "Bearer"})
        body, content_type = render()
        return Response(body, media_type=content_type)

    # A plain Starlette route (run in the thread pool: the scrape reads Redis and the database).
    app.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    app.add_middleware(HttpMetrics, router=app.router)


# ---- the worker -----------------------------------------------------------------------------------------

_worker_server: Any = None


def multiprocess_registry() -> CollectorRegistry | None:
    """Return a registry that sums every process's files when prometheus_client runs multiprocess, else None."""
    from prometheus_client import multiprocess, values

    if values.ValueClass is values.MutexValue:
        return None
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(StateCollector())
    return registry


def start_worker_metrics(settings) -> bool:
    """Serve this process's metrics on ``worker_metrics_port`` (once per process); return whether it listens."""
    global _worker_server
    if _worker_server is not None or not settings.worker_metrics_port:
        return _worker_server is not None
    from prometheus_client import start_http_server

    registry = multiprocess_registry() or REGISTRY
    try:
        _worker_server = start_http_server(settings.worker_metrics_port, addr=settings.host, registry=registry)
    except OSError as exc:  # a beat process beside the worker, or a second worker on the host
        log.warning("worker metrics not served on %s:%s: %s", settings.host, settings.worker_metrics_port, exc)
        return False
    log.info("worker metrics on http://%s:%s/metrics", settings.host, settings.worker_metrics_port)
    return True
