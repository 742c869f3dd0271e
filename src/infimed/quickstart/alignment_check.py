"""What the alignment stage taught: the aligned model captions held-out caption images, and the modality and
body region its caption names are compared with the reference caption's (both read by ``named``).

A uniform guess names the right modality or region one time in four; the base model, which never saw a caption,
names none. The check reads only the caption set's own test split (cases of their own), never the VQA splits.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infimed.data.scene import ANATOMIES, MODALITY_KEYS, MODALITY_NAMES

N_CHECK = 200  # held-out captions generated (~5 s on 2 cores)
CHECK_TOKENS = 16  # modality and region come within the first dozen tokens of every template
if TYPE_CHECKING:
    from infimed.backends import Backend, GenResult

_MODALITY = re.compile(r"\b(" + "|".join(re.escape(MODALITY_NAMES[m]) for m in MODALITY_KEYS) + r")\b")
_REGION = re.compile(r"\b(" + "|".join(ANATOMIES) + r")\b", re.IGNORECASE)


def named(text: str) -> tuple[str | None, str | None]:
    """The first modality and the first body region a caption names (``None`` where it names none)."""
    modality, region = _MODALITY.search(text), _REGION.search(text)
    return (modality.group(1) if modality else None, region.group(1).lower() if region else None)


def check_alignment(model_dir: Path, captions_test: Path, *, n: int = N_CHECK, batch_size: int = 64,
                    backend: Backend | None = None) -> dict[str, Any]:
    """Caption the first ``n`` held-out images greedily; the share whose modality / region is named right.
    ``backend`` defaults to the hf backend on ``model_dir``."""
    from infimed.backends import BACKENDS, GenRequest, SamplingParams
    from infimed.io.jsonl import load_samples
    from infimed.prompts import messages

    samples = load_samples(captions_test)[:n]
    if not samples:
        raise ValueError(f"{captions_test}: no caption records to check the alignment stage on")
    if backend is None:
        backend = BACKENDS.get("hf")(model=str(model_dir), batch_size=batch_size, cache_inputs=True)
    responses: dict[str, str] = {}

    def keep(result: GenResult) -> None:
        responses[result.id] = result.response or ""

    requests = [GenRequest(s.id, messages(s)) for s in samples]
    backend.generate(requests, SamplingParams(max_new_tokens=CHECK_TOKENS), keep)
    hits = {"modality": 0, "region": 0}
    for s in samples:
        said, truth = named(responses.get(s.id, "")), named(s.answer)
        hits["modality"] += said[0] is not None and said[0] == truth[0]
        hits["region"] += said[1] is not None and said[1] == truth[1]
    return {"n": len(samples), "modality": hits["modality"] / len(samples), "region": hits["region"] / len(samples),
            "examples": [{"reference": s.answer, "caption": responses.get(s.id, "")} for s in samples[:3]]}

