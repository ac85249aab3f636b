"""generate_dataset.py as a command: flag errors, overwrite protection, backend choice, resuming after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
from fake_openai_server import FakeOpenAIServer

from generation.answers import normalize
from generation.cli import main
from generation.offline_backend import OFFLINE_ENTITY_TYPES
from generation.styles import default_mix, format_mix, styles
from small_lm.data import SCHEMA_PATH, read_dataset_file

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "generate_dataset.py"
KEY = "sk-test-CANARY-cli-51d2"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # set, not deleted, so that a developer's .env cannot fill them in
    monkeypatch.setenv("OPENAI_BASE_URL", "")


def usage_error(capsys: pytest.CaptureFixture, *argv: str) -> str:
    """The one-line error of a run that argparse-style refuses (exit status 2)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--split-fractions", "0.5,0.5,0.5"], "--split: expected three non-negative numbers summing to 1"),
        (["--split-fractions", "0.8,0.2"], "argument --split-fractions"),
        (["--split-fractions", "a,b,c"], "--split: expected three numbers like 0.8,0.1,0.1"),
        (["--split", "0.9,0.1,nan"], "--split: expected three non-negative numbers summing to 1"),  # the old name
        (["--num-examples", "0"], "argument --num-examples: expected a whole number >= 1"),
        (["--concurrency", "-2"], "argument --concurrency"),
        (["--timeout", "0"], "argument --timeout: expected a number > 0"),
        (["--retry-delay", "nan"], "argument --retry-delay"),
        (["--entity-types", "DATE,TIME ZONE"], "argument --entity-types: entity type 'TIME ZONE'"),
        (["--intents", ","], "argument --intents"),
        (["--backend", "anthropic"], "argument --backend: invalid choice"),
        (["--base-url", "localhost:8000/v1"], "argument --base-url: expected a URL like http://127.0.0.1:8000/v1"),
        (["--styles", "nope=1"], "argument --styles: unknown style 'nope'; expected some of voice, chat,"),
        (["--styles", "voice=-1"], "argument --styles: style 'voice': weight must be a finite number >= 0"),
        (["--styles", "voice=often"], "argument --styles: style 'voice': weight 'often' is not a number"),
        (["--styles", "voice=0"], "argument --styles: no style with a weight above 0"),
        (["--styles", "voice=1,chat=inf"], "argument --styles: style 'chat': weight must be a finite number >= 0"),
    ],
)
def test_bad_flags_give_one_line_errors(capsys: pytest.CaptureFixture, flags: list[str], expected: str) -> None:
    line = usage_error(capsys, "--backend", "offline", *flags)
    assert line.startswith("generate_dataset.py: error: ") and expected in line


