"""Extraction from whole mail archives (``extract.py``): streaming, resumable, on all cores or on a Ray cluster.

    readers.py   the inputs, read one message at a time (mbox, Maildir, folders of .eml, JSON lines, Parquet)
    rows.py      the per-batch function every runner calls: raw items in, output rows out (through
                 ``small_lm.mail.predict_messages``, so rows keep the infer scripts' span contract)
    parts.py     the output committed in numbered parts beside it, a small state file, the final atomic merge
    local.py     one process, or ``--workers N`` processes with a model each
    ray_data.py  the same per-batch function over a Ray Data actor pool (``--ray``; Ray is an optional extra)

The messages of the inputs, in order, are cut into parts of ``--part-size`` messages: part k always holds the same
messages, and is always read as one batch by the model, so a part's rows do not depend on which runner wrote it,
when, or after how many interruptions.
"""
