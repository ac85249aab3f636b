"""extract.py: every input kind read one message at a time, a bad message among good ones, resume after a real
kill, and Ray Data's output equal to one process's (a local Ray of 2 CPUs, shared by this module's tests)."""

from __future__ import annotations

import json
import mailbox
import os
import signal
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import NEEDLE

import extract
from classification.joint import JointTagger
from extraction import parts as parts_module
from extraction.readers import split_mbox
from extraction.rows import extract_items
from small_lm.mail import predict_messages, read_messages

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "mail"


def needle_email(i: int) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = "Ana Ruiz <ana@example.com>", "team@example.com"
    message["Subject"], message["Message-ID"] = f"plan {i}", f"<n{i}@example.com>"
    message.set_content(f"hello {NEEDLE}, see you then\n\nFrom here on, the plan for the week {i}\n")
    return message


def write_mbox(path: Path, n: int, start: int = 0) -> Path:
    box = mailbox.mbox(path)
    for i in range(start, start + n):
        box.add(needle_email(i))
    box.close()
    return path


def write_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return path


def run(*argv: str) -> int:
    return extract.main([str(a) for a in argv])


def rows_of(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_split_mbox_gives_mailbox_mbox_bytes(tmp_path: Path):
    """The streaming splitter ends each message where mailbox.mbox does (a body line "From here on" is escaped by
    mailbox, a last message without a trailing blank line, the fixture's cut-short message)."""
    made = write_mbox(tmp_path / "a.mbox", 3)
    made.write_bytes(made.read_bytes() + b"From x@y Mon Sep  1 10:00:00 2025\nSubject: last\n\nno blank line after")
    for path in (made, FIXTURES / "inbox.mbox"):
        box = mailbox.mbox(path, create=False)
        assert list(split_mbox(path)) == [box.get_bytes(key) for key in box.keys()]
        box.close()


def test_every_input_kind_is_read_with_its_source(tmp_path: Path, needle_tagger: Path):
    mbox = write_mbox(tmp_path / "inbox.mbox", 3)
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    keys = sorted(maildir.add(needle_email(i)) for i in range(10, 13))
    eml_folder = tmp_path / "saved"
    eml_folder.mkdir()
    for i in (20, 21):
        (eml_folder / f"m{i}.eml").write_bytes(needle_email(i).as_bytes())
    eml = tmp_path / "one.eml"
    eml.write_bytes(needle_email(30).as_bytes())
    texts = [f"hello {NEEDLE}, see you then", f"hello {NEEDLE}, lunch is on me", f"hello {NEEDLE}, all good here"]
    jsonl = write_jsonl(tmp_path / "lines.jsonl", texts)
    parquet = tmp_path / "table.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "text": texts}), parquet)
    inputs = [mbox, tmp_path / "Maildir", eml_folder, eml, jsonl, parquet]

    out = tmp_path / "out.jsonl"
    # Parts of 3: the mbox's messages are one batch, as infer_bert.py reads them (compared below).
    assert run(needle_tagger, *inputs, "--output", out, "--with-text", "--workers", "1", "--part-size", "3") == 0
    rows = rows_of(out)
    sources = [{k: v for k, v in r["source"].items() if k != "message_id"} for r in rows]
    assert sources == (
        [{"file": str(mbox), "index": i} for i in range(3)]
        + [{"file": str(tmp_path / "Maildir"), "key": key} for key in keys]
        + [{"file": str(eml_folder / f"m{i}.eml")} for i in (20, 21)]
        + [{"file": str(eml)}]
        + [{"file": str(jsonl), "line": n} for n in (1, 2, 3)]
        + [{"file": str(parquet), "index": i} for i in range(3)]
    )
    ids = [r["source"].get("message_id") for r in rows[:9]]
    assert ids == [f"<n{i}@example.com>" for i in (0, 1, 2, 10, 11, 12, 20, 21, 30)]
    for row in rows:
        assert "error" not in row
        assert all(row["text"][e["start"] : e["end"]] == e["text"] for e in row["entities"]), "offsets index text"
        assert NEEDLE in [e["text"] for e in row["entities"]], row["source"]
    # The rows are the infer scripts' predictions (the same reader, the same predict_messages).
    tagger = JointTagger.from_pretrained(needle_tagger)
    expected = predict_messages(tagger, read_messages([], str(mbox)), batch_size=32)
    assert [(r["intent"], r["intent_score"], r["entities"]) for r in rows[:3]] == [
        (p["intent"], p["intent_score"], p["entities"]) for p in expected
    ]
    # Parquet holds the same rows (absent keys as nulls).
    as_parquet = tmp_path / "out.parquet"
    assert run(needle_tagger, *inputs, "--output", as_parquet, "--with-text", "--workers", "1", "--part-size", "3") == 0
    for a, b in zip(rows_of(as_parquet), rows, strict=True):
        assert {**{k: v for k, v in a.items() if v is not None}, "source": {k: v for k, v in a["source"].items()
                if v is not None}, "intent": a["intent"], "intent_score": a["intent_score"]} == b  # fmt: skip


def test_a_bad_message_gets_an_error_and_the_others_go_on(tmp_path: Path, needle_tagger: Path, capsys):
    jsonl = tmp_path / "lines.jsonl"
    jsonl.write_text(json.dumps({"text": f"hello {NEEDLE}"}) + '\n{"text": broken\n' + json.dumps({"txt": 1}) + "\n")
    parquet = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": [f"see you then {NEEDLE}", None]}), parquet)
    out = tmp_path / "out.jsonl"
    assert run(needle_tagger, FIXTURES / "inbox.mbox", jsonl, parquet, "--output", out, "--workers", "1") == 0
    rows = rows_of(out)
    errors = [r.get("error") for r in rows]
    assert len(rows) == 3 + 3 + 2
    assert "no text part" in errors[1] and errors[0] is None and errors[2] is None, "the mbox's attachment-only one"
    assert errors[3] is None and "not valid JSON" in errors[4] and "string field 'text'" in errors[5]
    assert errors[6] is None and "null" in errors[7]
    assert NEEDLE in [e["text"] for e in rows[3]["entities"]]
    err = capsys.readouterr().err
    assert "'line': 2}: not valid JSON" in err and "8 messages, 4 with an error" in err


class FailsOn:
    """A tagger that raises when a batch holds a given word, as a model may on one strange message."""

    def __init__(self, tagger, word: str):
        self.tagger, self.word = tagger, word

    def predict(self, texts, batch_size=32):
        if any(self.word in t for t in texts):
            raise RuntimeError("index out of range in self")
        return self.tagger.predict(texts, batch_size=batch_size)


def test_a_message_the_model_fails_on_costs_only_its_own_row(needle_tagger: Path):
    tagger = FailsOn(JointTagger.from_pretrained(needle_tagger), "poison")
    items = [
        ({"file": "x", "line": n}, "text", t)
        for n, t in enumerate([f"hello {NEEDLE}, see you then", "poison", f"hello {NEEDLE}, all good here"])
    ]
    rows = extract_items(tagger, items, batch_size=8)
    assert [bool(r.get("error")) for r in rows] == [False, True, False]
    assert "index out of range" in rows[1]["error"] and NEEDLE in [e["text"] for e in rows[2]["entities"]]


def test_usage_and_input_errors_are_one_line(tmp_path: Path, needle_tagger: Path, capsys):
    mbox = write_mbox(tmp_path / "a.mbox", 2)
    with pytest.raises(SystemExit) as usage:
        run(needle_tagger, mbox, "--output", tmp_path / "out.csv")
    assert usage.value.code == 2
    no_text = tmp_path / "t.parquet"
    pq.write_table(pa.table({"body": ["x"]}), no_text)
    cases = [(tmp_path / "missing.mbox", "no such file or folder"), (no_text, "no 'text' column (its columns: body)")]
    for bad, says in cases:
        capsys.readouterr()
        assert run(needle_tagger, bad, "--output", tmp_path / "o.jsonl") == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"error: {bad}: {says}"]
    assert run(tmp_path, mbox, "--output", tmp_path / "o.jsonl") == 1, "not a checkpoint"
    out = tmp_path / "done.jsonl"
    out.write_text("keep me\n")
    assert run(needle_tagger, mbox, "--output", out, "--workers", "1") == 1
    assert out.read_text() == "keep me\n" and "--overwrite" in capsys.readouterr().err
    assert run(needle_tagger, mbox, "--output", out, "--workers", "1", "--overwrite") == 0
    assert len(rows_of(out)) == 2