def test_help_lists_every_style_and_the_default_mix(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for name, style in styles().items():
        [line] = [line for line in lines if line.split()[:1] == [name]]  # one line per style, starting with its name
        assert style.description[:20] in line and len(line) <= 100
        assert line.endswith("[headers]") == style.email
    assert f"default --styles {format_mix(default_mix())}" in lines


def test_existing_output_is_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    output = tmp_path / "out.json"
    output.write_text("keep me", encoding="utf-8")
    line = usage_error(capsys, "--backend", "offline", "--output", str(output))
    assert str(output) in line and "--overwrite" in line
    assert output.read_text(encoding="utf-8") == "keep me"
    with FakeOpenAIServer() as server:
        argv = ["--base-url", server.url, "--output", str(output), "--num-examples", "4", "--overwrite"]
        assert main(argv) == 0
    assert len(read_dataset_file(output)[0]["train"]) > 0


def test_unwritable_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    line = usage_error(capsys, "--backend", "offline", "--output", str(tmp_path / "file" / "out.json"))
    assert "cannot create the folder" in line
    assert "is a directory" in usage_error(capsys, "--backend", "offline", "--output", str(tmp_path))


def test_openai_backend_needs_a_key_or_a_server(monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    line = usage_error(capsys, "--backend", "openai", "--output", str(tmp_path / "out.json"))
    assert "OPENAI_API_KEY" in line and "--base-url" in line


def test_without_key_the_default_backend_is_offline(monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    status = main(["--output", str(tmp_path / "out.json"), "--num-examples", "10"])
    err = capsys.readouterr().err
    assert (
        err.splitlines()[0]
        == "generate_dataset.py: no OPENAI_API_KEY or --base-url: using the offline template generator"
    )
    assert status == 0
    document = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert document["metadata"]["generator"] == "offline" and document["metadata"]["model"] is None


@pytest.mark.parametrize("backend", [["--backend", "offline"], []])  # chosen, or the default without a key
def test_offline_backend_refuses_entity_types_it_cannot_make(
    backend: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    output = tmp_path / "out.json"
    line = usage_error(capsys, *backend, "--entity-types", "DATE,FOO,BAR", "--output", str(output))
    assert "the offline generator cannot make FOO, BAR entities" in line
    assert all(t in line for t in OFFLINE_ENTITY_TYPES) and "--backend openai" in line
    assert not output.exists()


def test_openai_backend_takes_entity_types_the_templates_cannot_make(tmp_path: Path) -> None:
    output = tmp_path / "out.json"
    with FakeOpenAIServer() as server:
        assert main(["--base-url", server.url, "--output", str(output), "--entity-types", "DATE,FOO"]) == 0
    assert read_dataset_file(output)[1].entity_types == ["DATE", "FOO"]


def test_offline_command_writes_a_valid_dataset(tmp_path: Path) -> None:
    output = tmp_path / "offline.json"
    argv = ["--backend", "offline", "--num-examples", "60", "--seed", "1", "--output", str(output)]
    argv += ["--entity-types", "DATE,TIME,NAME,EMAIL", "--intents", "inquiry,cancel", "--styles", "voice=1,raw_email=3"]
    result = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"wrote {output}: 60 examples" in result.stdout
    document = json.loads(output.read_text(encoding="utf-8"))
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    splits, info = read_dataset_file(output)
    assert [len(x) for x in splits.values()] == [48, 6, 6]
    assert (
        document["metadata"]["generator"] == "offline"
        and "Annotation guideline" in document["metadata"]["system_prompt"]
    )
    assert document["metadata"]["styles"] == {"voice": 0.25, "raw_email": 0.75}


def test_offline_backend_gets_the_styles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from generation.offline import messages

    calls = []
    real = messages.generate_offline

    def recording(*args: object, **kwargs: object) -> list[dict]:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(messages, "generate_offline", recording)
    argv = ["--backend", "offline", "--num-examples", "20", "--output", str(tmp_path / "out.json")]
    assert main([*argv, "--styles", "chat=1,invitation=3"]) == 0
    assert calls == [{"styles": {"chat": 0.25, "invitation": 0.75}}]


def partial_lines(path: Path) -> list[dict]:
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        try:
            examples.append(json.loads(line))
        except json.JSONDecodeError:  # a line being written right now
            pass
    return examples


def run_until(command: list[str], env: dict, partial: Path, lines: int, sig: int) -> subprocess.CompletedProcess:
    """Start ``command``, wait until the partial file holds ``lines`` examples, then send it ``sig``."""
    # A shell running us in the background (nohup, `cmd &`) starts children with SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler: restore the default so Ctrl-C is tested wherever the suite runs.
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler),
    )
    deadline = time.monotonic() + 30
    while len(partial_lines(partial)) < lines and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def test_interrupted_and_killed_runs_resume_without_loss(tmp_path: Path) -> None:
    output, partial = tmp_path / "out.json", tmp_path / "out.json.partial.jsonl"
    env = {**os.environ, "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "", "OMP_NUM_THREADS": "1"}
    with FakeOpenAIServer(delay_s=0.25) as server:
        command = [sys.executable, str(SCRIPT), "--base-url", server.url, "--output", str(output)]
        command += ["--num-examples", "16", "--examples-per-request", "2", "--concurrency", "1", "--seed", "3"]

        ctrl_c = run_until(command, env, partial, 4, signal.SIGINT)
        assert ctrl_c.returncode == 130, ctrl_c.stderr
        assert "interrupted" in ctrl_c.stderr and f"--output {output}" in ctrl_c.stderr
        assert "Traceback" not in ctrl_c.stderr
        after_ctrl_c = partial_lines(partial)

        crash = run_until(command, env, partial, len(after_ctrl_c) + 2, signal.SIGKILL)
        assert crash.returncode == -signal.SIGKILL
        after_crash = partial_lines(partial)
        assert after_crash[: len(after_ctrl_c)] == after_ctrl_c

        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert final.returncode == 0, final.stderr
    assert f"resuming with {len(after_crash)} examples" in final.stderr
    assert not partial.exists()
    splits, _ = read_dataset_file(output)
    texts = [x["text"] for examples in splits.values() for x in examples]
    assert len(texts) == 16 == len({normalize(t) for t in texts})
    assert {x["text"] for x in after_crash} <= set(texts)
    assert json.loads(output.read_text(encoding="utf-8"))["metadata"]["resumed_examples"] == len(after_crash)
    for stream in (ctrl_c.stdout, ctrl_c.stderr, crash.stdout, crash.stderr, final.stdout, final.stderr):
        assert KEY not in stream
    assert KEY not in output.read_text(encoding="utf-8")
