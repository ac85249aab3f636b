"""generate_dataset.py --batch: requests through the OpenAI Batch API (files, batches, polling, downloads) against
the loopback stand-in, driven through the real ``openai`` client; resuming after a kill; retries of lines that
expired or failed; the split of big runs into several batches."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_openai_server import FakeOpenAIServer
from test_annotate import MESSAGES, annotator, write_mbox

from generation import batch
from generation.cli import main
from generation.openai_backend import price
from small_lm.data import read_dataset_file

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-test-CANARY-batch-4be7"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "")


def flags(server: FakeOpenAIServer, output: Path) -> list[str]:
    return ["--base-url", server.url, "--output", str(output), "--poll-interval", "0.01", "--yes", "--timeout", "5"]


def uploaded_requests(server: FakeOpenAIServer) -> list[dict]:
    """Every request line of every batch input file, in upload order."""
    lines = []
    for file in server.files.values():
        if file["purpose"] == "batch":
            lines += [json.loads(line) for line in file["content"].decode().splitlines()]
    return lines


def examples_of(path: Path) -> tuple[list[dict], dict]:
    splits, info = read_dataset_file(path)
    return [x for xs in splits.values() for x in xs], info.metadata


def test_annotate_batch_sends_the_synchronous_bodies_at_half_the_price(tmp_path: Path) -> None:
    mbox = write_mbox(tmp_path / "inbox.mbox", MESSAGES)
    with FakeOpenAIServer(annotator=annotator) as server:
        assert main(["--annotate", str(mbox), *flags(server, tmp_path / "sync.json")]) == 0
        assert main(["--annotate", str(mbox), "--batch", *flags(server, tmp_path / "batch.json")]) == 0
    assert len(server.batches_created) == 1
    [created] = server.batches.values()
    assert created["completion_window"] == "24h" and created["endpoint"] == "/v1/chat/completions"
    lines = uploaded_requests(server)
    assert all(line["method"] == "POST" and line["url"] == "/v1/chat/completions" for line in lines)
    # The same body as the synchronous call, strict json_schema included.
    assert sorted(json.dumps(line["body"]) for line in lines) == sorted(map(json.dumps, server.chat_bodies))
    sync, sync_meta = examples_of(tmp_path / "sync.json")
    got, meta = examples_of(tmp_path / "batch.json")
    assert sorted(x["text"] for x in got) == sorted(x["text"] for x in sync) and len(got) == 1
    assert meta["rejected"] == sync_meta["rejected"]  # the refusal and the unalignable answer, as before
    assert meta["usage"]["prompt_tokens"] == sync_meta["usage"]["prompt_tokens"] > 0
    assert meta["usage"]["estimated_cost_usd"] == pytest.approx(sync_meta["usage"]["estimated_cost_usd"] / 2)
    assert meta["batch_api"] is True
    assert not (tmp_path / "batch.json.batch").exists()  # the messages do not linger on disk
    # ... nor in the account's file storage: the input, output and error files are deleted once downloaded.
    assert (
        sorted(server.deleted_files)
        == sorted(
            file_id
            for file_id in (created["input_file_id"], created["output_file_id"], created["error_file_id"])
            if file_id
        )
        and len(server.deleted_files) >= 2
    )


def test_failed_and_expired_lines_go_again_in_a_new_batch(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    many = [dict(MESSAGES[0], subject=f"Kiln rota {i}") for i in range(6)]
    mbox = write_mbox(tmp_path / "inbox.mbox", many, duplicate=None)
    answer = MESSAGES[0]["answer"]
    # The first batch: an expired line and a server error among its six; the second batch runs the two again.
    with FakeOpenAIServer(annotator=lambda text: answer, line_script=["ok", "expired", "ok", "500"]) as server:
        assert main(["--annotate", str(mbox), "--batch", *flags(server, tmp_path / "out.json")]) == 0
    assert len(server.batches_created) == 2
    second = [
        json.loads(x)
        for x in server.files[server.batches[server.batches_created[1]]["input_file_id"]]["content"]
        .decode()
        .splitlines()
    ]
    assert len(second) == 2
    got, meta = examples_of(tmp_path / "out.json")
    assert len(got) == 6
    assert meta["requests"] == {"sent": 8, "retries": 0, "failed": 0}
    assert "sending them again in a new batch" in capfd.readouterr().err


def test_an_expired_batch_keeps_its_answers_and_retries_the_rest(tmp_path: Path) -> None:
    many = [dict(MESSAGES[0], subject=f"Kiln rota {i}") for i in range(4)]
    mbox = write_mbox(tmp_path / "inbox.mbox", many, duplicate=None)
    with FakeOpenAIServer(annotator=lambda text: MESSAGES[0]["answer"], batch_script=["expired"]) as server:
        assert main(["--annotate", str(mbox), "--batch", *flags(server, tmp_path / "out.json")]) == 0
    assert len(server.batches_created) == 2
    assert len(examples_of(tmp_path / "out.json")[0]) == 4


def test_lines_that_never_get_an_answer_are_reported(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    many = [dict(MESSAGES[0], subject=f"Kiln rota {i}") for i in range(3)]
    mbox = write_mbox(tmp_path / "inbox.mbox", many, duplicate=None)
    # The first line fails with a server error in every round; the others are answered.
    script = ["500", "ok", "ok", "500", "500"]
    with FakeOpenAIServer(annotator=lambda text: MESSAGES[0]["answer"], line_script=script) as server:
        assert main(["--annotate", str(mbox), "--batch", *flags(server, tmp_path / "out.json")]) == 0
    assert len(server.batches_created) == batch_rounds()
    got, meta = examples_of(tmp_path / "out.json")
    assert len(got) == 2 and meta["requests"]["failed"] == 1
    assert "1 messages got no answer: HTTP 500" in capfd.readouterr().err


def batch_rounds() -> int:
    from generation.runs import MAX_ROUNDS

    return MAX_ROUNDS


def test_big_runs_are_split_into_several_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "MAX_REQUESTS", 2)
    many = [dict(MESSAGES[0], subject=f"Kiln rota {i}") for i in range(5)]
    mbox = write_mbox(tmp_path / "inbox.mbox", many, duplicate=None)
    with FakeOpenAIServer(annotator=lambda text: MESSAGES[0]["answer"]) as server:
        assert main(["--annotate", str(mbox), "--batch", *flags(server, tmp_path / "out.json")]) == 0
    assert len(server.batches_created) == 3
    assert len(examples_of(tmp_path / "out.json")[0]) == 5


def test_chunks_respect_the_byte_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "MAX_BYTES", 100)
    lines = ["x" * 39 + "\n"] * 5  # 40 bytes each: two fit under 100
    assert [len(chunk) for chunk in batch.chunks(lines)] == [2, 2, 1]
    monkeypatch.setattr(batch, "MAX_BYTES", 10)
    assert [len(chunk) for chunk in batch.chunks(lines)] == [1, 1, 1, 1, 1]  # a line alone always goes


def test_generate_batch_writes_the_dataset_at_half_the_price(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        args = ["--batch", "--num-examples", "20", "--examples-per-request", "4", "--styles", "voice,chat"]
        assert main([*args, *flags(server, tmp_path / "out.json")]) == 0
    got, meta = examples_of(tmp_path / "out.json")
    assert len(got) == 20 and len(server.batches_created) == 1
    usage = meta["usage"]
    full = price("gpt-4.1-mini", usage["prompt_tokens"], usage["completion_tokens"])
    assert usage["estimated_cost_usd"] == pytest.approx(full / 2) and full > 0


def test_generate_batch_tops_up_after_rejections(tmp_path: Path) -> None:
    # Every line of the first batch gives an answer with one message that cannot be aligned.
    with FakeOpenAIServer(line_script=["missing_entity"] * 6) as server:
        args = ["--batch", "--num-examples", "20", "--examples-per-request", "4", "--styles", "voice,chat"]
        assert main([*args, *flags(server, tmp_path / "out.json")]) == 0
    got, meta = examples_of(tmp_path / "out.json")
    assert len(got) == 20 and len(server.batches_created) == 2
    assert meta["rejected"]["entity_not_in_text"] == 6


def test_a_killed_run_resumes_polling_and_never_creates_a_second_batch(tmp_path: Path) -> None:
    mbox = write_mbox(tmp_path / "inbox.mbox", MESSAGES)
    output = tmp_path / "out.json"
    state = tmp_path / "out.json.batch" / "state.json"
    # The batch stays in progress for 40 polls: the run is killed while it polls.
    with FakeOpenAIServer(annotator=annotator, batch_polls=40) as server:
        command = [sys.executable, str(ROOT / "generate_dataset.py"), "--annotate", str(mbox), "--batch"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen([*command, *flags(server, output)], env=env, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not (state.exists() and json.loads(state.read_text())["parts"][0]["batch_id"]):
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read().decode()
            time.sleep(0.05)
        time.sleep(0.3)  # a few polls
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not output.exists()
        # The key is never in a file: not the state, not the requests.
        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert len(files) >= 3 and all(KEY.encode() not in p.read_bytes() for p in files)
        assert main(["--annotate", str(mbox), "--batch", *flags(server, output)]) == 0
    assert len(server.batches_created) == 1 and len(uploaded_requests(server)) == 3
    assert len(examples_of(output)[0]) == 1


def test_a_batch_created_just_before_a_crash_is_found_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mbox = write_mbox(tmp_path / "inbox.mbox", MESSAGES)
    output = tmp_path / "out.json"
    real_save = batch.BatchRun.save

    def crash_once_created(self: batch.BatchRun) -> None:
        if any(part.batch_id for part in self.parts):
            raise KeyboardInterrupt  # the batch exists at OpenAI, but its id never reached the state file
        real_save(self)

    with FakeOpenAIServer(annotator=annotator) as server:
        monkeypatch.setattr(batch.BatchRun, "save", crash_once_created)
        assert main(["--annotate", str(mbox), "--batch", *flags(server, output)]) == 130
        monkeypatch.setattr(batch.BatchRun, "save", real_save)
        assert main(["--annotate", str(mbox), "--batch", *flags(server, output)]) == 0
    assert len(server.batches_created) == 1
    assert len(examples_of(output)[0]) == 1


def test_a_server_without_the_batch_api_is_named(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    mbox = write_mbox(tmp_path / "inbox.mbox", MESSAGES)
    with FakeOpenAIServer(annotator=annotator) as server:
        url = server.url.removesuffix("/v1") + "/nobatch/v1"  # every route 404s
        args = ["--annotate", str(mbox), "--batch", *flags(server, tmp_path / "out.json")]
        args[args.index(server.url)] = url
        assert main(args) == 1
    err = capfd.readouterr().err
    assert "has no Batch API" in err and "Traceback" not in err


def test_a_failed_batch_is_reported_not_resent(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    many = [dict(MESSAGES[0], subject=f"Kiln rota {i}") for i in range(3)]
    mbox = write_mbox(tmp_path / "inbox.mbox", many, duplicate=None)
    with FakeOpenAIServer(annotator=lambda text: MESSAGES[0]["answer"], batch_script=["failed"]) as server:
        assert main(["--annotate", str(mbox), "--batch", *flags(server, tmp_path / "out.json")]) == 1
    assert len(server.batches_created) == 1  # failing as a whole, it would fail again
    err = capfd.readouterr().err
    assert "3 messages got no answer: batch failed" in err and "no answer could be used" in err


def test_a_rejected_key_is_never_echoed(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    mbox = write_mbox(tmp_path / "inbox.mbox", MESSAGES)
    with FakeOpenAIServer(annotator=annotator, api_key="sk-the-right-one") as server:
        assert main(["--annotate", str(mbox), "--batch", *flags(server, tmp_path / "out.json")]) == 1
    out, err = capfd.readouterr()
    assert "Incorrect API key provided: ***" in err and KEY not in out + err
    assert all(KEY.encode() not in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
