from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from infimed.curate.base import Drop
from infimed.curate.hashing import ImageSig, aligned_similarity, compute_signature
from infimed.curate.steps.dedup_exact import DedupExact
from infimed.curate.steps.dedup_near import DedupNear
from infimed.data.defects import near_variant
from infimed.data.scene import random_scene, render
from infimed.io.jsonl import load_samples


def outcome(outputs) -> dict[str, tuple[str, str | None]]:
    return {(o.sample.id if isinstance(o, Drop) else o.id): ((o.reason, o.of) if isinstance(o, Drop) else ("kept", None))
            for o in outputs}


def test_exact_dedup_uses_pixels_and_option_text(tmp_path, make_image, row, write_rows):
    a = make_image("a.png", 1)
    same_pixels = make_image("a_copy.png", 1)  # another file, identical pixels
    other = make_image("b.png", 2)
    rows = [
        row("first", [a], "Which side is the lesion on?", "A", answer_type="choice", options={"A": "left", "B": "right"}),
        row("relettered", [same_pixels], "which side is the lesion  on", "B", answer_type="choice",
            options={"A": "right", "B": "left"}),
        row("other-image", [other], "Which side is the lesion on?", "A", answer_type="choice",
            options={"A": "left", "B": "right"}),
        row("other-answer", [a], "Which side is the lesion on?", "B", answer_type="choice",
            options={"A": "left", "B": "right"}),
    ]
    got = outcome(DedupExact()(load_samples(write_rows("in.jsonl", rows))))
    assert got == {"first": ("kept", None), "relettered": ("exact_duplicate", "first"),
                   "other-image": ("kept", None), "other-answer": ("kept", None)}


def test_near_dedup_catches_reencoded_paraphrase_but_not_other_questions(tmp_path, make_image, row, write_rows):
    orig = make_image("orig.png", 5)
    jpeg = make_image("copy.jpg", 5, resize=80, fmt="JPEG", brightness=12)
    rows = [
        row("orig", [orig], "Is there a lesion in this image?", "yes"),
        row("copy", [jpeg], "Does the scan show any lesion?", "yes"),  # same task + answer: duplicate
        row("other-task", [orig], "Is this a CT image?", "yes", task="modality_recognition"),
        row("conflict", [jpeg], "Is there a lesion in this image?", "no"),  # label conflict, not a copy
        row("other-image", [make_image("x.png", 9)], "Is there a lesion in this image?", "yes"),
    ]
    got = outcome(DedupNear()(iter(load_samples(write_rows("in.jsonl", rows)))))  # an iterator: spooled
    assert got == {"orig": ("kept", None), "copy": ("near_duplicate", "orig"), "other-task": ("kept", None),
                   "conflict": ("kept", None), "other-image": ("kept", None)}


def test_near_dedup_keeps_first_of_each_cluster_deterministically(tmp_path, make_image, row, write_rows):
    imgs = [make_image("a.png", 3), make_image("a2.png", 3, resize=70), make_image("a3.jpg", 3, fmt="JPEG")]
    rows = [row(f"s{i}", [p], "Is there a lesion in this image?") for i, p in enumerate(imgs)]
    samples = load_samples(write_rows("in.jsonl", rows))
    first = outcome(DedupNear()(samples))
    assert first == outcome(DedupNear()(samples))
    assert first == {"s0": ("kept", None), "s1": ("near_duplicate", "s0"), "s2": ("near_duplicate", "s0")}


def test_near_dedup_text_only_minhash(tmp_path, row, write_rows):
    q = "A 45-year-old presents with chest pain radiating to the left arm and sweating. What is the diagnosis?"
    rows = [
        row("t1", [], q, "myocardial infarction", answer_type="open", modality=None, task="disease_diagnosis"),
        row("t2", [], q.replace("45-year-old", "45 year old"), "Myocardial infarction.", answer_type="open",
            modality=None, task="disease_diagnosis"),
        row("t3", [], "Which vitamin deficiency causes scurvy in sailors on long voyages at sea?", "vitamin c",
            answer_type="open", modality=None, task="other"),
    ]
    got = outcome(DedupNear()(load_samples(write_rows("in.jsonl", rows))))
    assert got == {"t1": ("kept", None), "t2": ("near_duplicate", "t1"), "t3": ("kept", None)}



def _signature_of(path: Path, arr: np.ndarray) -> ImageSig:
    Image.fromarray(arr, "L").save(path)
    return compute_signature(str(path))


def test_aligned_views_match_altered_copies_but_not_lookalike_cases(tmp_path):
    """A cropped / resized / re-encoded / brightened copy of a phantom case matches it; another case with the
    same modality, region and lesions (another "patient") does not."""
    rng = np.random.default_rng(0)
    copies, lookalikes = [], []
    for i in range(12):
        scene = random_scene(rng)
        original = _signature_of(tmp_path / f"o{i}.png", render(scene))
        data, ext, _ = near_variant(render(scene), rng)
        (tmp_path / f"c{i}{ext}").write_bytes(data)
        copy = compute_signature(str(tmp_path / f"c{i}{ext}"))
        other = replace(random_scene(rng), modality=scene.modality, anatomy=scene.anatomy, lesions=scene.lesions)
        twin = _signature_of(tmp_path / f"t{i}.png", render(other))
        copies.append(float(aligned_similarity(original.views_array()[None], copy.views_array()[None])[0]))
        lookalikes.append(float(aligned_similarity(original.views_array()[None], twin.views_array()[None])[0]))
    threshold = DedupNear().min_aligned_similarity
    assert min(copies) >= threshold > max(lookalikes), (copies, lookalikes)


def test_near_dedup_pairs_a_12bit_png_with_its_8bit_copy(tmp_path, xray12, make_image, row, write_rows):
    raw = xray12(128)
    (tmp_path / "images").mkdir(exist_ok=True)
    Image.fromarray(raw).save(tmp_path / "images" / "cxr16.png")
    Image.fromarray((raw >> 4).astype(np.uint8)).save(tmp_path / "images" / "cxr8.jpg", quality=90)
    q = "Is there a nodule in the right lung?"
    rows = [row("x16", ["images/cxr16.png"], q), row("x8", ["images/cxr8.jpg"], q),
            row("other", [make_image("o.png", 3)], q)]
    got = outcome(DedupNear()(load_samples(write_rows("in.jsonl", rows))))
    assert got == {"x16": ("kept", None), "x8": ("near_duplicate", "x16"), "other": ("kept", None)}
    sig = compute_signature(str(tmp_path / "images" / "cxr16.png"))
    assert sig.ok and sig.std > 30  # decoded as an X-ray, not as a white square
