"""What the server serves and how: its settings, the checkpoints named on the command line, and how each is loaded.

Loading goes through the same loader as the infer scripts (``taggers.load_tagger``), so a prediction from the
server is the one ``infer_*.py --json`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from causal_slms.slm import FAMILY as SLM
from classification.checkpoint import FAMILY as JOINT
from taggers import family_of, load_tagger

DEFAULT_BATCH_SIZE = {JOINT: 32, SLM: 16}  # the infer scripts' --batch-size defaults
# Run once per model before /readyz says yes: the first call pays for lazy initialisation (kernels, caches).
WARMUP_TEXT = "Hi Ana, can we meet next Tuesday at 3pm? Thanks, Tom (tom@example.com)"


@dataclass
class ServerSettings:
    """Every knob of the server; serve.py fills it from its flags."""

    max_batch_size: int | None = None  # texts per model call; None: the family's default (DEFAULT_BATCH_SIZE)
    max_wait_ms: float = 2.0  # how long an idle worker waits for more texts before running what it has
    max_queue: int = 512  # texts waiting per model; beyond it a request gets 503
    max_texts: int = 64  # texts per request; beyond it 413
    max_chars: int = 50_000  # characters per text; beyond it 413
    request_timeout: float = 60.0  # seconds from arrival to answer; beyond it 504
    api_key: str | None = field(default=None, repr=False)  # bearer token; never printed, not even in repr
    backend: str = "auto"  # joint model: auto (int8 where the export allows), torch, onnx, onnx-int8 (infer_bert.py)
    bf16: bool = False  # joint model: bf16 autocast (infer_bert.py --bf16)
    max_length: int = 256  # joint model: sub-words per window (infer_bert.py --max-length)
    slm_dtype: str = "float32"  # SLM weights (infer_slm.py --dtype)
    device: str | None = None  # SLM device (infer_slm.py --device)

    def batch_size(self, family: str) -> int:
        return self.max_batch_size or DEFAULT_BATCH_SIZE[family]

    def max_body_bytes(self) -> int:
        """The largest request body worth reading: every text at its limit, each character JSON-escaped as a
        surrogate pair (12 bytes), plus room for the rest.  A bigger Content-Length is refused unread (413)."""
        return self.max_texts * (self.max_chars * 12 + 16) + 4096


@dataclass(frozen=True)
class ModelSpec:
    """A checkpoint to serve, under the name clients address it by."""

    name: str
    path: Path
    family: str


def parse_model_arg(arg: str) -> ModelSpec:
    """``DIR`` (served under the folder's name) or ``NAME=DIR``."""
    name, sep, folder = arg.partition("=")
    if not sep:
        name, folder = "", arg
    path = Path(folder).expanduser()
    name = name.strip() or path.resolve().name
    return ModelSpec(name, path, family_of(path))


def load_served(spec: ModelSpec, settings: ServerSettings) -> Any:
    """The checkpoint's tagger, loaded as its infer script loads it (``taggers.load_tagger``; the family's own
    error if it is broken)."""
    return load_tagger(
        spec.path,
        spec.family,
        backend=settings.backend,
        bf16=settings.bf16,
        max_length=settings.max_length,
        dtype=settings.slm_dtype,
        device=settings.device,
    )
