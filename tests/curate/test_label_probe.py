from __future__ import annotations

import numpy as np

from infimed.curate.label_probe import (
    Item,
    confident_conflicts,
    families,
    image_descriptor,
    out_of_fold_probs,
    probe,
)
from infimed.schema import Sample


def _sample(i: int, question: str, answer: str, answer_type: str = "open", task: str | None = "modality_recognition",
            options: dict[str, str] | None = None) -> Sample:
    return Sample(id=f"s{i}", images=[f"{i}.png"], question=question, answer=answer, answer_type=answer_type,
                  task=task, options=options)


def test_families_turn_named_yes_no_into_propositions_and_keep_other_questions_apart():
    pool = [
        _sample(0, "Which modality?", "CT"),
        _sample(1, "Which modality?", "B", "choice", options={"A": "MRI", "B": "X-ray"}),
        _sample(2, "Is this a CT image?", "no", "yes_no"),
        _sample(3, "Is this an X-ray image?", "yes", "yes_no"),
        _sample(4, "Is there a lesion?", "yes", "yes_no", task="abnormality_detection"),
        _sample(5, "What organ is this?", "liver", task=None),
    ]
    fams = families(pool, has_image={0, 1, 2, 3, 4, 5})
    mod = {it.index: it for it in fams["task:modality_recognition"]}
    assert mod[0].value == "ct" and mod[1].value == "x ray" and mod[1].offered == ("mri", "x ray")
    assert mod[2].value is None and mod[2].proposition == "ct" and not mod[2].said_yes
    assert mod[3].value == "x ray" and mod[3].proposition == "x ray"
    assert [it.value for it in fams["question:is there lesion"]] == ["yes"]
    assert [it.value for it in fams["question:what organ is this"]] == ["liver"]
    assert families(pool, has_image={0}) == {"task:modality_recognition": [mod[0]]}


def test_out_of_fold_probe_separates_clusters_without_seeing_the_row():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (60, 5)), rng.normal(4, 1, (60, 5))])
    y = np.repeat([0, 1], 60)
    p = out_of_fold_probs(x, y, np.ones(120, bool), 2)
    assert np.allclose(p.sum(1), 1.0)
    assert (p.argmax(1) == y).mean() > 0.95


def test_confident_learning_flags_flipped_labels_and_wrong_no_answers():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 1, (80, 6)), rng.normal(5, 1, (80, 6))])
    truth = ["ct"] * 80 + ["mri"] * 80
    items = [Item(i, v) for i, v in enumerate(truth)]
    flipped = {3, 17, 90, 150}
    for i in flipped:
        items[i] = Item(i, "mri" if truth[i] == "ct" else "ct")
    items.append(Item(160, None, "mri"))  # "Is this an MRI?" -> "no", on an MRI image
    items.append(Item(161, None, "ct"))  # "Is this a CT?" -> "no", on an MRI image: right
    feats = np.concatenate([x, rng.normal(5, 1, (2, 6))])
    found = confident_conflicts(items, feats)
    assert set(found) == flipped | {160}
    assert "'no' to 'mri'" in found[160]


def test_label_confidence_ranks_wrong_labels_last():
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(0, 1, (80, 6)), rng.normal(3, 1, (80, 6))])
    truth = ["ct"] * 80 + ["mri"] * 80
    flipped = {5, 11, 85, 120}
    items = [Item(i, ("mri" if v == "ct" else "ct") if i in flipped else v) for i, v in enumerate(truth)]
    items.append(Item(160, None, "ct"))  # "Is this a CT?" -> "no", on a CT image: wrong
    items.append(Item(161, "ct", offered=("ct", "pet")))  # a choice between CT and a value never seen
    feats = np.concatenate([x, rng.normal(0, 1, (2, 6))])
    _, confidence = probe(items, feats)
    assert set(confidence) == set(range(162))
    assert all(0.0 <= c <= 1.0 for c in confidence.values())
    lowest = sorted(confidence, key=confidence.__getitem__)[:5]
    assert set(lowest) == flipped | {160}
    assert confidence[161] > 0.9  # only the offered options compete


def test_small_or_single_valued_families_are_left_alone():
    x = np.random.default_rng(2).normal(size=(10, 3))
    assert confident_conflicts([Item(i, "a" if i % 2 else "b") for i in range(10)], x) == {}
    assert confident_conflicts([Item(i, "a") for i in range(40)], np.zeros((40, 3))) == {}
    assert probe([Item(i, "a") for i in range(40)], np.zeros((40, 3))) == ({}, {})


def test_descriptor_sees_brightness_and_texture():
    flat = image_descriptor(np.full((32, 32), 0.2, np.float32), np.full((64, 64), 0.2, np.float32))
    speckle = np.random.default_rng(3).uniform(0, 0.4, (64, 64)).astype(np.float32)
    noisy = image_descriptor(speckle[::2, ::2].copy(), speckle)
    assert flat.shape == noisy.shape == (117,)
    assert abs(flat[:64].mean() - 0.2) < 1e-6 and noisy[-3] > flat[-3] + 0.05
