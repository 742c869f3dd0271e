"""Questions about a phantom scene: six task types, each in choice, yes/no and open form.

Every (task, answer type) pair has three wordings, so paraphrases exist naturally and a near duplicate
can be re-asked with another template (``render_question``). A ``Question`` keeps its template number
and slots, so the wording can change while the meaning (and the answer) stays the same.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from infimed.data.scene import ANATOMIES, MODALITY_KEYS, MODALITY_NAMES, QUADRANTS, SIZE_GRADES, Scene
from infimed.schema import OPTION_LETTERS

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "modality_recognition": {
        "choice": ("What imaging modality was used to acquire this image?", "Which modality is shown?",
                   "This image was acquired with which imaging technique?"),
        "yes_no": ("Is this a {value} image?", "Was this image acquired with {value}?",
                   "Does this picture come from a {value} examination?"),
        "open": ("What imaging modality is this?", "Which imaging technique produced this image?",
                 "Name the modality of this scan."),
    },
    "anatomy_identification": {
        "choice": ("Which body region is shown in this image?", "What part of the body is imaged here?",
                   "Which anatomical region does this cross-section show?"),
        "yes_no": ("Does this image show the {value}?", "Is the {value} the imaged body region?",
                   "Is this a cross-section of the {value}?"),
        "open": ("Which body region is shown?", "What part of the body does this image show?",
                 "Name the anatomical region in this image."),
    },
    "abnormality_detection": {
        "choice": ("Is this image normal or abnormal?", "How would you classify this image?",
                   "What is the overall finding in this image?"),
        "yes_no": ("Is there a lesion in this image?", "Does this image show any abnormality?",
                   "Are there abnormal findings in this image?"),
        "open": ("Is this image normal or abnormal?", "Describe the image as normal or abnormal.",
                 "What is the overall impression: normal or abnormal?"),
    },
    "lesion_localization": {
        "choice": ("In which quadrant of the image is the lesion located?", "Where is the lesion?",
                   "Which part of the image contains the abnormality?"),
        "yes_no": ("Is the lesion in the {value} quadrant of the image?",
                   "Is the abnormality located in the {value} part of the image?",
                   "Does the {value} quadrant contain the lesion?"),
        "open": ("Where is the lesion located in the image?", "In which quadrant is the abnormality?",
                 "Which quadrant of the image shows the lesion?"),
    },
    "lesion_grading": {
        "choice": ("How large is the lesion?", "What is the size of the lesion?",
                   "Grade the size of the abnormality."),
        "yes_no": ("Is the lesion {value}?", "Would you grade the lesion as {value}?",
                   "Is the abnormality {value} in size?"),
        "open": ("How large is the lesion: small, medium or large?", "Grade the lesion size.",
                 "What size grade does the lesion have?"),
    },
    "counting": {
        "choice": ("How many lesions are visible in this image?", "How many lesions can be seen?",
                   "Count the lesions in this image."),
        "yes_no": ("Are there exactly {value} lesions in this image?", "Does this image show {value} lesions?",
                   "Is the number of lesions {value}?"),
        "open": ("How many lesions are visible?", "Count the lesions in this image.",
                 "What is the number of lesions?"),
    },
}
TASKS = tuple(TEMPLATES)

# every value a task's answer can take (the open answers); choice options add never-correct distractors
VALUES: dict[str, tuple[str, ...]] = {
    "modality_recognition": tuple(MODALITY_NAMES[m] for m in MODALITY_KEYS),
    "anatomy_identification": ANATOMIES,
    "abnormality_detection": ("normal", "abnormal"),
    "lesion_localization": QUADRANTS,
    "lesion_grading": SIZE_GRADES,
    "counting": ("0", "1", "2", "3"),
}
DISTRACTORS: dict[str, tuple[str, ...]] = {"modality_recognition": ("PET",), "anatomy_identification": ("knee",)}
ANSWER_TYPE_WEIGHTS = {"choice": 0.45, "yes_no": 0.30, "open": 0.25}
ABNORMALITY_TYPE_WEIGHTS = {"choice": 0.25, "yes_no": 0.50, "open": 0.25}


@dataclass(frozen=True)
class Question:
    task: str
    answer_type: str
    template: int
    value: str | None  # the value a yes/no question asks about
    options: dict[str, str] | None
    answer: str

    @property
    def text(self) -> str:
        return render_question(self.task, self.answer_type, self.template, self.value)


def render_question(task: str, answer_type: str, template: int, value: str | None) -> str:
    return TEMPLATES[task][answer_type][template].format(value=value)


def paraphrase(q: Question, rng: np.random.Generator) -> Question:
    """The same question in another wording (another template of the same task and answer type)."""
    n = len(TEMPLATES[q.task][q.answer_type])
    return replace(q, template=(q.template + 1 + int(rng.integers(n - 1))) % n)


def truth(scene: Scene, task: str) -> str:
    """The correct value of a task for a scene (the open answer)."""
    if task == "modality_recognition":
        return MODALITY_NAMES[scene.modality]
    if task == "anatomy_identification":
        return scene.anatomy
    if task == "abnormality_detection":
        return "abnormal" if scene.lesions else "normal"
    if task == "counting":
        return str(scene.count)
    if scene.count != 1:
        raise ValueError(f"task {task!r} is asked only of single-lesion scenes, this one has {scene.count}")
    return scene.lesions[0].quadrant if task == "lesion_localization" else scene.lesions[0].size


def tasks_for(scene: Scene) -> list[str]:
    """Which tasks a scene can answer: location and size only when there is exactly one lesion."""
    extra = ["lesion_localization", "lesion_grading"] if scene.count == 1 else []
    return ["modality_recognition", "anatomy_identification", "abnormality_detection", "counting", *extra]


def ask(scene: Scene, task: str, rng: np.random.Generator) -> Question:
    """One question of a task about a scene, in a randomly drawn answer type and wording."""
    weights = ABNORMALITY_TYPE_WEIGHTS if task == "abnormality_detection" else ANSWER_TYPE_WEIGHTS
    answer_type = str(rng.choice(list(weights), p=list(weights.values())))
    template = int(rng.integers(len(TEMPLATES[task][answer_type])))
    correct = truth(scene, task)
    others = [v for v in VALUES[task] if v != correct]
    if answer_type == "open":
        return Question(task, "open", template, None, None, correct)
    if answer_type == "yes_no":
        if task == "abnormality_detection":
            return Question(task, "yes_no", template, None, None, "yes" if scene.lesions else "no")
        asked = correct if rng.random() < 0.5 else others[int(rng.integers(len(others)))]
        return Question(task, "yes_no", template, asked, None, "yes" if asked == correct else "no")
    pool = others + list(DISTRACTORS.get(task, ()))
    k = int(rng.integers(1, min(4, len(pool)) + 1))  # 2..5 options in all
    chosen = [pool[int(i)] for i in rng.choice(len(pool), size=k, replace=False)] + [correct]
    order = rng.permutation(len(chosen))
    options = {OPTION_LETTERS[i]: chosen[int(j)] for i, j in enumerate(order)}
    answer = next(letter for letter, text in options.items() if text == correct)
    return Question(task, "choice", template, None, options, answer)


def wrong_answer(q: Question, rng: np.random.Generator) -> str:
    """Another valid answer for a question: another option letter, the flipped yes/no, another phrase."""
    if q.answer_type == "yes_no":
        return "no" if q.answer == "yes" else "yes"
    if q.answer_type == "choice":
        assert q.options is not None
        letters = [k for k in sorted(q.options) if k != q.answer]
    else:
        letters = [v for v in VALUES[q.task] if v != q.answer]
    return letters[int(rng.integers(len(letters)))]
