"""What a run needs to be reproduced: code version, model, backend, prompts, sampling, seed and data checksum.

Two pieces: the *fingerprint* (the settings that change a response: model, backend, prompt version and
templates, mode, sampling) keys the prediction cache, so a resumed run never mixes responses made under
different settings; the *manifest* adds everything else worth recording and is written beside the results.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from infimed import __version__
from infimed.backends.base import SamplingParams
from infimed.prompts import PROMPT_VERSION, TEMPLATES, build_prompt
from infimed.schema import Sample

PACKAGES = ("torch", "transformers", "vllm", "httpx")


def _sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def fingerprint(*, model: str, backend: str, mode: str, params: SamplingParams) -> dict[str, Any]:
    """The settings that key the prediction cache; any change means the cached responses are not reusable."""
    return {
        "model": str(model),
        "backend": backend,
        "mode": mode,
        "prompt_version": PROMPT_VERSION,
        "templates_sha256": _sha256_json(TEMPLATES[mode]),
        "sampling": params.to_dict(),
    }


def request_hash(sample: Sample, mode: str) -> str:
    """Hash of what the model is asked (prompt text and image references): a cached response is reused
    only for the same question, even when a file is edited and the same output folder reused."""
    asked: dict[str, Any] = {"prompt": build_prompt(sample, mode), "images": sample.images}  # type: ignore[arg-type]
    if sample.meta.get("turns"):  # a multi-turn request (a probe's follow-up) is keyed by its whole dialogue
        asked["turns"] = sample.meta["turns"]
    return _sha256_json(asked)[:16]


def data_checksum(samples: Iterable[Sample]) -> str:
    """sha256 over the canonical JSON of every record, in order (image bytes are not hashed)."""
    digest = hashlib.sha256()
    for s in samples:
        digest.update(json.dumps(s.to_json_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def git_info() -> dict[str, Any]:
    """Commit hash and dirty flag of the infimed checkout, or None outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
        )
        return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def prompts_used(mode: str, samples: Sequence[Sample]) -> dict[str, Any]:
    used = sorted({s.answer_type for s in samples})
    return {"version": PROMPT_VERSION, "mode": mode, "templates": {t: TEMPLATES[mode][t] for t in used}}


def build_manifest(
    *,
    samples: Sequence[Sample],
    mode: str,
    params: SamplingParams | None,
    backend: dict[str, Any],
    data_source: str | None = None,
    fingerprint: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest.json of a run (``params``/``fingerprint`` are None when rescoring external responses)."""
    return {
        "infimed_version": __version__,
        "git": git_info(),
        "packages": package_versions(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": backend.get("model"),
        "backend": backend,
        "prompts": prompts_used(mode, samples),
        "sampling": params.to_dict() if params is not None else None,
        "seed": params.seed if params is not None else None,
        "data": {"source": data_source, "n": len(samples), "sha256": data_checksum(samples)},
        "fingerprint": fingerprint,
        **(extra or {}),
    }
