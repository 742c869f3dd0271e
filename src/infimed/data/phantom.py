"""A procedural medical phantom VQA set that a tiny model can learn, optionally with realistic dirt.

Each *case* is one drawn image (``scene.py``: CT, MRI, X-ray or ultrasound of the head, chest, abdomen or
pelvis with 0-3 lesions) asked several questions, one per task it can answer (``questions.py``): modality,
body region, abnormality yes/no, lesion count, and for single-lesion cases the lesion's quadrant and size.
Every fifth case (``test_every``) goes to the test split (~20 % of samples), so no image is shared between
the splits. ``held_out`` adds that many more test samples from cases of their own, drawn from a separate
random stream after the defects are injected: the train pool (and its dirt) is byte-identical whatever
``held_out`` is, and only the test split grows (a tighter confidence interval on a comparison of models).
``val`` adds that many clean validation samples (split ``"val"``, for choosing hyperparameters without looking
at the test split), likewise from cases of their own on a stream of their own, drawn last: train and test are
byte-identical whatever ``val`` is. Both counts are exact (the last case may be asked fewer questions).

Output in ``out_dir``: ``train.jsonl``, ``test.jsonl``, ``val.jsonl`` (only with ``val`` > 0), ``images/``
(PNG, 128x128 grayscale), ``cases.jsonl`` (generator ground truth per case: split, modality, region, lesion
boxes; for tests and analysis, never for curation), ``synth.json`` (the summary; ``by_task``, ``by_modality``
and ``by_answer_type`` count train + test, ``n_val`` the validation samples), and with ``defects=True`` the
dirt of ``defects.py`` injected into train plus ``defects.jsonl``. Sample and image ids are opaque seeded hex
strings; a sample's ``meta`` holds only its ``case_id``; its ``rationale`` is the finding its answer rests on
(the task's open answer: "MRI", "upper left", "2"), the short chain of thought that reasoning-mode SFT puts in
``<think>`` before the answer (a wrong-label defect changes the answer, not the finding). Same seed and ``n``
-> byte-identical files.
Rerunning into a folder that holds a previous phantom set (``synth.json``) replaces its images, defect
manifest and validation file.
"""

from __future__ import annotations

import io
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from infimed.data.defects import DEFECT_RATES, inject
from infimed.data.ids import OpaqueIds
from infimed.data.questions import Question, ask, tasks_for, truth
from infimed.data.scene import Scene, random_scene, render
from infimed.io.jsonl import write_bytes_private, write_json, write_jsonl
from infimed.progress import track
from infimed.schema import Sample

TEST_EVERY = 5  # case i goes to test when i % TEST_EVERY == TEST_EVERY - 1


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, "L").save(buf, format="PNG")
    return buf.getvalue()


def fresh_images_dir(out_dir: Path) -> Path:
    """``out_dir/images``, emptied when ``out_dir`` holds a previous synthetic set (its defect and val files go too)."""
    images_dir = out_dir / "images"
    if (out_dir / "synth.json").exists():
        shutil.rmtree(images_dir, ignore_errors=True)
        (out_dir / "defects.jsonl").unlink(missing_ok=True)
        (out_dir / "val.jsonl").unlink(missing_ok=True)
    images_dir.mkdir(parents=True, exist_ok=True)
    return images_dir


def _cases(n: int, rng: np.random.Generator, ids: OpaqueIds, image_names: OpaqueIds, images_dir: Path,
           test_every: int = TEST_EVERY, *, only: str | None = None,
           ) -> Iterator[tuple[str, str, Scene, list[tuple[Sample, Question]]]]:
    """Yield (case_id, image path, scene, questions) until ``n`` samples exist (``only``: every case's split)."""
    made, index = 0, 0
    while made < n:
        scene = random_scene(rng)
        case_id = ids.new("case-")
        split = only or ("test" if index % test_every == test_every - 1 else "train")
        rel = f"images/{image_names.new()}.png"
        write_bytes_private(images_dir.parent / rel, png_bytes(render(scene)))
        items = []
        for task in tasks_for(scene)[: n - made]:
            q = ask(scene, task, rng)
            sample = Sample(
                id=ids.new("ph-"), images=[rel], question=q.text, options=q.options, answer=q.answer,
                answer_type=q.answer_type,  # type: ignore[arg-type]
                modality=scene.modality, task=task,  # type: ignore[arg-type]
                source="phantom", split=split, rationale=truth(scene, task), meta={"case_id": case_id},
            )
            items.append((sample, q))
        made += len(items)
        index += 1
        yield case_id, rel, scene, items


