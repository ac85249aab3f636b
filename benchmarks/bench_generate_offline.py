"""How fast the offline template generator writes examples (what ``generate_dataset.py --backend offline`` spends
its time on).

Loads the word lists and name pools once (timed apart: every process pays it once), then generates
``--num-examples`` examples ``--repeat`` times with different seeds and prints the median examples per second
and the load average, which says whether other work on the machine shared the CPU.

    .venv/bin/python benchmarks/bench_generate_offline.py [--num-examples 2000] [--repeat 3] [--styles voice=1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from generation.flags import style_mix
from generation.offline.messages import generate_offline
from generation.styles import default_mix, format_mix
from small_lm.cli import HelpFormatter


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
    parser.add_argument("--num-examples", type=int, default=2000, help="examples per run (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median counts (default: %(default)s)")
    parser.add_argument(
        "--styles", type=style_mix, default=format_mix(default_mix()), help="message styles (default: the mix)"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    started = time.perf_counter()
    generate_offline(1, seed=0, styles=args.styles)  # loads and checks the data files, builds the name pools
    print(f"start-up (data files, name pools): {time.perf_counter() - started:.2f} s")
    rates = []
    for seed in range(args.repeat):
        started = time.perf_counter()
        generate_offline(args.num_examples, seed=seed, styles=args.styles)
        rates.append(args.num_examples / (time.perf_counter() - started))
    runs = ", ".join(f"{r:.0f}" for r in rates)
    print(f"{args.num_examples} examples: {statistics.median(rates):.0f} examples/s (median; runs: {runs})")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average (1, 5, 15 min): {load} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
