from __future__ import annotations

import json

import pytest

from infimed.curate.config import load_config
from infimed.curate.pipeline import run_pipeline

STEPS = json.dumps([{"name": n} for n in ("validate", "dedup_exact", "dedup_near")])


@pytest.mark.slow
def test_ray_engine_matches_local(tmp_path, make_image, row, write_rows):
    pytest.importorskip("ray")
    rows = [row(f"s{i}", [make_image(f"{i % 12}.png", i % 12)], f"Is there a lesion in view {i % 3}?") for i in range(30)]
    rows += [row("bad", ["images/none.png"], "Is there a lesion?"), row("blank", [], "!!!! ????")]
    src = write_rows("in.jsonl", rows)
    local = run_pipeline([src], tmp_path / "local", load_config(None, [f"steps={STEPS}", "workers=1"]))
    on_ray = run_pipeline([src], tmp_path / "ray", load_config(None, [f"steps={STEPS}", "workers=2", "engine=ray"]))
    for name in ("curated.jsonl", "rejected.jsonl"):
        assert (tmp_path / "local" / name).read_text() == (tmp_path / "ray" / name).read_text(), name
    assert [s["dropped"] for s in local["stages"]] == [s["dropped"] for s in on_ray["stages"]]
    import ray

    ray.shutdown()
