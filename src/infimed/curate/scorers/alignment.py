"""Image-text alignment: how much the image helps a vision-language model predict the text (the cross-modal
analogue of IFD, ``ifd.py``). Alignment = loss(text | prompt) - loss(text | image, prompt), the mean token
negative log-likelihood of the target (a caption or report) without and with the image under a local VLM.
Above 0: the image makes the text more likely (a true pair); near or below 0: the text is not about this
image (a swapped or generic caption). As in IFD, the loss covers the target tokens only (prefix labels -100).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infimed.prompts import build_prompt, target_text, user_message
from infimed.schema import Sample


class AlignmentScorer:
    def __init__(self, model: str | Path, *, max_tokens: int = 256, device: str = "auto",
                 loaded: tuple[Any, Any] | None = None):
        """``loaded`` passes an already loaded ``(model, processor)`` pair."""
        if loaded is None:
            from infimed.model.loading import load_model_and_processor

            loaded = load_model_and_processor(model, device=device)
        self.model, self.processor = loaded
        self.model.eval()
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        if not hasattr(self.processor, "image_processor"):
            raise ValueError(f"alignment: model {model}: a vision-language model is needed (no image processor)")
        self.max_tokens = max_tokens

    def target_loss(self, sample: Sample, *, with_image: bool) -> float:
        """Mean token NLL of the sample's target after its prompt, with or without its images."""
        import torch

        from infimed.io.images import load_image

        if with_image:
            message = user_message(sample)
            images = [load_image(p) for p in sample.image_paths()] or None
        else:
            message = {"role": "user", "content": [{"type": "text", "text": build_prompt(sample)}]}
            images = None
        prefix = str(self.processor.apply_chat_template([message], tokenize=False, add_generation_prompt=True))
        n_prefix = self.processor(text=[prefix], images=images, return_tensors="pt")["input_ids"].shape[1]
        enc = self.processor(text=[prefix + target_text(sample)], images=images, return_tensors="pt")
        labels = enc["input_ids"].clone()
        labels[:, :n_prefix] = -100  # the loss covers the target only, at most max_tokens of it
        labels[:, n_prefix + self.max_tokens:] = -100
        device = self.model.device
        with torch.inference_mode():
            out = self.model(**{k: v.to(device) for k, v in enc.items()}, labels=labels.to(device))
        return float(out.loss)

    def __call__(self, sample: Sample) -> float:
        return round(self.target_loss(sample, with_image=False) - self.target_loss(sample, with_image=True), 4)
