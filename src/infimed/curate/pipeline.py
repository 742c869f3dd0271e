"""The curation runner: read the input files, run the configured steps in order, write the results.

Each stage streams its input from disk and writes ``DIR/.steps/NN_name/{kept,rejected}.jsonl`` plus a
``done.json`` marker holding its fingerprint (hash of the input files' checksums, every earlier stage's config
and its own; files named in a step's options, like ``against``, are checksummed too). A rerun skips a stage
whose marker matches, so changing a late step's options reruns only from that step on. Stage 00 (``read``)
parses the inputs, rejects invalid records (``stage: read``) and ids already seen in an earlier file, and
makes image paths absolute so later stages do not depend on where a file lives. Image files are not checksummed (only their paths travel); pass ``force`` after editing images.

Outputs in ``DIR``: ``curated.jsonl`` (image paths relative to ``DIR``, absolute, or copied into
``DIR/images``), ``rejected.jsonl`` (every dropped sample with ``stage``, ``reason``, ``detail``, ``of``),
``stats.json`` (per stage: in, kept, dropped per reason, seconds, the step's report), ``config.yaml``,
``card.md`` and the exports under ``DIR/export/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from infimed.curate.base import STEPS, Drop, Step, build_step, rejected_row
from infimed.curate.config import CurateConfig, StepSpec, dump_config
from infimed.io.jsonl import atomic_open, file_checksum, iter_records, write_json, write_text
from infimed.progress import track
from infimed.schema import Sample

READ_VERSION = "read-v1"


class SampleFile:
    """A re-iterable view of a stage's ``kept.jsonl`` (valid records with absolute image paths)."""

    def __init__(self, path: Path):
        self.path = path

    def __iter__(self) -> Iterator[Sample]:
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                yield Sample.model_validate_json(line)

    def count(self) -> int:
        with self.path.open("rb") as fh:
            return sum(1 for _ in fh)


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class StageWriter:
    """Writes one stage's kept and rejected files atomically and counts what went where."""

    def __init__(self, stage_dir: Path, stage: str):
        stage_dir.mkdir(parents=True, exist_ok=True)
        self.stage = stage
        self._kept = atomic_open(stage_dir / "kept.jsonl")
        self._rejected = atomic_open(stage_dir / "rejected.jsonl")
        self.kept = 0
        self.dropped: Counter[str] = Counter()

    def __enter__(self) -> StageWriter:
        self._kfh = self._kept.__enter__()
        self._rfh = self._rejected.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._kept.__exit__(*exc)
        self._rejected.__exit__(*exc)

    def keep(self, sample: Sample) -> None:
        self._kfh.write(sample.model_dump_json() + "\n")
        self.kept += 1

    def keep_line(self, line: str) -> None:
        """A kept sample already serialised as one JSON line (no newline)."""
        self._kfh.write(line + "\n")
        self.kept += 1

    def reject(self, row: dict[str, Any]) -> None:
        self._rfh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.dropped[row["reason"]] += 1


def read_inputs(inputs: list[Path], writer: StageWriter, *, images_within: bool = False) -> int:
    """Stage 00: parse every input line; invalid or repeated records go to rejected with ``stage: read``
    (with ``images_within``, also records whose image paths leave their file's folder)."""
    seen: dict[str, str] = {}
    n = 0
    for path in inputs:
        for rec in track(iter_records(path, images_within=images_within), f"read {path.name}"):
            n += 1
            if rec.sample is None:
                raw = rec.raw or {}
                writer.reject({"id": raw.get("id"), "stage": "read", "reason": "invalid_record",
                               "detail": "; ".join(str(e) for e in rec.errors), "of": None,
                               "file": str(path), "line": rec.line, "record": rec.raw})
                continue
            s = rec.sample
            if s.id in seen:
                writer.reject({**rejected_row(Drop(s, "duplicate_id", f"id already read from {seen[s.id]}"), "read"),
                               "file": str(path), "line": rec.line})
                continue
            seen[s.id] = str(path)
            absolute = [os.path.abspath(p) for p in s.image_paths()]
            writer.keep(s.model_copy(update={"images": absolute}))
    return n


def run_stage(step: Step, source: Iterable[Sample], writer: StageWriter, total: int) -> None:
    for out in track(step(source), f"{step.name}", total=total):
        if isinstance(out, Drop):
            writer.reject(rejected_row(out, step.name))
        else:
            writer.keep(out)


def run_pipeline(inputs: list[Path], out_dir: Path, config: CurateConfig, *, force: bool = False) -> dict[str, Any]:
    """Run the configured pipeline over ``inputs`` into ``out_dir``; returns the stats written to stats.json."""
    inputs = [Path(p) for p in inputs]
    for p in inputs:
        if not p.is_file():
            raise FileNotFoundError(f"input {p} not found")
    _check_wiring(config)
    out_dir = Path(out_dir)
    steps_dir = out_dir / ".steps"
    if force and steps_dir.exists():
        shutil.rmtree(steps_dir)
    write_text(out_dir / "config.yaml", dump_config(config))

    fp = fingerprint(READ_VERSION, [(str(p.resolve()), file_checksum(p)) for p in inputs], config.images_within_data)
    stages: list[dict[str, Any]] = []
    stage_dir = steps_dir / "00_read"
    stats = _done(stage_dir, fp)
    if stats is None:
        t0 = time.perf_counter()
        with StageWriter(stage_dir, "read") as w:
            n = read_inputs(inputs, w, images_within=config.images_within_data)
        stats = {"name": "read", "in": n, "kept": w.kept, "dropped": dict(w.dropped),
                 "seconds": round(time.perf_counter() - t0, 3), "report": {}}
        _mark_done(stage_dir, fp, stats)
    stages.append(stats)

    active = [s for s in config.steps if not _needs_budget(s, config)]
    skipped = [s.name for s in config.steps if _needs_budget(s, config)]
    for k, spec in enumerate(active, start=1):
        options = config.step_options(spec)
        fp = fingerprint(fp, spec.name, options, config.engine, _option_files(options))
        prev_dir, stage_dir = stage_dir, steps_dir / f"{k:02d}_{spec.name}"
        stats = _done(stage_dir, fp)
        if stats is None:
            stats = _run_one(spec.name, options, prev_dir / "kept.jsonl", stage_dir, config, stages[-1]["kept"])
            _mark_done(stage_dir, fp, stats)
        stages.append(stats)

    result = _finish(inputs, out_dir, config, stages, stage_dir, skipped)
    return result