def test_a_part_is_written_whole_or_not_at_all(tmp_path: Path, monkeypatch):
    def torn(path, rows, fmt, with_text):
        path.write_text(json.dumps(rows[0]) + "\n")
        raise OSError("disk full")

    monkeypatch.setattr(parts_module, "write_rows", torn)
    with pytest.raises(OSError):
        parts_module.commit_part(tmp_path, 3, [{"a": 1}, {"a": 2}], "jsonl", False)
    assert list(tmp_path.iterdir()) == [], "neither a torn part-00000003.jsonl nor its temp file"


def test_killed_mid_run_and_resumed_every_message_once(tmp_path: Path, needle_tagger: Path, capsys):
    """A real extract.py with 2 workers, SIGKILLed once some parts are committed; the same command finishes it."""
    psutil = pytest.importorskip("psutil")
    mbox = write_mbox(tmp_path / "big.mbox", 48)
    argv = [needle_tagger, mbox, "--output", tmp_path / "out.jsonl", "--part-size", "4", "--workers", "2"]
    assert run(needle_tagger, mbox, "--output", tmp_path / "ref.jsonl", "--part-size", "4", "--workers", "1") == 0
    env = {**os.environ, "SMALL_LM_TEST_PART_DELAY": "0.4"}  # 12 parts of 0.4 s: seconds to kill it in
    proc = subprocess.Popen([sys.executable, ROOT / "extract.py", *argv], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    folder = tmp_path / "out.jsonl.parts"
    deadline = time.monotonic() + 180
    while len(list(folder.glob("part-*.jsonl"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"it ended before the kill: {proc.stderr.read().decode()[-2000:]}"
    committed = len(list(folder.glob("part-*.jsonl")))
    assert 3 <= committed < 12 and not (tmp_path / "out.jsonl").exists()
    _, alive = psutil.wait_procs(workers, timeout=15)
    for orphan in alive:  # only if the assertion below fails: leave no process of this test behind
        orphan.kill()
    assert not alive, "the workers die with the run that started them"

    capsys.readouterr()
    assert run(*argv[:-1], "1") == 0, "the same command (--workers does not change what is extracted)"
    done_before = committed * 4
    assert f"{48 - done_before} messages in" in capsys.readouterr().err, "only the parts not yet committed are done"
    rows = rows_of(tmp_path / "out.jsonl")
    assert [r["source"]["index"] for r in rows] == list(range(48)), "every message exactly once, in order"
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "ref.jsonl").read_bytes()
    assert not folder.exists()


def test_a_stopped_run_is_only_continued_by_the_same_arguments(
    tmp_path: Path, needle_tagger: Path, monkeypatch, capsys
):
    mbox = write_mbox(tmp_path / "a.mbox", 12)
    out = tmp_path / "out.jsonl"
    calls = []

    def interrupt_after_two(self, count, errors):
        calls.append(count)
        if len(calls) == 2:
            raise KeyboardInterrupt
        original(self, count, errors)

    original = extract.Tally.add
    monkeypatch.setattr(extract.Tally, "add", interrupt_after_two)
    assert run(needle_tagger, mbox, "--output", out, "--part-size", "4", "--workers", "1") == 130
    monkeypatch.undo()
    assert "interrupted" in capsys.readouterr().err
    assert run(needle_tagger, mbox, "--output", out, "--part-size", "4", "--batch-size", "2", "--workers", "1") == 1
    assert "differ in: batch_size" in capsys.readouterr().err
    assert run(needle_tagger, mbox, "--output", out, "--part-size", "4", "--workers", "1") == 0
    assert "continuing the stopped run" in capsys.readouterr().err
    assert [r["source"]["index"] for r in rows_of(out)] == list(range(12))


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="the Ray extra: pip install -e '.[ray]'")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # CI has no network: nothing to report to
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Data's own settings, read when it copies them
def test_ray_data_writes_what_one_process_writes(tmp_path: Path, needle_tagger: Path, local_ray):
    inputs = [write_mbox(tmp_path / "a.mbox", 20), write_jsonl(tmp_path / "b.jsonl", [f"hi {NEEDLE}", "x"] * 6)]
    single, on_ray = tmp_path / "single.parquet", tmp_path / "ray.parquet"
    assert run(needle_tagger, *inputs, "--output", single, "--part-size", "4", "--workers", "1") == 0
    assert run(needle_tagger, *inputs, "--output", on_ray, "--part-size", "4", "--workers", "2", "--ray") == 0
    assert rows_of(on_ray) == rows_of(single) and len(rows_of(single)) == 32


def test_a_smollm2_checkpoint_goes_through_the_same_command(tmp_path: Path, capsys):
    from slm_fixtures import build_tiny_model, train_tiny_checkpoint

    from causal_slms import infer_slm

    checkpoint = train_tiny_checkpoint(build_tiny_model(tmp_path / "tiny-llama"), tmp_path / "slm")
    capsys.readouterr()  # what training printed
    mbox = FIXTURES / "inbox.mbox"
    assert infer_slm.main([str(checkpoint), "--file", str(mbox), "--json"]) == 0
    expected = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    out = tmp_path / "out.jsonl"
    assert run(checkpoint, mbox, "--output", out, "--workers", "1", "--with-text") == 0
    keys = ("source", "intent", "intent_score", "entities", "error", "text")
    assert [{k: r.get(k) for k in keys} for r in rows_of(out)] == [{k: p.get(k) for k in keys} for p in expected]
