"""Serve checkpoints of both families over HTTP: FastAPI + uvicorn, with dynamic batching, limits and metrics.

    python serve.py trained_models/bert-mix-2000-seed1
    python serve.py bert=trained_models/bert-mix-2000-seed1 slm=trained_models/slm-demo --port 8080
    python serve.py trained_models/bert-demo --backend torch   # the joint model runs int8 unless told otherwise
    curl -s localhost:8000/v1/extract -H 'Content-Type: application/json' \\
        -d '{"texts": ["Can we meet Friday at 3pm? - Ana"]}'

Each MODEL_DIR is a checkpoint of classification/train_bert.py or causal_slms/train_slm.py (the family is
recognised from its files), served under its folder's name or NAME= before it.  API: POST /v1/extract
{"model": NAME, "texts": [...]} answers per text what infer_*.py --json prints; GET /v1/models, /healthz, /readyz
(200 once every model is loaded and warmed up), /metrics (Prometheus) and /docs (OpenAPI).

It listens on 127.0.0.1 unless --host says otherwise.  When SMALL_LM_API_KEY is set (environment, or .env beside
this script) every /v1/ request needs "Authorization: Bearer <key>".  SIGTERM or Ctrl-C: stop accepting, answer
every request already accepted, then exit.
"""

from __future__ import annotations

import small_lm.runtime  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch is loaded; see small_lm/runtime.py)

# isort: split
import argparse
import logging
import os
import signal
import sys
from pathlib import Path

import uvicorn
from dotenv import dotenv_values

from classification.onnx_backend import BACKENDS
from serving import ServerSettings, create_app, parse_model_arg
from serving.app import Service

ENV_FILE = Path(__file__).resolve().with_name(".env")  # where generate_dataset.py reads its key from too
log = logging.getLogger("serving")


def read_api_key(env_file: Path = ENV_FILE) -> str | None:
    """SMALL_LM_API_KEY from the environment, else from ``env_file``; None when unset or blank.

    ``.env`` is read with python-dotenv like generate_dataset.py does, but only this one value is taken, so the
    server's environment does not gain the file's other secrets (an OpenAI key)."""
    key = os.environ.get("SMALL_LM_API_KEY")
    if key is None and env_file.is_file():
        key = dotenv_values(env_file).get("SMALL_LM_API_KEY")
    return (key or "").strip() or None


def build_parser() -> argparse.ArgumentParser:
    d = ServerSettings()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", metavar="MODEL_DIR", help="checkpoint folder, or NAME=folder")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    g = p.add_argument_group("batching")
    g.add_argument("--max-batch-size", type=int, help="texts per model call (default: 32 joint, 16 SLM)")
    g.add_argument(
        "--max-wait-ms",
        type=float,
        default=d.max_wait_ms,
        help=f"an idle model waits this long for more texts before it runs (default: {d.max_wait_ms:g})",
    )
    g = p.add_argument_group("limits")
    g.add_argument(
        "--max-queue",
        type=int,
        default=d.max_queue,
        help=f"texts waiting per model; beyond it 503 + Retry-After (default: {d.max_queue})",
    )
    g.add_argument(
        "--max-texts", type=int, default=d.max_texts, help=f"texts per request; beyond it 413 (default: {d.max_texts})"
    )
    g.add_argument(
        "--max-chars",
        type=int,
        default=d.max_chars,
        help=f"characters per text; beyond it 413 (default: {d.max_chars})",
    )
    g.add_argument(
        "--request-timeout",
        type=float,
        default=d.request_timeout,
        help=f"seconds to answer a request; beyond it 504 (default: {d.request_timeout:g})",
    )
    g.add_argument(
        "--drain-timeout",
        type=float,
        default=120.0,
        help="on SIGTERM, seconds to finish accepted requests before giving up on them (default: 120)",
    )
    g = p.add_argument_group("models")
    g.add_argument(
        "--backend",
        choices=BACKENDS,
        default=d.backend,
        help="joint model, as infer_bert.py --backend: auto is int8 when the checkpoint's export allows it, else "
        "ONNX fp32, else torch (the log says which)",
    )
    g.add_argument("--bf16", action="store_true", help="joint model: bf16 autocast (as infer_bert.py --bf16)")
    g.add_argument("--max-length", type=int, default=d.max_length, help="joint model: sub-words per window")
    g.add_argument("--slm-dtype", choices=["float32", "bfloat16"], default=d.slm_dtype, help="SLM: weights in memory")
    g.add_argument("--device", help="SLM: cpu, cuda, ... (default: cuda if there is a GPU, else cpu)")
    g = p.add_argument_group("logging")
    g.add_argument("--access-log", action="store_true", help="log each request line (method, path, status; no body)")
    g.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p  # fmt: skip


class Server(uvicorn.Server):
    """uvicorn's server, which on SIGTERM/SIGINT first tells the app to refuse new work and stop holding texts back
    for fuller batches; uvicorn then stops accepting connections and waits for the requests in flight."""

    def __init__(self, config: uvicorn.Config, service: Service) -> None:
        super().__init__(config)
        self.service = service

    def handle_exit(self, sig: int, frame) -> None:
        self.service.begin_drain_threadsafe()
        super().handle_exit(sig, frame)


def _exit_quietly(signum: int, frame) -> None:
    # uvicorn re-raises the signal it caught once it has shut down gracefully; by then all is done, so exit 0
    # instead of dying of the signal (or printing a KeyboardInterrupt traceback).
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(message)s")
    try:
        specs = [parse_model_arg(arg) for arg in args.models]
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, value in [("--max-batch-size", args.max_batch_size or 1), ("--max-queue", args.max_queue),
                        ("--max-texts", args.max_texts), ("--max-chars", args.max_chars)]:  # fmt: skip
        if value < 1:
            print(f"error: {name} must be at least 1", file=sys.stderr)
            return 2
    if args.bf16 and args.backend not in ("auto", "torch"):
        print("error: --bf16 is for the torch backend (ONNX files carry their own precision)", file=sys.stderr)
        return 2
    settings = ServerSettings(
        max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms, max_queue=args.max_queue,
        max_texts=args.max_texts, max_chars=args.max_chars, request_timeout=args.request_timeout,
        api_key=read_api_key(), backend=args.backend, bf16=args.bf16, max_length=args.max_length,
        slm_dtype=args.slm_dtype, device=args.device,
    )  # fmt: skip
    failed: list[str] = []

    def on_load_error(name: str, reason: str) -> None:  # a server that can never be ready should say so and stop
        failed.append(name)
        server.should_exit = True

    try:
        app = create_app(specs, settings, on_load_error=on_load_error)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log,
        timeout_graceful_shutdown=args.drain_timeout, log_config=None,  # keep basicConfig's handler
    )  # fmt: skip
    server = Server(config, app.state.service)
    for spec in specs:
        log.info("serving %s (%s) as %r", spec.path, spec.family, spec.name)
    if settings.api_key:
        log.info("a bearer token is required on /v1/ (SMALL_LM_API_KEY)")
    elif args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s without SMALL_LM_API_KEY: anyone who reaches it can use it", args.host)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_quietly)
    server.run()
    if failed:
        print(f"error: {', '.join(failed)} failed to load (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
