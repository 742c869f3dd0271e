"""The curation config: typed (pydantic), serialised as YAML, every key overridable from the command line.

``default.yaml`` beside this module is the default pipeline. Overrides are ``KEY=VALUE`` strings with YAML
values: top-level keys (``workers=4``, ``against=[a.jsonl]``) or a step option (``steps.dedup_near.max_hamming=8``).
Options that belong to the whole run reach the steps that use them: ``budget`` -> select / mix, ``against``
-> decontaminate, ``workers`` -> the steps whose factory accepts it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CONFIG = Path(__file__).with_name("default.yaml")
WORKER_STEPS = ("validate", "dedup_exact", "dedup_near", "decontaminate")
BUDGET_STEPS = ("select", "mix")


class StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class CurateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[StepSpec]
    budget: float | None = None
    against: list[str] = Field(default_factory=list)
    engine: Literal["local", "ray"] = "local"
    workers: int = Field(default=2, ge=1)
    images: Literal["relative", "absolute", "copy"] = "relative"
    images_within_data: bool = False  # an image path outside its JSONL's folder is an invalid record
    exports: list[Literal["sharegpt", "trl"]] = Field(default_factory=lambda: ["sharegpt", "trl"])  # type: ignore[arg-type]
    export_mode: Literal["direct", "reasoning"] = "direct"
    truth: str | None = None
    card_examples: int = Field(default=3, ge=0)

    @field_validator("budget")
    @classmethod
    def _budget(cls, v: float | None) -> float | None:
        if v is not None and (v <= 0 or (v > 1 and v != int(v))):
            raise ValueError("budget must be a count (integer > 1) or a fraction in (0, 1]")
        return v

    @field_validator("steps")
    @classmethod
    def _unique(cls, v: list[StepSpec]) -> list[StepSpec]:
        names = [s.name for s in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"each step may appear once; repeated: {sorted(dup)}")
        return v

    def step_options(self, spec: StepSpec) -> dict[str, Any]:
        """A step's options with the run-wide ones it uses filled in (explicit step options win)."""
        opts = dict(spec.options)
        if spec.name in WORKER_STEPS:
            opts.setdefault("workers", self.workers)
        if spec.name == "decontaminate" and self.against:
            opts.setdefault("against", list(self.against))
        if spec.name in BUDGET_STEPS and self.budget is not None:
            opts.setdefault("budget", self.budget)
        return opts


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the file or key."""


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> CurateConfig:
    """Read a YAML config (default: the bundled ``default.yaml``) and apply ``KEY=VALUE`` overrides."""
    src = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(src.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{src}: cannot read config ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{src}: a config must be a mapping, got {type(raw).__name__}")
    if path is not None and "steps" not in raw:  # a partial user config extends the default pipeline
        raw = {**(yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))), **raw}
    for item in overrides or []:
        apply_override(raw, item)
    try:
        return CurateConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{src}: invalid config: {problems}") from exc


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one ``KEY=VALUE`` (YAML value) to a raw config mapping, in place."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r}: expected KEY=VALUE")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {item!r}: value is not valid YAML ({exc})") from exc
    parts = key.strip().split(".")
    if parts[0] != "steps" or len(parts) == 1:  # a top-level key, or the whole step list
        if len(parts) != 1:
            raise ConfigError(f"override {item!r}: only steps.<step>.<option> keys may be dotted")
        raw[parts[0]] = value
        return
    if len(parts) != 3:
        raise ConfigError(f"override {item!r}: a step option is steps.<step>.<option>")
    for step in raw.get("steps", []):
        if isinstance(step, dict) and step.get("name") == parts[1]:
            step.setdefault("options", {})[parts[2]] = value
            return
    raise ConfigError(f"override {item!r}: no step {parts[1]!r} in the pipeline")


def select_steps(raw_steps: list[StepSpec], names: list[str]) -> list[StepSpec]:
    """The pipeline reduced / reordered to ``names``, keeping each step's configured options."""
    by_name = {s.name: s for s in raw_steps}
    return [by_name.get(n, StepSpec(name=n)) for n in names]


def dump_config(config: CurateConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
