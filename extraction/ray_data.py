"""``--ray``: the same per-batch function (``rows.extract_items``) over a Ray Data actor pool, for archives one
machine cannot get through in time.  Ray is an optional extra: ``pip install -e '.[ray]'``.

This process reads the inputs as ever and writes the parts still to do as Parquet (``FILE.parts/ray-input/``, one
row per part, one row group each); Ray Data reads them (``read_parquet``), runs ``--workers`` actors with a model
each over them (``map_batches``, one part per call, so a part is one batch as in every other runner), and a
datasink commits each part's rows with ``parts.commit_part``.  The parts, the resume and the output are the ones
of a local run: a run stopped under Ray can be finished without it, and the other way round.  On a cluster the
output's folder and the checkpoint must be at the same path on every node (shared storage), and every node needs
this repository installed (``pip install -e '.[ray]'``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections.abc import Iterable
from typing import Any

from extraction.local import Tally, row_errors
from extraction.parts import Parts, commit_part
from extraction.readers import Item
from extraction.rows import ModelSpec, extract_items, load_tagger
from small_lm.cli import CliError

PARTS_PER_FILE = 16  # staged parts per Parquet file: files Ray can read in parallel, not thousands of tiny ones


def _stage(pending: Iterable[tuple[int, list[Item]]], folder: Any) -> int:
    """The pending parts as Parquet files in ``folder``; how many parts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("part", pa.int64()), ("sources", pa.list_(pa.string())), ("kinds", pa.list_(pa.string())),
                        ("payloads", pa.list_(pa.binary()))])  # fmt: skip
    folder.mkdir(parents=True)
    count, writer = 0, None
    try:
        for index, items in pending:
            if count % PARTS_PER_FILE == 0:
                if writer is not None:
                    writer.close()
                writer = pq.ParquetWriter(folder / f"input-{count // PARTS_PER_FILE:06d}.parquet", schema)
            row = {"part": [index], "sources": [[json.dumps(s, ensure_ascii=False) for s, _, _ in items]],
                   "kinds": [[k for _, k, _ in items]], "payloads": [[_encode(p) for _, _, p in items]]}  # fmt: skip
            writer.write_table(pa.Table.from_pydict(row, schema=schema))
            count += 1
    finally:
        if writer is not None:
            writer.close()
    return count


def _encode(payload: Any) -> bytes | None:
    return payload.encode("utf-8") if isinstance(payload, str) else payload


def _decode(kind: str, payload: bytes | None) -> Any:
    return payload.decode("utf-8") if kind in ("text", "error") and payload is not None else payload


class PartExtractor:
    """One actor of the pool: its own model on one thread; called with staged parts, returns each part's rows."""

    def __init__(self, spec: ModelSpec, with_text: bool):
        self.spec, self.with_text = spec, with_text
        self.tagger = load_tagger(spec, threads=1)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        parts, rows = [], []
        for staged in batch.to_pylist():
            columns = zip(staged["sources"], staged["kinds"], staged["payloads"], strict=True)
            items = [(json.loads(s), k, _decode(k, p)) for s, k, p in columns]
            parts.append(staged["part"])
            rows.append(json.dumps(extract_items(self.tagger, items, self.spec.batch_size, self.with_text)))
        return pa.table({"part": pa.array(parts, pa.int64()), "rows": pa.array(rows, pa.string())})


def _datasink_class() -> type:
    from ray.data import Datasink
    from ray.data.block import BlockAccessor

    class PartsDatasink(Datasink):
        """Commits each part's rows as its part file (written whole or not at all, as every runner does)."""

        def __init__(self, folder: str, fmt: str, with_text: bool):
            self.folder, self.fmt, self.with_text = folder, fmt, with_text
            self.results: list[tuple[int, list]] = []

        def write(self, blocks: Iterable[Any], ctx: Any) -> list[tuple[int, list]]:
            done = []
            for block in blocks:
                for part in BlockAccessor.for_block(block).to_arrow().to_pylist():
                    rows = json.loads(part["rows"])
                    commit_part(self.folder, part["part"], rows, self.fmt, self.with_text)
                    done.append((len(rows), row_errors(rows)))
            return done

        def on_write_complete(self, write_result: Any) -> None:
            self.results = [r for returns in write_result.write_returns for r in returns]

    return PartsDatasink


def run_ray(
    spec: ModelSpec, parts: Parts, pending: Iterable[tuple[int, list[Item]]], workers: int, address: str | None,
    tally: Tally,
) -> None:  # fmt: skip
    """Every pending part extracted by a pool of ``workers`` Ray actors on the cluster at ``address`` (None: a
    local Ray started here, with ``workers`` CPUs; already connected, as in tests: that one)."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise CliError("--ray needs Ray Data, an optional extra: pip install -e '.[ray]'") from None
    staging = parts.folder / "ray-input"
    shutil.rmtree(staging, ignore_errors=True)  # what a stopped run staged: the parts still to do are staged anew
    staged = _stage(pending, staging)
    if staged == 0:
        return
    started = not ray.is_initialized()
    if started:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray reports usage to its makers unless told not to
        local = {"num_cpus": workers} if address is None else {}
        try:
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, **local)
        except Exception as err:  # no cluster at that address, or it refused us: say so in one line
            raise CliError(f"cannot start or join Ray (--ray {address or ''}): {_reason(err)}") from None
    ray.data.DataContext.get_current().enable_progress_bars = sys.stderr.isatty()
    sink = _datasink_class()(str(parts.folder), parts.fmt, parts.with_text)
    try:
        # A block per part: a part is seconds of model time, and the actor pool hands out whole blocks (Ray Data
        # reads small files into one block, which would leave all but one actor idle).
        dataset = ray.data.read_parquet(str(staging)).repartition(target_num_rows_per_block=1)
        dataset = dataset.map_batches(
            PartExtractor, fn_constructor_kwargs={"spec": spec, "with_text": parts.with_text},
            batch_size=1, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=actor_cpus(ray.cluster_resources().get("CPU", workers), workers),
        )  # fmt: skip
        dataset.write_datasink(sink)
    except Exception as err:  # Ray wraps the worker's exception; the user needs its last line, not Ray's trace
        raise CliError(f"the Ray run failed: {_reason(err)}") from None
    finally:
        if started:
            ray.shutdown()
    for count, errors in sink.results:
        tally.add(count, errors)
    shutil.rmtree(staging, ignore_errors=True)


def actor_cpus(cluster_cpus: float, workers: int) -> float:
    """The CPUs each actor asks Ray for: one, less a share of one CPU left for Ray Data's listing, reading and
    writing tasks (each asks for a whole CPU).  Without it, actors holding every CPU of the cluster (--workers 2 on a
    local Ray of 2 CPUs) leave those tasks waiting forever.  Each actor runs one thread whatever it asks for."""
    return max(0.1, min(1.0, (cluster_cpus - 1) / workers))


def _reason(err: BaseException) -> str:
    while getattr(err, "cause", None) is not None:
        err = err.cause
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__
