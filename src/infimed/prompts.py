"""Versioned prompt templates, one per answer type and mode, shared by evaluation, SFT and GRPO.

Training formats its targets with ``target_text`` so a model learns exactly the layout that the answer
checker reads at evaluation time. ``PROMPT_VERSION`` and the templates go into every eval manifest.
"""

from __future__ import annotations

from typing import Any, Literal

from infimed.schema import Sample

Mode = Literal["direct", "reasoning"]
PROMPT_VERSION = "infimed-prompts-v1"

TEMPLATES: dict[str, dict[str, str]] = {
    "direct": {
        "choice": "{question}\n{options}\nAnswer with the option's letter from the given choices directly.",
        "yes_no": "{question}\nAnswer with yes or no directly.",
        "open": "{question}\nAnswer the question using a single word or phrase.",
        "report": "{question}",
    },
    "reasoning": {
        "choice": (
            "{question}\n{options}\nThink step by step inside <think></think> tags, then give the option's "
            "letter inside <answer></answer> tags."
        ),
        "yes_no": (
            "{question}\nThink step by step inside <think></think> tags, then answer yes or no inside "
            "<answer></answer> tags."
        ),
        "open": (
            "{question}\nThink step by step inside <think></think> tags, then give a short answer inside "
            "<answer></answer> tags."
        ),
        "report": (
            "{question}\nThink step by step inside <think></think> tags, then write the report inside "
            "<answer></answer> tags."
        ),
    },
}


def format_options(options: dict[str, str] | None) -> str:
    return "\n".join(f"{k}. {v}" for k, v in sorted((options or {}).items()))


def build_prompt(sample: Sample, mode: Mode = "direct") -> str:
    """The user turn's text for a sample."""
    template = TEMPLATES[mode][sample.answer_type]
    return template.format(question=sample.question.strip(), options=format_options(sample.options))


def target_text(sample: Sample, mode: Mode = "direct") -> str:
    """The assistant turn that training teaches: the bare answer, or think/answer with the rationale."""
    if mode == "direct":
        return sample.answer
    rationale = (sample.rationale or "").strip()
    return f"<think>{rationale}</think><answer>{sample.answer}</answer>"


def user_message(sample: Sample, mode: Mode = "direct") -> dict[str, Any]:
    """One user message in the HF chat format: an image part per image (with its path), then the text."""
    content: list[dict[str, Any]] = [{"type": "image", "path": str(p)} for p in sample.image_paths()]
    content.append({"type": "text", "text": build_prompt(sample, mode)})
    return {"role": "user", "content": content}


def messages(sample: Sample, mode: Mode = "direct", *, with_answer: bool = False) -> list[dict[str, Any]]:
    """Chat messages for generation (user turn only) or training (user + assistant target)."""
    msgs = [user_message(sample, mode)]
    if with_answer:
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": target_text(sample, mode)}]})
    return msgs
