"""The sample record: every bad input names its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infimed.schema import Sample, SampleError, parse_sample


def good(**over: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"id": "s1", "images": ["img/a.png"], "question": "Which organ?",
                           "options": {"A": "liver", "B": "spleen"}, "answer": "A", "answer_type": "choice",
                           "modality": "ct", "task": "anatomy_identification"}
    raw.update(over)
    return raw


def only_error(raw: Any) -> SampleError:
    sample, errors = parse_sample(raw, file="f.jsonl", line=7)
    assert sample is None
    assert len(errors) == 1, errors
    return errors[0]


def test_good_sample_parses_with_defaults() -> None:
    sample, errors = parse_sample(good(), file="f.jsonl", line=1, base_dir=Path("/data"))
    assert errors == [] and sample is not None
    assert sample.split == "train" and sample.language == "en" and sample.meta == {}
    assert sample.image_paths() == [Path("/data/img/a.png")]


@pytest.mark.parametrize(
    ("over", "field", "fragment"),
    [
        ({"answer": "C"}, "answer", "not one of the option letters"),
        ({"options": None}, "options", "needs options"),
        ({"options": {"a": "x", "B": "y"}, "answer": "B"}, "options", "single capital letters"),
        ({"answer_type": "yes_no", "options": None, "answer": "maybe"}, "answer", "'yes' or 'no'"),
        ({"answer_type": "yes_no", "answer": "yes"}, "options", "only 'choice'"),
        ({"answer_type": "open", "options": None, "answer": "  "}, "answer", "must not be empty"),
        ({"answer_type": "multiple"}, "answer_type", "unknown answer_type"),
        ({"modality": "photo"}, "modality", "unknown modality 'photo'"),
        ({"task": "segmentation"}, "task", "unknown task 'segmentation'"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"question": "   "}, "question", "is empty"),
        ({"id": ""}, "id", "at least 1 character"),
        ({"images": "a.png"}, "images", "valid list"),
    ],
)
def test_bad_field_is_named(over: dict[str, Any], field: str, fragment: str) -> None:
    err = only_error(good(**over))
    assert err.field == field
    assert fragment in err.message
    assert err.file == "f.jsonl" and err.line == 7


def test_missing_field_is_named() -> None:
    raw = good()
    del raw["answer"]
    err = only_error(raw)
    assert err.field == "answer" and "required" in err.message.lower()


def test_non_object_line_is_a_record_error() -> None:
    err = only_error([1, 2])
    assert err.field == "record" and "JSON object" in err.message


def test_error_string_names_file_line_id_and_field() -> None:
    err = only_error(good(answer="Z"))
    assert str(err).startswith("f.jsonl:7 [id=s1] field 'answer':")


def test_round_trip_through_json_dict() -> None:
    sample = Sample.model_validate(good(meta={"case_id": "c1"}))
    assert Sample.model_validate(sample.to_json_dict()) == sample