def _extra_split(n: int, split: str, seq: np.random.SeedSequence, ids: OpaqueIds, image_names: OpaqueIds,
                 images_dir: Path, cases: list[dict[str, Any]], label: str) -> list[Sample]:
    """``n`` clean samples of ``split`` on new cases (appended to ``cases``), drawn from ``seq`` alone, shuffled."""
    rng = np.random.default_rng(seq)
    id_stream, name_stream = (np.random.default_rng(s) for s in seq.spawn(2))
    own_ids, own_names = ids.fork(id_stream), image_names.fork(name_stream)
    extra: list[Sample] = []
    for case_id, rel, scene, items in track(_cases(n, rng, own_ids, own_names, images_dir, only=split),
                                            label):
        cases.append({"case_id": case_id, "split": split, "image": rel, **scene.to_json()})
        extra.extend(sample for sample, _ in items)
    return [extra[int(i)] for i in rng.permutation(len(extra))]


def synth(out_dir: Path, n: int = 1000, seed: int = 0, defects: bool = False, *,
          test_every: int = TEST_EVERY, held_out: int = 0, val: int = 0) -> dict[str, Any]:
    """Write a phantom VQA set of ``n`` clean samples (train + test) to ``out_dir``; return summary counts.

    Every ``test_every``-th case goes to the test split (5: ~20 % of samples; 3: ~33 %); ``held_out`` more
    test samples follow from cases of their own, leaving the train pool as it is without them; ``val`` clean
    validation samples (``val.jsonl``) likewise, leaving train and test as they are without them.
    """
    if n < 1:
        raise ValueError(f"n: must be at least 1, got {n}")
    if test_every < 2:
        raise ValueError(f"test_every: must be at least 2 (every n-th case is a test case), got {test_every}")
    if held_out < 0:
        raise ValueError(f"held_out: must be >= 0, got {held_out}")
    if val < 0:
        raise ValueError(f"val: must be >= 0, got {val}")
    start = time.perf_counter()
    out_dir = Path(out_dir)
    images_dir = fresh_images_dir(out_dir)
    # spawn(6)'s first five children are spawn(5)'s: adding the val stream changed nothing before it
    scene_seq, id_seq, name_seq, defect_seq, held_seq, val_seq = np.random.SeedSequence(seed).spawn(6)
    rng = np.random.default_rng(scene_seq)
    ids = OpaqueIds(np.random.default_rng(id_seq))
    image_names = OpaqueIds(np.random.default_rng(name_seq), n_hex=12)

    train: list[Sample] = []
    test: list[Sample] = []
    questions: dict[str, Question] = {}
    cases = []
    for case_id, rel, scene, items in track(_cases(n, rng, ids, image_names, images_dir, test_every),
                                                  "phantom cases"):
        split = items[0][0].split if items else "train"
        cases.append({"case_id": case_id, "split": split, "image": rel, **scene.to_json()})
        for sample, q in items:
            (test if split == "test" else train).append(sample)
            questions[sample.id] = q
    train = [train[int(i)] for i in rng.permutation(len(train))]
    test = [test[int(i)] for i in rng.permutation(len(test))]
    n_clean_train = len(train)

    defect_rows: list[dict[str, Any]] = []
    if defects:
        train, found = inject(train, test, questions, root=out_dir, rng=np.random.default_rng(defect_seq),
                              ids=ids, image_names=image_names)
        defect_rows = [d.to_json() for d in found]
        write_jsonl(out_dir / "defects.jsonl", defect_rows)
    if held_out:  # own streams (scenes, ids, image names), so nothing above depends on it
        test += _extra_split(held_out, "test", held_seq, ids, image_names, images_dir, cases, "held-out cases")
    val_samples: list[Sample] = []
    if val:  # last, so that train and test (ids and image names included) never depend on it
        val_samples = _extra_split(val, "val", val_seq, ids, image_names, images_dir, cases, "validation cases")
        write_jsonl(out_dir / "val.jsonl", val_samples)
    write_jsonl(out_dir / "train.jsonl", train)
    write_jsonl(out_dir / "test.jsonl", test)
    write_jsonl(out_dir / "cases.jsonl", cases)

    summary = {
        "n": n, "seed": seed, "test_every": test_every, "held_out": held_out, "n_cases": len(cases),
        "n_train_clean": n_clean_train, "n_train": len(train),
        "n_test": len(test), "n_val": len(val_samples),
        "by_task": dict(sorted(Counter(s.task for s in [*train, *test]).items())),  # type: ignore[type-var]
        "by_modality": dict(sorted(Counter(s.modality for s in [*train, *test]).items())),  # type: ignore[type-var]
        "by_answer_type": dict(sorted(Counter(s.answer_type for s in [*train, *test]).items())),
        "defects": dict(Counter(row["kind"] for row in defect_rows)) if defects else {},
        "defect_rates": DEFECT_RATES if defects else {},
    }
    write_json(out_dir / "synth.json", summary)
    summary["seconds"] = round(time.perf_counter() - start, 3)
    return summary
