"""The curation runner: read the input files, run the configured steps in order, write the results.

Each stage streams its input from disk and writes ``DIR/.steps/NN_name/{kept,rejected}.jsonl`` plus a
``done.json`` marker holding its fingerprint (hash of the input files' checksums, every earlier stage's config
and its own; files named in a step's options, like ``against``, are checksummed too). A rerun skips a stage
whose marker matches, so changing a late step's options reruns only from that step on. Stage 00 (``read``)
parses the inputs, rejects invalid records (``stage: read``) and ids already seen in an earlier file, and
makes image paths absolute so later stages do not depend on where a file lives. What the stages read is
fingerprinted too: every image a kept record (or an ``against`` file) points at enters the fingerprint of
the stages after ``read`` by its size and modification time (a ``stat``, no reading), so replacing a broken
image reruns the stages that saw it. ``force`` reruns everything.

Refused before anything is written: an output that would overwrite an input (``curate DIR/curated.jsonl
--out DIR``), an ``against`` file that is also an input, and an input with no records. A run that keeps
no sample fails (``EmptyCurationError``) with the reason, after writing rejected.jsonl and stats.json.

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
from infimed.curate.config import WORK_DIRS, CurateConfig, StepSpec, dump_config
from infimed.io.jsonl import atomic_open, file_checksum, iter_records, write_json, write_text
from infimed.progress import track
from infimed.schema import Sample

READ_VERSION = "read-v1"
OUTPUT_FILES = ("curated.jsonl", "rejected.jsonl", "stats.json", "config.yaml", "card.md")
OUTPUT_DIRS = (".steps", "export", "images")


class EmptyCurationError(ValueError):
    """The run kept no sample; the message says which stage dropped them and why."""


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
            raise FileNotFoundError(f"input {p} {'is a folder, not a JSONL file' if p.is_dir() else 'not found'}")
    _check_wiring(config)
    out_dir = Path(out_dir)
    _check_outputs(inputs, config, out_dir)
    from infimed.curate.hashing import clear_cache

    clear_cache()  # image signatures of an earlier run in this process may describe since-edited files
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
    if stats["in"] == 0:
        raise EmptyCurationError(f"no records in {', '.join(map(str, inputs))} (empty file?): nothing to curate")
    fp = fingerprint(fp, images_digest(SampleFile(stage_dir / "kept.jsonl")))

    active = [s for s in config.steps if not _nothing_to_do(s, config)]
    skipped = [s.name for s in config.steps if _nothing_to_do(s, config)]
    for k, spec in enumerate(active, start=1):
        if stages[-1]["kept"] == 0:
            break  # nothing left: the run fails below with the stage that dropped the last samples
        options = config.step_options(spec)
        if spec.name == "deidentify":  # de-identified DICOM copies live in the run's output folder
            options.setdefault("dicom_dir", str((out_dir / "deid_dicom").resolve()))
        fp = fingerprint(fp, spec.name, options, config.engine, _option_files(options))
        prev_dir, stage_dir = stage_dir, steps_dir / f"{k:02d}_{spec.name}"
        stats = _done(stage_dir, fp)
        if stats is None:
            if spec.name in WORK_DIRS:  # scratch space that outlives a rerun of the stage (not fingerprinted)
                options = {**options, "work_dir": str(out_dir / WORK_DIRS[spec.name])}
            stats = _run_one(spec.name, options, prev_dir / "kept.jsonl", stage_dir, config, stages[-1]["kept"])
            _mark_done(stage_dir, fp, stats)
        stages.append(stats)

    result = _finish(inputs, out_dir, config, stages, stage_dir, skipped)
    if result["n_curated"] == 0:
        raise EmptyCurationError(_why_empty(inputs, stages, out_dir))
    return result


def images_digest(samples: Iterable[Sample]) -> str:
    """A digest of every image ``samples`` point at, by path, size and mtime (one ``stat`` each): an image
    replaced or fixed in place changes it, so the stages that read images rerun."""
    h = hashlib.sha256()
    seen: set[str] = set()  # phantom-style sets ask several questions about one image: stat it once
    for s in samples:
        for img in s.images if s.base_dir is None else map(str, s.image_paths()):
            if img in seen:
                continue
            seen.add(img)
            try:
                st = os.stat(img)
                h.update(f"{img}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            except OSError:
                h.update(f"{img}\0missing\n".encode())
    return h.hexdigest()[:16]


def _check_outputs(inputs: list[Path], config: CurateConfig, out_dir: Path) -> None:
    """Refuse a run whose outputs would overwrite what it reads, or that decontaminates a pool against itself."""
    out = out_dir.resolve()
    written = {out / name for name in OUTPUT_FILES}
    read = [(p, "input") for p in inputs] + [(Path(a), "--against file") for a in config.against]
    for path, what in read:
        resolved = path.resolve()
        if resolved in written or any(resolved.is_relative_to(out / d) for d in OUTPUT_DIRS):
            raise ValueError(f"{path}: this {what} is an output of curate --out {out_dir}; the run would overwrite "
                             "it. Choose another --out folder (or copy the file elsewhere first)")
    names = {p.resolve() for p in inputs}
    for a in config.against:
        if Path(a).resolve() in names:
            raise ValueError(f"against: {a} is also an input; decontaminating a pool against itself drops "
                             "every sample")


def _why_empty(inputs: list[Path], stages: list[dict[str, Any]], out_dir: Path) -> str:
    """Which stage dropped the last samples, and why (with a hint for a JSON array given as JSONL)."""
    n_read = stages[0]["in"]
    where = next((s for s in stages if s["kept"] == 0), stages[-1])
    reasons = ", ".join(f"{r} {n}" for r, n in sorted(where["dropped"].items(), key=lambda kv: -kv[1])) or "none"
    text = (f"curation kept 0 of {n_read} samples: stage {where['name']} dropped the last {where['in']} "
            f"({reasons}); see {out_dir / 'rejected.jsonl'}")
    arrays = [str(p) for p in inputs if _starts_with_bracket(p)]
    if where["name"] == "read" and arrays:
        text += f". {', '.join(arrays)} looks like a JSON array: curate reads JSONL, one JSON record per line"
    return text


def _starts_with_bracket(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4096).lstrip().startswith(b"[")


def _option_files(options: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """Checksums of files a step reads through its options (e.g. ``against``) and of the images they point
    at, so edits there rerun it."""
    out = []
    for value in options.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item.endswith((".jsonl", ".json")) and Path(item).is_file():
                out.append((item, file_checksum(Path(item)), _file_images(Path(item))))
    return out


def _file_images(path: Path) -> str | None:
    """The images digest of a sample file named in a step's options (the images decontamination reads)."""
    if path.suffix != ".jsonl":
        return None
    return images_digest(rec.sample for rec in iter_records(path) if rec.sample is not None)


def _nothing_to_do(spec: StepSpec, config: CurateConfig) -> bool:
    """``select`` without any budget, ``dedup_against`` without files and ``alignment`` without a model are
    skipped (and the run says so)."""
    if spec.name == "select":
        return config.budget is None and "budget" not in spec.options
    if spec.name == "alignment":
        return not spec.options.get("model")
    return spec.name == "dedup_against" and not spec.options.get("files")


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
