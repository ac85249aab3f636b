"""Load test of serve.py: throughput and latency under 1, 8 and 64 concurrent clients, with dynamic batching and,
in the same run on the same checkpoint, without it (a naive server that runs each request alone).

    python benchmarks/bench_serve.py trained_models/bert-mix-2000-seed1
    python benchmarks/bench_serve.py trained_models/slm-demo --seconds 60
    python benchmarks/bench_serve.py trained_models/bert-mix-2000-seed1 --seconds 2     # a quick check that it runs
    python benchmarks/bench_serve.py trained_models/bert-demo --long-share 0    # short texts only

Each client sends one text per request, back to back, for --seconds at each level, over its own keep-alive
connection.  Texts: the lines of the MASSIVE calendar dev file (short voice commands; read here at run time) and
long work emails from a generated dataset (headers, quoted replies, signatures), --long-share of the requests.
The naive server is what one would write first: the torch model, each request alone (serve.py with --backend torch
--max-batch-size 1 --max-wait-ms 0; --naive-flags replaces the backend flag).  The batched server is serve.py as a
user starts it (the joint model on int8 when the checkpoint has its export).  Both are started and stopped here.

Printed per server and level: texts/s, p50 and p99 latency in ms, refused or failed requests; per server its
peak resident memory (VmHWM); and the load average before and after each level.  Run it on an idle machine: with
2 cores, any other busy process distorts the numbers several-fold (the clients share the machine too).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from small_lm.cli import HelpFormatter, add_option

ROOT = Path(__file__).resolve().parents[1]
NAIVE_FLAGS = ["--max-batch-size", "1", "--max-wait-ms", "0"]
NAIVE_BACKEND = "--backend torch"


@dataclass
class Level:
    clients: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, of answered (200) requests
    failures: dict[str, int] = field(default_factory=dict)  # status or exception name -> count
    load_after: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        if len(self.latencies) == 1:
            return self.latencies[0] * 1000
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[round(q) - 1] * 1000


def read_texts(massive: Path, generated: Path, long_min_chars: int) -> tuple[list[str], list[str]]:
    """Short texts (MASSIVE dev lines) and long emails (generated examples of at least ``long_min_chars``)."""
    short = [json.loads(line)["text"] for line in massive.read_text(encoding="utf-8").splitlines() if line.strip()]
    document = json.loads(generated.read_text(encoding="utf-8"))
    long = [x["text"] for split in document["splits"].values() for x in split if len(x["text"]) >= long_min_chars]
    if not short or not long:
        sys.exit(f"error: no texts ({len(short)} short from {massive}, {len(long)} long from {generated})")
    return short, long


class ServerProcess:
    """serve.py in a subprocess on a free port; its log is kept (stderr) for when something goes wrong."""

    def __init__(self, model: str, flags: list[str]) -> None:
        command = [
            sys.executable,
            str(ROOT / "serve.py"),
            str(Path(model).resolve()),
            "--port",
            "0",
            "--request-timeout",
            "3600",
            *flags,
        ]
        self.proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        self.port: int | None = None
        threading.Thread(target=self._read_log, daemon=True).start()
        deadline = time.monotonic() + 600
        while self.port is None or not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("error: the server did not start:\n" + "".join(self.log[-20:]))
            time.sleep(0.2)

    def _read_log(self) -> None:
        for line in iter(self.proc.stderr.readline, ""):
            self.log.append(line)
            if self.port is None and (m := re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", line)):
                self.port = int(m.group(1))

    def _ready(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def backend(self) -> str:
        """The backend its model runs on (GET /v1/models), or the family for a model without one (the SLM)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", "/v1/models")
        (model,) = json.loads(conn.getresponse().read())["models"]
        return model.get("backend") or model["family"]

    def peak_memory_mib(self) -> float | None:
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        m = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(m.group(1)) / 1024 if m else None

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def client(port: int, texts: list[str], until: float, seed: int, level: Level, lock: threading.Lock) -> None:
    """One client: a request at a time on one keep-alive connection until ``until``."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    latencies, failures = [], {}
    while time.perf_counter() < until:
        body = json.dumps({"texts": [rng.choice(texts)]})
        started = time.perf_counter()
        try:
            conn.request("POST", "/v1/extract", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            outcome = "ok" if response.status == 200 else str(response.status)
        except (OSError, http.client.HTTPException) as err:
            outcome = type(err).__name__
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
        if outcome == "ok":
            latencies.append(time.perf_counter() - started)
        else:
            failures[outcome] = failures.get(outcome, 0) + 1
    conn.close()
    with lock:
        level.latencies.extend(latencies)
        for k, v in failures.items():
            level.failures[k] = level.failures.get(k, 0) + v


def run_level(port: int, texts: list[str], clients: int, seconds: float) -> Level:
    level, lock = Level(clients), threading.Lock()
    started = time.perf_counter()
    threads = [
        threading.Thread(target=client, args=(port, texts, started + seconds, seed, level, lock))
        for seed in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    level.seconds = time.perf_counter() - started  # until the last request sent in time was answered
    level.load_after = os.getloadavg()[0]
    return level


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("model", help="checkpoint folder of either family")
    p.add_argument("--seconds", type=float, default=30, help="seconds of load per level (default: 30)")
    p.add_argument("--clients", default="1,8,64", help="concurrency levels (default: 1,8,64)")
    add_option(p, "--dataset", aliases=["--data"], default="../shared/benchmarks/massive_calendar_dev.jsonl",
               help="JSON lines with 'text': the short messages")  # fmt: skip
    p.add_argument("--long-emails", default="datasets/mix-2000-seed1.json",
                   help="a generated dataset (generate_dataset.py --backend offline) for long emails")  # fmt: skip
    p.add_argument("--long-share", type=float, default=0.2, help="share of requests that are long emails")
    p.add_argument("--long-min-chars", type=int, default=1000, help="what counts as a long email")
    p.add_argument("--server-flags", default="", help="extra serve.py flags for the batched server")
    p.add_argument("--naive-flags", default=NAIVE_BACKEND,
                   help="the naive server's flags besides its batch of one (default: '%(default)s')")  # fmt: skip
    p.add_argument("--no-naive", action="store_true", help="skip the naive server")
    args = p.parse_args(argv)
    levels = [int(n) for n in args.clients.split(",")]

    short, long = read_texts(Path(args.dataset), Path(args.long_emails), args.long_min_chars)
    # A pool with the asked share of long emails, sampled uniformly by every client.
    n_long = max(1, round(len(short) * args.long_share / max(1e-9, 1 - args.long_share)))
    pool = short + [long[i % len(long)] for i in range(n_long)]
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} before the run")
    print(f"texts: {len(short)} short (median {statistics.median(map(len, short)):.0f} chars), "
          f"{len(long)} long emails (median {statistics.median(map(len, long)):.0f} chars), "
          f"{n_long / len(pool):.0%} of requests long; {args.seconds:g} s per level")  # fmt: skip

    servers = [("batched", args.server_flags.split())]
    if not args.no_naive:
        servers.append(("naive", [*args.naive_flags.split(), *NAIVE_FLAGS]))
    results: dict[str, list[Level]] = {}
    memory: dict[str, float | None] = {}
    for name, flags in servers:
        print(f"\nstarting the {name} server: serve.py {args.model} {' '.join(flags)}", flush=True)
        server = ServerProcess(args.model, flags)
        print(f"  model on {server.backend()}", flush=True)
        try:
            results[name] = []
            for clients in levels:
                level = run_level(server.port, pool, clients, args.seconds)
                results[name].append(level)
                failures = ", ".join(f"{k}: {v}" for k, v in sorted(level.failures.items())) or "none"
                print(f"  {clients:>3} clients: {level.throughput:7.1f} texts/s  p50 {level.percentile(50):8.1f} ms  "
                      f"p99 {level.percentile(99):8.1f} ms  failed: {failures}  "
                      f"(load average {level.load_after:.2f})", flush=True)  # fmt: skip
            memory[name] = server.peak_memory_mib()
        finally:
            server.stop()

    print("\n| server | clients | texts/s | p50 ms | p99 ms | failed | vs naive |")
    print("|---|---|---|---|---|---|---|")
    for name, levels_run in results.items():
        for i, level in enumerate(levels_run):
            naive = results.get("naive", [None] * len(levels_run))[i]
            ratio = f"{level.throughput / naive.throughput:.1f}x" if naive and naive.throughput else "–"
            print(f"| {name} | {level.clients} | {level.throughput:.1f} | {level.percentile(50):.1f} | "
                  f"{level.percentile(99):.1f} | {sum(level.failures.values())} | {ratio} |")  # fmt: skip
    for name, mib in memory.items():
        print(f"peak memory of the {name} server: {mib:.0f} MiB" if mib else f"peak memory of {name}: unknown")
    print(f"load average after the run: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
