"""How much --concurrency speeds up generate_dataset.py against a server that takes 200 ms per answer.

Runs ``generate_dataset.py --backend openai --base-url <fake server>`` for the same number of examples with
``--concurrency 1`` and ``--concurrency 16`` (``--repeat`` times each, medians count), and prints both wall
times, the speed-up (target: at least 12x on the generation itself) and the load average.  The process wall
time also includes about two seconds of Python start-up and imports, which no concurrency can remove, so it is
printed separately; the process CPU time shows when the machine, not the server, was the limit.

    .venv/bin/python benchmarks/bench_generate_concurrency.py [--num-examples 512] [--delay 0.2]

Exit status 1 when the speed-up is below the target or a run fails (one line ``error: ...``); 2 for a usage
error.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fake_openai_server import FakeOpenAIServer  # noqa: E402  (lives with the tests, shared with them)

from small_lm.cli import HelpFormatter, add_option  # noqa: E402

TARGET_SPEEDUP = 12.0


def run(concurrency: int, args: argparse.Namespace, folder: Path) -> dict[str, float]:
    """One generate_dataset.py run against a fresh fake server; its wall and generation times."""
    output = folder / f"c{concurrency}.json"
    with FakeOpenAIServer(delay_s=args.delay) as server:
        command = [sys.executable, str(ROOT / "generate_dataset.py"), "--backend", "openai", "--base-url", server.url]
        command += ["--num-examples", str(args.num_examples), "--examples-per-request", str(args.examples_per_request)]
        command += ["--concurrency", str(concurrency), "--output", str(output), "--retry-delay", "0.1"]
        command += ["--overwrite"]
        env = {**os.environ, "OPENAI_API_KEY": "bench-not-a-key", "OPENAI_BASE_URL": ""}
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
        sys.exit(f"error: generate_dataset.py failed with --concurrency {concurrency}: {last}")
    metadata = json.loads(output.read_text(encoding="utf-8"))["metadata"]
    return {
        "wall": wall,
        "generation": metadata["elapsed_s"],
        "requests": metadata["requests"]["sent"],
        "overlap": server.max_in_flight,
        "cpu": cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
    parser.add_argument("--num-examples", type=int, default=512, help="examples per run (default: %(default)s)")
    add_option(
        parser,
        "--examples-per-request",
        aliases=["--per-request"],
        type=int,
        default=8,
        help="generate_dataset.py --examples-per-request (default: %(default)s)",
    )
    parser.add_argument("--delay", type=float, default=0.2, help="seconds per answer (default: %(default)s)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each setting; the median counts (default: %(default)s)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(
        f"fake server: {args.delay * 1000:.0f} ms per answer; {args.num_examples} examples, "
        f"{args.examples_per_request} per request"
    )
    runs: dict[int, list[dict[str, float]]] = {1: [], 16: []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):  # interleaved, so that a burst of load from elsewhere hits both settings
            for c in runs:
                runs[c].append(run(c, args, Path(tmp)))
    results = {c: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for c, rs in runs.items()}
    for c, r in results.items():
        each = ", ".join(f"{x['generation']:.2f}" for x in runs[c])
        print(
            f"--concurrency {c:>2}: generation {r['generation']:6.2f} s (runs: {each}), whole process "
            f"{r['wall']:6.2f} s, process CPU {r['cpu']:5.2f} s, {r['requests']:.0f} requests, "
            f"at most {r['overlap']:.0f} at once"
        )
    speedup = results[1]["generation"] / results[16]["generation"]
    print(f"speed-up, generation: {speedup:.1f}x (target >= {TARGET_SPEEDUP:.0f}x)")
    print(f"speed-up, whole process (start-up and imports included): {results[1]['wall'] / results[16]['wall']:.1f}x")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average (1, 5, 15 min): {load} on {os.cpu_count()} CPUs")
    return 0 if speedup >= TARGET_SPEEDUP else 1


if __name__ == "__main__":
    sys.exit(main())
