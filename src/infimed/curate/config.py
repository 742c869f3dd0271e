"""The curation config: typed (pydantic), serialised as YAML, every key overridable from the command line.

``default.yaml`` beside this module is the default pipeline. Overrides are ``KEY=VALUE`` strings with YAML
values: top-level keys (``workers=4``, ``against=[a.jsonl]``) or a step option (``steps.dedup_near.max_hamming=8``).
Options that belong to the whole run reach the steps that use them: ``budget`` -> select / mix, ``against``
-> decontaminate, ``workers`` -> the steps whose factory accepts it.

A budget has one spelling for each meaning (``parse_budget``): a fraction of the pool is written with a
decimal point or a percent sign (``0.2``, ``1.0``, ``20%``), a count as a whole number (``5000``, ``1``).
Anything else (0, negatives, ``2.0``, ``1.5``, ``150%``) is refused, never guessed. A problem in a value
given on the command line is blamed on that flag or ``--set KEY``, not on the config file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CONFIG = Path(__file__).with_name("default.yaml")
# bundled pipelines that --config takes by name: "rl-prompts" is rl_prompts.yaml beside this module
PRESETS = {"default": DEFAULT_CONFIG, "rl-prompts": Path(__file__).with_name("rl_prompts.yaml"),
           "captions": Path(__file__).with_name("captions.yaml")}
WORKER_STEPS = ("validate", "dedup_exact", "dedup_near", "decontaminate", "dedup_against")
BUDGET_STEPS = ("select", "mix")
WORK_DIRS = {"pass_rate": "rollouts"}  # steps given a folder under --out for caches that outlive a stage rerun


def parse_budget(value: Any) -> int | float:
    """A budget as a count (``int`` >= 1) or a fraction of the pool (``float`` in (0, 1]).

    Accepts an int, a float, or text ("5000", "0.2", "20%"); raises ``ValueError`` saying how to spell it."""
    hint = "write a count as a whole number (5000) or a fraction as 0.2 or 20%"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"budget {value!r}: expected a number; {hint}")
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.endswith("%"):
                percent = float(text[:-1])
                if not 0 < percent <= 100:
                    raise ValueError(f"budget {text!r}: a percentage must be in (0%, 100%]")
                return percent / 100
            value = int(text) if text.lstrip("+-").isdigit() else float(text)
        except ValueError as exc:
            if "percentage" in str(exc):
                raise
            raise ValueError(f"budget {text!r}: not a number; {hint}") from None
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"budget {value}: a count must be >= 1; {hint}")
        return value
    if not 0 < value <= 1:
        count = f"; for a count of {int(value)} write {int(value)}" if value > 1 and value == int(value) else ""
        raise ValueError(f"budget {value}: a fraction must be in (0, 1]{count}; {hint}")
    return value


class StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class CurateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[StepSpec]
    budget: int | float | None = None
    against: list[str] = Field(default_factory=list)
    engine: Literal["local", "ray"] = "local"
    workers: int = Field(default=2, ge=1)
    images: Literal["relative", "absolute", "copy"] = "relative"
    images_within_data: bool = False  # an image path outside its JSONL's folder is an invalid record
    exports: list[Literal["sharegpt", "trl"]] = Field(default_factory=lambda: ["sharegpt", "trl"])  # type: ignore[arg-type]
    export_mode: Literal["direct", "reasoning"] = "direct"
    truth: str | None = None
    card_examples: int = Field(default=3, ge=0)

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, v: Any) -> int | float | None:
        return None if v is None else parse_budget(v)

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


def load_config(path: str | Path | None = None, overrides: list[str] | None = None, *,
                origins: dict[str, str] | None = None) -> CurateConfig:
    """Read a YAML config (default: the bundled ``default.yaml``) and apply ``KEY=VALUE`` overrides.

    A bad override is blamed on where it came from: ``origins`` maps a key to the flag that set it
    (``{"budget": "--budget"}``); any other key is blamed on ``--set KEY``."""
    src = PRESETS.get(str(path), Path(path)) if path is not None else DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(src.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{src}: cannot read config ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{src}: a config must be a mapping, got {type(raw).__name__}")
    if src not in PRESETS.values() and "steps" not in raw:  # a partial user config extends the default pipeline
        raw = {**(yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))), **raw}
    given: dict[str, str] = {}  # top-level key -> the flag that set it
    for item in overrides or []:
        key = item.partition("=")[0].strip()
        label = (origins or {}).get(key, f"--set {key}")
        apply_override(raw, item, label=label)
        given[key.split(".")[0]] = label
    try:
        return CurateConfig.model_validate(raw)
    except ValidationError as exc:
        blamed: dict[str, list[str]] = {}
        for e in exc.errors():
            where = ".".join(str(p) for p in e["loc"])
            msg = str(e["msg"]).removeprefix("Value error, ")
            blamed.setdefault(given.get(str(e["loc"][0]), str(src)), []).append(
                msg if msg.startswith(where) else f"{where}: {msg}")
        parts = [f"{who}: {'invalid value' if who in given.values() else 'invalid config'}: {'; '.join(problems)}"
                 for who, problems in blamed.items()]
        raise ConfigError("; ".join(parts)) from exc


def apply_override(raw: dict[str, Any], item: str, *, label: str | None = None) -> None:
    """Apply one ``KEY=VALUE`` (YAML value) to a raw config mapping, in place; errors start with ``label``
    (default ``--set KEY``)."""
    key, sep, text = item.partition("=")
    who = label or f"--set {key.strip()}"
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{who}: value {text!r} is not valid YAML ({exc})") from exc
    parts = key.strip().split(".")
    if parts[0] != "steps" or len(parts) == 1:  # a top-level key, or the whole step list
        if len(parts) != 1:
            raise ConfigError(f"{who}: only steps.<step>.<option> keys may be dotted")
        raw[parts[0]] = value
        return
    if len(parts) != 3:
        raise ConfigError(f"{who}: a step option is steps.<step>.<option>")
    for step in raw.get("steps", []):
        if isinstance(step, dict) and step.get("name") == parts[1]:
            step.setdefault("options", {})[parts[2]] = value
            return
    raise ConfigError(f"{who}: no step {parts[1]!r} in the pipeline")


def select_steps(raw_steps: list[StepSpec], names: list[str]) -> list[StepSpec]:
    """The pipeline reduced / reordered to ``names``, keeping each step's configured options."""
    by_name = {s.name: s for s in raw_steps}
    return [by_name.get(n, StepSpec(name=n)) for n in names]


def dump_config(config: CurateConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