def _option_files(options: dict[str, Any]) -> list[tuple[str, str]]:
    """Checksums of files a step reads through its options (e.g. ``against``), so edits there rerun it."""
    out = []
    for value in options.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item.endswith((".jsonl", ".json")) and Path(item).is_file():
                out.append((item, file_checksum(Path(item))))
    return out


def _needs_budget(spec: StepSpec, config: CurateConfig) -> bool:
    """``select`` without any budget has nothing to do: the run skips it (and says so) instead of failing."""
    return spec.name == "select" and config.budget is None and "budget" not in spec.options


def _run_one(name: str, options: dict[str, Any], source: Path, stage_dir: Path, config: CurateConfig,
             total: int) -> dict[str, Any]:
    step = build_step(name, options)
    t0 = time.perf_counter()
    with StageWriter(stage_dir, name) as w:
        if config.engine == "ray" and getattr(step, "per_sample", False):
            from infimed.curate.ray_engine import run_per_sample

            run_per_sample(name, options, source, w, workers=config.workers)
        else:
            run_stage(step, SampleFile(source), w, total)
    report = step.report() if hasattr(step, "report") else {}
    return {"name": name, "in": total, "kept": w.kept, "dropped": dict(w.dropped),
            "seconds": round(time.perf_counter() - t0, 3), "report": report or {}}


def _check_wiring(config: CurateConfig) -> None:
    names = [s.name for s in config.steps]
    if config.budget is not None and not {"select", "mix"} & set(names):
        raise ValueError("budget: given, but the pipeline has no 'select' or 'mix' step to apply it")
    if config.against and "decontaminate" not in names:
        raise ValueError("against: evaluation files given, but the pipeline has no 'decontaminate' step")
    import infimed.curate.steps  # noqa: F401  (registers every step)

    unknown = [n for n in names if n not in STEPS]
    if unknown:
        raise ValueError(f"steps: unknown step(s) {unknown}; known: {', '.join(STEPS.names())}")


def _done(stage_dir: Path, fp: str) -> dict[str, Any] | None:
    marker = stage_dir / "done.json"
    if not marker.exists():
        return None
    done = json.loads(marker.read_text(encoding="utf-8"))
    if done.get("fingerprint") != fp or not (stage_dir / "kept.jsonl").exists():
        return None
    return {**done["stats"], "resumed": True}


def _mark_done(stage_dir: Path, fp: str, stats: dict[str, Any]) -> None:
    write_json(stage_dir / "done.json", {"fingerprint": fp, "stats": stats})


def _finish(inputs: list[Path], out_dir: Path, config: CurateConfig, stages: list[dict[str, Any]],
            last_dir: Path, skipped: list[str]) -> dict[str, Any]:
    from infimed.curate.card import CardStats, render_card, score_against_truth
    from infimed.curate.export import export_all, place_images

    card = CardStats(examples=config.card_examples)
    t0 = time.perf_counter()
    with atomic_open(out_dir / "rejected.jsonl") as fh:
        for stage in sorted(p for p in (out_dir / ".steps").iterdir() if p.is_dir()):
            if stage.name not in {f"{i:02d}_{s['name']}" for i, s in enumerate(stages)}:
                continue  # a stage of an earlier, longer pipeline
            with (stage / "rejected.jsonl").open(encoding="utf-8") as src:
                for line in src:
                    fh.write(line)
                    card.add_rejected(json.loads(line))
    curated = place_images(SampleFile(last_dir / "kept.jsonl"), out_dir, config.images)
    with atomic_open(out_dir / "curated.jsonl") as fh:
        for s in curated:
            fh.write(json.dumps(s.to_json_dict(), ensure_ascii=False) + "\n")
            card.add_kept(s)
    exports = export_all(out_dir, config.exports, config.export_mode)
    truth_path = Path(config.truth) if config.truth else _truth_beside(inputs)
    truth = score_against_truth(truth_path, out_dir) if truth_path else None
    result = {
        "inputs": [str(p) for p in inputs], "out": str(out_dir), "engine": config.engine,
        "n_read": stages[0]["in"], "n_curated": card.n_kept, "n_rejected": card.n_rejected,
        "stages": stages, "skipped": skipped, "exports": exports, "truth": truth,
        "finish_seconds": round(time.perf_counter() - t0, 3),
    }
    write_json(out_dir / "stats.json", result)
    write_text(out_dir / "card.md", render_card(result, card))
    return result


def _truth_beside(inputs: list[Path]) -> Path | None:
    for p in inputs:
        cand = p.parent / "defects.jsonl"
        if cand.exists():
            return cand
    return None
