"""GGUF checkpoints: eval reads the bundled SmolLM2-135M GGUF directly, training refuses it naming
`infimed model convert`, and the converted folder answers exactly like the GGUF (float32)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infimed.cli import app
from infimed.io.jsonl import write_jsonl
from infimed.model.gguf import GgufError, convert_gguf
from infimed.model.loading import ModelLoadError, resolve_model

runner = CliRunner()
QUESTIONS = [
    {"id": "capital", "question": "What is the capital of France?", "answer": "Paris", "answer_type": "open"},
    {"id": "legs", "question": "Does a spider have eight legs?", "answer": "yes", "answer_type": "yes_no"},
    {"id": "organ", "question": "Which organ pumps blood?", "options": {"A": "Liver", "B": "Heart"},
     "answer": "B", "answer_type": "choice"},
]


@pytest.fixture(scope="session")
def smollm2() -> Path:
    from infimed.curate.scorers.ifd import smollm2_gguf

    try:
        path = smollm2_gguf()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="session")
def converted(smollm2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("smollm2") / "smollm2-135m"
    result = runner.invoke(app, ["model", "convert", str(smollm2), "--out", str(out), "--dtype", "float32"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def questions(tmp_path: Path) -> Path:
    path = tmp_path / "questions.jsonl"
    write_jsonl(path, QUESTIONS)
    return path


def _not_gguf(tmp_path: Path) -> Path:
    fake = tmp_path / "renamed.gguf"
    fake.write_bytes(b"PK\x03\x04 a zip file under a .gguf name")
    return fake


def test_resolve_accepts_gguf_for_inference_and_refuses_it_for_training(smollm2: Path) -> None:
    assert resolve_model(smollm2) == str(smollm2.resolve())
    with pytest.raises(ModelLoadError) as info:
        resolve_model(smollm2, gguf_refused_for="training")
    message = str(info.value)
    assert "a GGUF file, which training does not take" in message and "\n" not in message
    assert f"infimed model convert {smollm2} --out DIR" in message


def test_a_file_that_is_not_gguf_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"renamed\.gguf: not a GGUF file"):
        resolve_model(_not_gguf(tmp_path))
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match=r"pass the checkpoint folder \(or a \.gguf file\)"):
        resolve_model(weights)


def test_train_sft_refuses_gguf_in_one_line_naming_convert(smollm2: Path, questions: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "sft", "--model", str(smollm2), "--data", str(questions),
                                 "--out", str(tmp_path / "run")], env={"COLUMNS": "500"})
    assert result.exit_code == 1
    [line] = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert "training does not take" in line and "infimed model convert" in line
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_convert_refuses_what_it_cannot_do(tmp_path: Path, smollm2: Path) -> None:
    with pytest.raises(GgufError, match="not a GGUF file"):
        convert_gguf(_not_gguf(tmp_path), tmp_path / "out")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["model", "convert", str(smollm2), "--out", str(busy)])
    assert result.exit_code == 1 and "folder is not empty; pass --overwrite" in result.output
    assert (busy / "notes.txt").read_text() == "mine"  # nothing of the user's is touched
    with pytest.raises(GgufError, match="dtype: unknown 'int4'"):
        convert_gguf(smollm2, tmp_path / "out", dtype="int4")
    result = runner.invoke(app, ["model", "convert", str(smollm2), "--out", str(tmp_path / "out"), "--dtype", "int4"],
                           env={"COLUMNS": "500"})
    assert result.exit_code == 2 and "expected one of bfloat16, float16, float32" in result.output
    assert not (tmp_path / "out").exists()


def test_model_info_on_gguf_names_convert(smollm2: Path) -> None:
    result = runner.invoke(app, ["model", "info", str(smollm2)])
    assert result.exit_code == 1 and "infimed model convert" in result.output


@pytest.mark.slow
def test_converted_folder_is_a_complete_checkpoint(converted: Path, smollm2: Path) -> None:
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "conversion.json"):
        assert (converted / name).is_file(), name
    record = json.loads((converted / "conversion.json").read_text())
    assert record["source"] == str(smollm2.resolve()) and record["dtype"] == "float32"
    assert record["model_type"] == "llama" and 130e6 < record["parameters"] < 140e6
    assert len(record["source_sha256"]) == 64
    assert "chat_template" in json.loads((converted / "tokenizer_config.json").read_text()) or \
        (converted / "chat_template.jinja").is_file()
    assert not [p for p in converted.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left
    assert resolve_model(converted, gguf_refused_for="training") == str(converted)  # training takes it


@pytest.mark.slow
def test_eval_run_on_the_gguf_and_on_its_conversion_agree(
    smollm2: Path, converted: Path, questions: Path, tmp_path: Path
) -> None:
    responses = {}
    for name, model in (("gguf", smollm2), ("folder", converted)):
        out = tmp_path / name
        result = runner.invoke(app, ["eval", "run", "--backend", "hf", "--model", str(model), "--data", str(questions),
                                     "--out", str(out), "--device", "cpu", "--dtype", "float32",
                                     "--max-new-tokens", "6", "--n-boot", "20"])
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
        assert {r["id"] for r in rows} == {q["id"] for q in QUESTIONS}
        assert all(r["error"] is None and r["response"] for r in rows), rows
        responses[name] = {r["id"]: r["response"] for r in rows}
    assert responses["gguf"] == responses["folder"]  # greedy, float32: the same weights give the same words
