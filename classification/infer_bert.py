"""Read emails with a joint entity + intent checkpoint written by train_bert.py.

    python classification/infer_bert.py trained_models/bert-demo "Can we move our call to Friday 3pm?"
    python classification/infer_bert.py trained_models/bert-demo --file inbox.mbox --json
    python classification/infer_bert.py trained_models/bert-demo --file message.eml
    cat message.txt | python classification/infer_bert.py trained_models/bert-demo
    python classification/infer_bert.py trained_models/bert-demo --backend torch --file inbox.mbox

--file takes an mbox file (every message), an .eml file, a folder of .eml files, JSON lines with "text", or a
text file holding one message (a pasted raw message with headers is recognised); --split-blank-lines reads a
text file as several short emails separated by blank lines.  With neither texts nor --file, standard input.
Transport and MIME header lines are never shown to the model (see small_lm/mail.py).
The model runs on ONNX Runtime int8 when the checkpoint folder has its export (train_bert.py writes it) and int8
cost at most half a point against fp32 on validation; else on the ONNX fp32 file; else on torch.  It says which on
standard error; --backend picks one (an older checkpoint gets its export from classification/export_onnx.py).
"""

from __future__ import annotations

import small_lm.runtime  # noqa: F401  (first: sets OMP_WAIT_POLICY, which must come before torch is loaded)

# isort: split
import argparse
import sys

from classification.checkpoint import FAMILY
from classification.onnx_backend import BACKENDS
from small_lm.cli import HelpFormatter
from small_lm.io import print_predictions
from small_lm.mail import InputError, add_input_arguments, predict_messages, read_messages
from taggers import LoadError, load_tagger


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    add_input_arguments(p, "classification/train_bert.py")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast: faster on CPUs with AVX512-BF16 or AMX")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="auto: int8 when the checkpoint's export allows it, else ONNX fp32, else torch; or one of them",
    )
    p.add_argument(
        "--max-length",
        type=int,
        default=256,
        help="model tokens (sub-words) per window; a longer email is read in overlapping windows",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.bf16 and args.backend not in ("auto", "torch"):
        print("error: --bf16 is for the torch backend (ONNX files carry their own precision)", file=sys.stderr)
        return 2
    try:
        tagger = load_tagger(args.model, FAMILY, max_length=args.max_length, bf16=args.bf16, backend=args.backend)
        messages = read_messages(args.texts, args.file, args.split_blank_lines)
    except (*LoadError, InputError) as err:  # a runtime error: exit 1 (2 is for usage, as argparse's)
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"backend: {tagger.backend} ({tagger.backend_reason})", file=sys.stderr)
    predictions = predict_messages(tagger, messages, batch_size=args.batch_size)
    print_predictions(predictions, as_json=args.json)
    for p in predictions:
        if p.get("error"):
            print(f"error: {p['source']}: {p['error']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
