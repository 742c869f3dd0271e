"""``--engine ray``: per-sample steps map over a Ray Data dataset; global steps stay on the driver.

A per-sample step (one that sets ``per_sample = True``: validate, de-identification, scorers) judges each
sample alone, so the stage's input lines are read as text, parsed and judged in parallel batches, each worker
building the step from its registered name and options. Output order is preserved, so the files written are
identical to the local engine's. Global steps (dedup, selection) need the whole pool and run on the driver
over the signatures they collect, exactly as in the local engine. The step's ``report()`` is per worker and
is not merged back (the stage's in / kept / dropped counts are).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infimed.curate.pipeline import StageWriter


def _judge_batch(batch: dict[str, Any], name: str, options: dict[str, Any]) -> dict[str, Any]:
    from infimed.curate.base import Drop, build_step, rejected_row
    from infimed.schema import Sample

    step = build_step(name, {**options, "workers": 1} if "workers" in options else options)
    samples = [Sample.model_validate_json(line) for line in batch["text"]]
    kinds, lines = [], []
    for out in step(samples):
        if isinstance(out, Drop):
            kinds.append("drop")
            lines.append(json.dumps(rejected_row(out, name), ensure_ascii=False))
        else:
            kinds.append("keep")
            lines.append(out.model_dump_json())
    return {"kind": kinds, "line": lines}


# Ray puts its Unix sockets ~70 characters below its temp folder (the system's, from TMPDIR) and AF_UNIX
# paths stop at 107 bytes: under a long TMPDIR (macOS, deep home folders) Ray cannot start there
RAY_TMP_LIMIT = 36


def ensure_ray(workers: int) -> None:
    import os
    import tempfile

    import ray

    if not ray.is_initialized():
        short: dict[str, Any] = {}
        if len(tempfile.gettempdir()) > RAY_TMP_LIMIT:
            short["_temp_dir"] = f"/tmp/infimed-ray-{os.getuid()}"
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False, **short)


def run_per_sample(name: str, options: dict[str, Any], source: Path, writer: StageWriter, *, workers: int,
                   batch_size: int = 512) -> None:
    import ray

    ensure_ray(workers)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    if source.stat().st_size == 0:
        return
    ds = ray.data.read_text(str(source))
    judge: Any = _judge_batch
    judged = ds.map_batches(judge, fn_kwargs={"name": name, "options": options}, batch_size=batch_size,
                            batch_format="numpy")
    for row in judged.iter_rows():
        if row["kind"] == "drop":
            writer.reject(json.loads(row["line"]))
        else:
            writer.keep_line(row["line"])
