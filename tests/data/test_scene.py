"""Phantom scenes and questions: the pixels show what the answers say, every task in every format."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from infimed.data.questions import TEMPLATES, VALUES, ask, paraphrase, tasks_for, truth, wrong_answer
from infimed.data.scene import (
    MODALITY_KEYS,
    QUADRANTS,
    SIZE_GRADES,
    Scene,
    inner_structures,
    random_scene,
    render,
)


def scenes(n: int, seed: int = 0) -> list[Scene]:
    rng = np.random.default_rng(seed)
    return [random_scene(rng) for _ in range(n)]


def quadrant_of(diff: np.ndarray) -> str:
    h, w = diff.shape
    sums = [diff[: h // 2, : w // 2].sum(), diff[: h // 2, w // 2:].sum(),
            diff[h // 2:, : w // 2].sum(), diff[h // 2:, w // 2:].sum()]
    return QUADRANTS[int(np.argmax(sums))]


def test_render_is_deterministic_and_8bit() -> None:
    for scene in scenes(8):
        a, b = render(scene), render(scene)
        assert a.dtype == np.uint8 and a.shape == (128, 128)
        assert np.array_equal(a, b)


@pytest.mark.parametrize("modality", MODALITY_KEYS)
def test_lesion_is_where_and_as_large_as_the_truth_says_at_56px(modality: str) -> None:
    """Seen at the model's 56x56, the lesion's extra brightness lies in its quadrant and grows with its grade."""
    areas: dict[str, list[float]] = {g: [] for g in SIZE_GRADES}
    for base in scenes(200, seed=3):
        if base.count != 1:
            continue
        scene = replace(base, modality=modality)
        small = [np.asarray(Image.fromarray(render(scene, with_lesions=w)).resize((56, 56), Image.Resampling.BICUBIC),
                            dtype=np.float32) for w in (True, False)]
        diff = np.clip(small[0] - small[1], 0, None)
        lesion = scene.lesions[0]
        assert quadrant_of(diff) == lesion.quadrant == truth(scene, "lesion_localization")
        areas[lesion.size].append(float((diff > 40).sum()))
    means = [np.mean(areas[g]) for g in SIZE_GRADES]
    assert all(len(areas[g]) >= 5 for g in SIZE_GRADES)
    assert means[0] * 2 < means[1] and means[1] * 1.6 < means[2], means


def test_modalities_differ_at_56px() -> None:
    """Mean thumbnails of the four modalities are far apart (the look survives downscaling)."""
    thumbs: dict[str, list[np.ndarray]] = {m: [] for m in MODALITY_KEYS}
    for scene in scenes(160, seed=5):
        img = Image.fromarray(render(scene)).resize((56, 56), Image.Resampling.BICUBIC)
        thumbs[scene.modality].append(np.asarray(img, dtype=np.float32))
    means = {m: np.mean(v, axis=0) for m, v in thumbs.items()}
    for i, a in enumerate(MODALITY_KEYS):
        for b in MODALITY_KEYS[i + 1:]:
            assert np.abs(means[a] - means[b]).mean() > 4.0, (a, b)


def test_scene_distribution() -> None:
    got = scenes(2000, seed=1)
    counts = Counter(s.count for s in got)
    assert set(counts) == {0, 1, 2, 3}
    assert 0.30 < counts[1] / len(got) < 0.40
    assert set(Counter(s.modality for s in got)) == set(MODALITY_KEYS)
    for s in got:
        assert len({les.quadrant for les in s.lesions}) == s.count  # one lesion per quadrant at most


def test_every_task_is_asked_in_every_format_with_a_correct_answer() -> None:
    rng = np.random.default_rng(0)
    seen = set()
    for scene in scenes(400, seed=2):
        for task in tasks_for(scene):
            q = ask(scene, task, rng)
            seen.add((task, q.answer_type))
            correct = truth(scene, task)
            if q.answer_type == "open":
                assert q.answer == correct
            elif q.answer_type == "choice":
                assert q.options is not None and 2 <= len(q.options) <= 5
                assert q.options[q.answer] == correct
                assert list(q.options) == ["A", "B", "C", "D", "E"][: len(q.options)]
                assert len(set(q.options.values())) == len(q.options)
            else:
                asked = q.value if q.value is not None else "abnormal"
                assert q.answer == ("yes" if asked == correct else "no")
            assert q.text in [t.format(value=q.value) for t in TEMPLATES[task][q.answer_type]]
    assert seen == {(t, a) for t in TEMPLATES for a in ("choice", "yes_no", "open")}


def test_paraphrase_and_wrong_answer() -> None:
    rng = np.random.default_rng(4)
    for scene in scenes(100, seed=4):
        for task in tasks_for(scene):
            q = ask(scene, task, rng)
            p = paraphrase(q, rng)
            assert p.text != q.text and p.answer == q.answer and p.options == q.options
            wrong = wrong_answer(q, rng)
            assert wrong != q.answer
            if q.answer_type == "choice":
                assert q.options is not None and wrong in q.options
            elif q.answer_type == "open":
                assert wrong in VALUES[task]


def test_location_and_size_only_for_single_lesions() -> None:
    for scene in scenes(100):
        has = "lesion_localization" in tasks_for(scene)
        assert has == (scene.count == 1)
        if not has:
            with pytest.raises(ValueError, match="single-lesion"):
                truth(scene, "lesion_grading")


def test_inner_structures_are_per_case_and_never_brighten_tissue_towards_a_lesion(monkeypatch) -> None:
    """Every case carries its own inner structures (a fingerprint fixed by its seed); they only pull tissue
    towards a mid grey, so the brightest tissue (which a lesion must outshine) gets no brighter."""
    import infimed.data.scene as scene_module

    a, b = inner_structures(1), inner_structures(2)
    assert np.array_equal(a, inner_structures(1))
    assert a.min() >= 0.0 and a.max() <= 0.8 and np.abs(a - b).mean() > 0.05
    plain = [replace(s, lesions=()) for s in scenes(40, seed=7)]
    with_structures = [render(s) for s in plain]
    monkeypatch.setattr(scene_module, "inner_structures", lambda seed: np.zeros((128, 128), np.float32))
    for s, img in zip(plain, with_structures, strict=True):
        without = render(s)
        assert not np.array_equal(img, without)
        assert np.percentile(img, 99.5) <= np.percentile(without, 99.5) + 2, s
