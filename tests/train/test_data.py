"""Training data: mixing ratios, answer balancing, and the rows TRL receives."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from infimed.io.jsonl import write_jsonl
from infimed.train.data import balance_answers, grpo_dataset, load_mixture, sft_dataset, training_messages


def _write(path: Path, prefix: str, n: int, *, answer: str = "yes", image: str | None = None) -> Path:
    rows = [{"id": f"{prefix}{i}", "question": "Is there an effusion?", "answer": answer,
             "answer_type": "yes_no", "images": [image] if image else []} for i in range(n)]
    write_jsonl(path, rows)
    return path


def test_mixture_without_ratios_uses_every_sample_once(tmp_path: Path) -> None:
    a, b = _write(tmp_path / "a.jsonl", "a", 10), _write(tmp_path / "b.jsonl", "b", 30)
    mixed = load_mixture([a, b], seed=1)
    assert sorted(s.id for s in mixed) == sorted([f"a{i}" for i in range(10)] + [f"b{i}" for i in range(30)])


def test_mixture_ratios_set_each_file_share(tmp_path: Path) -> None:
    a, b = _write(tmp_path / "a.jsonl", "a", 10), _write(tmp_path / "b.jsonl", "b", 30)
    mixed = load_mixture([a, b], ratios=[3, 1], size=40, seed=0)
    counts = Counter(s.id[0] for s in mixed)
    assert counts == {"a": 30, "b": 10}  # file a is repeated three times, b subsampled to a third
    assert Counter(s.id for s in mixed if s.id[0] == "a") == {f"a{i}": 3 for i in range(10)}
    assert load_mixture([a, b], ratios=[3, 1], size=40, seed=0) == mixed  # deterministic by seed


def test_mixture_errors_name_the_problem(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", "a", 3)
    with pytest.raises(ValueError, match="2 mixing ratios for 1 files"):
        load_mixture([a], ratios=[1, 1])
    with pytest.raises(ValueError, match="positive sum"):
        load_mixture([a], ratios=[0])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x1", "question": "q", "answer": "maybe", "answer_type": "yes_no"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1 \[id=x1\] field 'answer'"):
        load_mixture([bad])


def test_balance_oversamples_minority_answers(tmp_path: Path) -> None:
    yes = load_mixture([_write(tmp_path / "y.jsonl", "y", 9)])
    no = load_mixture([_write(tmp_path / "n.jsonl", "n", 2, answer="no")])
    balanced = balance_answers(yes + no, seed=0)
    assert Counter(s.answer for s in balanced) == {"yes": 9, "no": 9}
    assert {s.id for s in balanced} == {s.id for s in yes + no}  # nothing dropped


def test_sft_rows_hold_placeholders_and_image_paths(tmp_path: Path) -> None:
    Image.new("L", (20, 20), 128).save(tmp_path / "img.png")
    samples = load_mixture([_write(tmp_path / "a.jsonl", "a", 2, image="img.png")])
    msgs, paths = training_messages(samples[0], "direct")
    assert paths == [str(tmp_path / "img.png")]
    assert msgs[0]["content"][0] == {"type": "image"}
    assert msgs[1] == {"role": "assistant", "content": [{"type": "text", "text": "yes"}]}
    row = sft_dataset(samples)[0]
    assert json.loads(row["messages"]) == msgs
    assert row["images"] == [str(tmp_path / "img.png")]  # decoded by the collator when first drawn


def test_grpo_rows_carry_the_reward_columns(tmp_path: Path) -> None:
    rows = [{"id": "c1", "question": "Which?", "answer": "B", "answer_type": "choice",
             "options": {"A": "x", "B": "y"}}]
    write_jsonl(tmp_path / "c.jsonl", rows)
    row = grpo_dataset(load_mixture([tmp_path / "c.jsonl"]))[0]
    assert [m["role"] for m in row["prompt"]] == ["user"]
    assert "<answer></answer>" in row["prompt"][0]["content"][-1]["text"]  # reasoning prompt by default
    assert (row["answer"], row["answer_type"], json.loads(row["options"])) == ("B", "choice", {"A": "x", "B": "y"})
    assert row["images"] == []


def test_unreadable_images_are_skipped_not_fatal(tmp_path: Path) -> None:
    from infimed.schema import Sample
    from infimed.train.data import load_trainable

    Image.new("RGB", (32, 32), "gray").save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    rows = [Sample(id=i, images=[img], question="Is there a lesion?", answer="no", answer_type="yes_no")
            for i, img in (("a", "ok.png"), ("b", "bad.png"), ("c", "missing.png"), ("d", "ok.png"))]
    write_jsonl(tmp_path / "d.jsonl", rows)
    kept, skipped = load_trainable([tmp_path / "d.jsonl"], tmp_path / "out")
    assert sorted(s.id for s in kept) == ["a", "d"]
    assert {r["id"] for r in skipped} == {"b", "c"}
    assert "not found" in next(r["reason"] for r in skipped if r["id"] == "c")
    assert (tmp_path / "out" / "skipped.jsonl").read_text().count("\n") == 2
