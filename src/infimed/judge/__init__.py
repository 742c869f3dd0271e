"""An LLM judge as a scorer beside the rule checker: templates, verdict cache, grading, agreement.

``build_judge`` makes one from any backend we have (a local model folder for hf/vllm, or an
OpenAI-compatible server); evaluation (``eval run/score --judge``), reasoning synthesis (verifying open
rationales) and the GRPO ``judge`` reward all use it, each deciding what to judge with
``infimed.checkers.judge_applies``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infimed.judge.judge import Judge, JudgeItem, JudgeStats, JudgeVerdict
from infimed.judge.templates import JUDGE_TEMPLATES, JudgeTemplate, get_template

JUDGE_BACKENDS = ("openai", "hf", "vllm")

__all__ = ["JUDGE_BACKENDS", "JUDGE_TEMPLATES", "Judge", "JudgeItem", "JudgeStats", "JudgeTemplate",
           "JudgeVerdict", "build_judge", "get_template"]


def build_judge(
    model: str,
    *,
    backend: str = "openai",
    base_url: str | None = None,
    template: str = "infimed",
    cache_path: str | Path | None = None,
    concurrency: int = 32,
    api_key_env: str = "OPENAI_API_KEY",
    timeout: float = 120.0,
    max_retries: int = 2,
    max_attempts: int = 3,
    backoff_base: float = 1.0,
    with_image: bool = False,
    max_new_tokens: int = 512,
    backend_options: dict[str, Any] | None = None,
) -> Judge:
    """A judge on ``backend`` (openai: ``model`` is the served name at ``base_url``; hf/vllm: a local model
    folder). Nothing is downloaded: hf/vllm load local weights only."""
    from infimed.backends import BACKENDS

    if backend not in JUDGE_BACKENDS:
        raise ValueError(f"judge backend: unknown {backend!r}; expected one of {', '.join(JUDGE_BACKENDS)}")
    chosen = get_template(template)
    options: dict[str, Any] = dict(backend_options or {})
    if backend == "openai":
        if not base_url:
            raise ValueError("an openai judge needs --judge-base-url (e.g. http://localhost:8000/v1 from vllm serve)")
        options.update(base_url=base_url, concurrency=concurrency, api_key_env=api_key_env, timeout=timeout,
                       max_retries=max_retries, backoff_base=min(backoff_base, 0.5))
    elif not Path(model).exists():
        raise FileNotFoundError(f"judge model {model!r}: a {backend} judge needs a local model folder")
    engine = BACKENDS.get(backend)(model=model, **options)
    return Judge(engine, template=chosen, cache_path=Path(cache_path) if cache_path is not None else None,
                 max_attempts=max_attempts, backoff_base=backoff_base, with_image=with_image,
                 max_new_tokens=max_new_tokens, chunk_size=max(64, 16 * concurrency))
