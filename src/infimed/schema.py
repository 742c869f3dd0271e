"""The one sample record that every stage reads and writes (curation, reasoning, training, evaluation).

A record is one JSON line. Image paths are relative to the folder of the JSONL file that holds them;
readers remember that folder (``Sample.base_dir``) so ``Sample.image_paths()`` resolves them.
Validation errors are ``SampleError`` values that name file, line, sample id and field.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

Modality = Literal[
    "ct", "mri", "xray", "ultrasound", "pathology", "fundus", "dermoscopy", "endoscopy", "oct",
    "microscopy", "other",
]
Task = Literal[
    "modality_recognition", "anatomy_identification", "abnormality_detection", "disease_diagnosis",
    "lesion_localization", "lesion_grading", "counting", "attribute", "report_generation", "other",
]
AnswerType = Literal["choice", "yes_no", "open", "report"]

MODALITIES: tuple[str, ...] = get_args(Modality)
TASKS: tuple[str, ...] = get_args(Task)
ANSWER_TYPES: tuple[str, ...] = get_args(AnswerType)
OPTION_LETTERS = string.ascii_uppercase
FIELDS = (
    "id", "images", "question", "options", "answer", "answer_type", "modality", "task", "source",
    "split", "language", "rationale", "meta",
)


class Sample(BaseModel):
    """One VQA / text QA item. ``answer`` is an option letter (choice), ``yes``/``no``, a short free-text
    answer (open), or a reference report or caption (report: scored by text metrics, not exact match)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    id: str = Field(min_length=1)
    images: list[str] = Field(default_factory=list)
    question: str
    options: dict[str, str] | None = None
    answer: str
    answer_type: AnswerType
    modality: Modality | None = None
    task: Task | None = None
    source: str = ""
    split: str = "train"
    language: str = "en"
    rationale: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    _base_dir: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> Sample:
        if not self.question.strip():
            raise ValueError("question: is empty")
        if self.answer_type == "choice":
            if not self.options:
                raise ValueError("options: a 'choice' sample needs options (letter -> text)")
            bad = [k for k in self.options if len(k) != 1 or k not in OPTION_LETTERS]
            if bad:
                raise ValueError(f"options: keys must be single capital letters, got {bad}")
            if self.answer not in self.options:
                letters = ", ".join(sorted(self.options))
                raise ValueError(f"answer: {self.answer!r} is not one of the option letters {letters}")
        elif self.answer_type == "yes_no":
            if self.answer not in ("yes", "no"):
                raise ValueError(f"answer: a 'yes_no' answer must be 'yes' or 'no', got {self.answer!r}")
            if self.options is not None:
                raise ValueError("options: only 'choice' samples carry options")
        elif self.answer_type == "report":
            if len(self.answer.split()) < 2:
                raise ValueError("answer: a 'report' answer must be the reference report text (two words or more)")
            if self.options is not None:
                raise ValueError("options: only 'choice' samples carry options")
        else:
            if not self.answer.strip():
                raise ValueError("answer: an 'open' answer must not be empty")
            if self.options is not None:
                raise ValueError("options: only 'choice' samples carry options")
        return self

    @property
    def base_dir(self) -> Path | None:
        return self._base_dir

    def with_base_dir(self, base_dir: str | Path | None) -> Sample:
        self._base_dir = Path(base_dir) if base_dir is not None else None
        return self

    def image_paths(self) -> list[Path]:
        """Absolute image paths, resolved against the folder of the JSONL file the sample came from."""
        base = self._base_dir or Path(".")
        return [p if (p := Path(img)).is_absolute() else base / p for img in self.images]

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class SampleError:
    """A validation problem that names where it is: file, line, sample id and field."""

    file: str
    line: int | None
    sample_id: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line is not None else "")
        sid = f" [id={self.sample_id}]" if self.sample_id else ""
        return f"{where}{sid} field '{self.field}': {self.message}"


class SampleValidationError(ValueError):
    """Raised by strict readers; carries every ``SampleError`` of the offending record."""

    def __init__(self, errors: list[SampleError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def errors_from_validation(
    exc: ValidationError, *, file: str, line: int | None, raw: dict[str, Any]
) -> list[SampleError]:
    """Turn pydantic's error list into ``SampleError`` values with field names."""
    sid = raw.get("id") if isinstance(raw.get("id"), str) else None
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        msg = str(err["msg"])
        field = ".".join(loc) if loc else "record"
        if not loc and msg.startswith("Value error, "):
            # model-level checks phrase themselves as "field: message"
            msg = msg.removeprefix("Value error, ")
            head, sep, rest = msg.partition(": ")
            field, msg = (head, rest) if sep and head in FIELDS else ("record", msg)
        elif err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "literal_error" and loc and loc[0] in ("modality", "task", "answer_type"):
            msg = f"unknown {loc[0]} {err.get('input')!r}; expected one of {err['ctx']['expected']}"
        out.append(SampleError(file, line, sid, field, msg))
    return out


def parse_sample(
    raw: Any, *, file: str = "<memory>", line: int | None = None, base_dir: Path | None = None
) -> tuple[Sample | None, list[SampleError]]:
    """Validate one decoded JSON value; returns the sample or the errors, never raises."""
    if not isinstance(raw, dict):
        return None, [SampleError(file, line, None, "record", f"expected a JSON object, got {type(raw).__name__}")]
    try:
        return Sample.model_validate(raw).with_base_dir(base_dir), []
    except ValidationError as exc:
        return None, errors_from_validation(exc, file=file, line=line, raw=raw)
