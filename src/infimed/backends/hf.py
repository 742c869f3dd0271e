"""transformers backend: real batched generation with left padding, requests sorted by prompt length.

One-sample-at-a-time generation (the usual HF evaluation path) leaves most of the hardware idle; here
requests are sorted by prompt length, so each batch pads little, and generated together. Images are
loaded per batch (never the whole set at once) and resized by the processor's own pixel limits. A
sample whose image does not load is reported as an error and its batch goes on without it; a batch that
fails as a whole is retried one sample at a time, so one poisonous sample costs only itself.
Greedy decoding when temperature is 0, else sampling seeded by ``params.seed``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from infimed.backends.base import BACKENDS, GenRequest, GenResult, SamplingParams, request_image_paths

IMAGE_CACHE_BYTES = 1024**3  # decoded images kept per process with cache_inputs
_PROMPTS: dict[str, dict[str, tuple[str, int]]] = {}  # per processor fingerprint: messages -> (text, length)
_IMAGES: dict[tuple[str, int, int], Any] = {}
_IMAGES_BYTES = [0]


class HFBackend:
    name = "hf"

    def __init__(
        self,
        model: str | Path,
        *,
        batch_size: int = 16,
        device: str = "auto",
        dtype: str = "auto",
        sort_by_length: bool = True,
        allow_download: bool = False,
        loaded: tuple[Any, Any] | None = None,
        cache_inputs: bool = False,
    ):
        """``loaded`` passes an already loaded ``(model, processor)`` pair (e.g. right after training).

        ``cache_inputs`` keeps what does not depend on the language model for every later backend in this
        process: each image's vision-tower output (``infimed.train.vision_cache``, shared by models whose tower
        has the same weights, e.g. fine-tuned from one base with the tower frozen), each prompt's rendered chat
        template and length (per processor), and decoded images (up to ``IMAGE_CACHE_BYTES``). Several models
        scored on one test split, or an image asked several questions, then pay for these once. The model's
        weights are frozen (inference only).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_name = str(model)
        self.batch_size = batch_size
        self.sort_by_length = sort_by_length
        if loaded is None:
            from infimed.model.loading import load_model_and_processor

            loaded = load_model_and_processor(model, device=device, dtype=dtype, allow_download=allow_download)
        self.model, self.processor = loaded
        self.model.eval()
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.tokenizer.padding_side = "left"
        self.vision = hasattr(self.processor, "image_processor")  # a text-only LM comes with a bare tokenizer
        self.cache_inputs = cache_inputs
        self._prompts: dict[str, tuple[str, int]] = {}
        if cache_inputs:
            from infimed.train.collate import processor_fingerprint

            self._prompts = _PROMPTS.setdefault(processor_fingerprint(self.processor), {})
            if self.vision:
                from infimed.train.vision_cache import install_vision_cache

                self.model.requires_grad_(False)
                install_vision_cache(self.model)

    def prompt_text(self, request: GenRequest) -> str:
        if self.vision:
            return str(self.processor.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True))
        flat = [{"role": m["role"], "content": _text_of(m.get("content"))} for m in request.messages]
        if getattr(self.tokenizer, "chat_template", None) is None:
            return "\n\n".join(m["content"] for m in flat)
        return str(self.tokenizer.apply_chat_template(flat, tokenize=False, add_generation_prompt=True))

    def _prompt(self, request: GenRequest) -> tuple[str, int]:
        """The request's prompt text and its length in tokens (kept when ``cache_inputs``)."""
        key = json.dumps(request.messages, sort_keys=True, default=str) if self.cache_inputs else ""
        found = self._prompts.get(key) if key else None
        if found is None:
            text = self.prompt_text(request)
            found = (text, len(self.tokenizer(text).input_ids) if self.sort_by_length else 0)
            if key:
                self._prompts[key] = found
        return found

    def generate(
        self, requests: Sequence[GenRequest], params: SamplingParams, on_result: Callable[[GenResult], None]
    ) -> None:
        import torch

        if params.temperature > 0:
            torch.manual_seed(params.seed)
        prepared = {r.id: self._prompt(r) for r in requests}
        texts = {i: text for i, (text, _) in prepared.items()}
        order = list(requests)
        if self.sort_by_length:  # longest first: memory trouble shows early
            order.sort(key=lambda r: prepared[r.id][1], reverse=True)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            ready = self._load_images(batch, on_result)
            if ready:
                self._generate_batch(ready, texts, params, on_result)

    def _load_images(
        self, batch: list[GenRequest], on_result: Callable[[GenResult], None]
    ) -> list[tuple[GenRequest, list[Any]]]:
        from infimed.io.images import ImageLoadError, load_image

        ready = []
        for req in batch:
            paths = request_image_paths(req)
            if paths and not self.vision:
                on_result(GenResult(req.id, None, error=f"{self.model_name} is a text-only model; the sample has images"))
                continue
            try:
                ready.append((req, [self._image(p, load_image) for p in paths]))
            except ImageLoadError as exc:
                on_result(GenResult(req.id, None, error=f"image: {exc}"))
        return ready

    def _image(self, path: Any, load: Callable[[Any], Any]) -> Any:
        """A decoded image; with ``cache_inputs`` kept (by path, size and mtime) while the budget lasts."""
        if not self.cache_inputs:
            return load(path)
        st = os.stat(path)
        key = (str(path), st.st_size, st.st_mtime_ns)
        image = _IMAGES.get(key)
        if image is None:
            image = load(path)
            cost = image.width * image.height * len(image.getbands())
            if _IMAGES_BYTES[0] + cost <= IMAGE_CACHE_BYTES:
                _IMAGES[key] = image
                _IMAGES_BYTES[0] += cost
        return image

    def _generate_batch(
        self,
        items: list[tuple[GenRequest, list[Any]]],
        texts: dict[str, str],
        params: SamplingParams,
        on_result: Callable[[GenResult], None],
    ) -> None:
        start = time.perf_counter()
        try:
            outputs = self._run([texts[r.id] for r, _ in items], [im for _, ims in items for im in ims], params)
        except Exception as exc:
            if len(items) == 1:
                on_result(GenResult(items[0][0].id, None, error=f"generation failed: {type(exc).__name__}: {exc}"))
                return
            for item in items:  # isolate the sample that breaks the batch
                self._generate_batch([item], texts, params, on_result)
            return
        per_sample = (time.perf_counter() - start) / len(items)
        for (req, _), (text, n_tokens) in zip(items, outputs, strict=True):
            on_result(GenResult(req.id, text, seconds=per_sample, tokens=n_tokens))

    def _run(self, texts: list[str], images: list[Any], params: SamplingParams) -> list[tuple[str, int]]:
        import torch

        if self.vision:
            inputs = self.processor(text=texts, images=images or None, padding=True, return_tensors="pt")
        else:  # the chat template already wrote the special tokens
            inputs = self.tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=False)
        inputs = inputs.to(self.model.device)
        options: dict[str, Any] = {"max_new_tokens": params.max_new_tokens}
        if params.temperature > 0:
            options.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.tokenizer.eos_token_id
        with torch.inference_mode():
            out = self.model.generate(**inputs, **options, pad_token_id=pad_id)
        new = out[:, inputs["input_ids"].shape[1]:]
        decoded = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        counts = (new != pad_id).sum(dim=1).tolist()
        return [(text.strip(), int(n)) for text, n in zip(decoded, counts, strict=True)]

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name, "model": self.model_name, "batch_size": self.batch_size,
            "device": str(getattr(self.model, "device", "")), "dtype": str(getattr(self.model, "dtype", "")),
            "sort_by_length": self.sort_by_length, "vision": self.vision,
        }


def _text_of(content: Any) -> str:
    """The text of a message's content: a plain string, or its text parts joined."""
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content or [] if isinstance(p, dict) and p.get("type") == "text")


@BACKENDS.register("hf")
def make_hf(model: str | Path, **options: Any) -> HFBackend:
    return HFBackend(model, **options)
