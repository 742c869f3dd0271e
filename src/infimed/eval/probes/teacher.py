"""A teacher model's rewordings for the ``paraphrase`` probe, generated through an ordinary backend.

The teacher's answers are cached like any eval run (``OUT/teacher/predictions.jsonl`` under the teacher's
fingerprint), so a rerun asks it nothing twice. A rewording is the reply's first line without quotes or a
"Question:" label; an empty reply or one that repeats the question is dropped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from infimed.backends.base import Backend, GenRequest, SamplingParams
from infimed.eval.runner import generate_cached, prepare_run
from infimed.schema import Sample

INSTRUCTION = ("Reword the following medical question so that it asks exactly the same thing and has the same "
               "answer. Do not answer it. Reply with the reworded question only.\n\nQuestion: {question}")


def clean_rewording(reply: str | None, question: str) -> str | None:
    if not reply:
        return None
    line = next((ln.strip() for ln in reply.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^(reworded question|question)\s*:\s*", "", line, flags=re.IGNORECASE).strip().strip('"“”\'')
    if not line or line.lower() == question.strip().lower():
        return None
    return line


def teacher_rewordings(samples: Sequence[Sample], teacher: Backend, out_dir: Path, *, n: int = 1,
                       max_new_tokens: int = 96, seed: int = 0, overwrite: bool = False) -> dict[str, list[str]]:
    """``n`` rewordings per English sample (sampled with temperature 0.7 when n > 1), by sample id."""
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0 if n == 1 else 0.7, seed=seed)
    prepare_run(teacher, params, out_dir, mode="direct", batch_size=None, overwrite=overwrite)
    requests, hashes, owner = [], {}, {}
    for s in samples:
        if s.language != "en":
            continue
        text = INSTRUCTION.format(question=s.question.strip())
        for i in range(n):
            rid = f"{s.id}#reword{i}"
            requests.append(GenRequest(rid, [{"role": "user", "content": [{"type": "text", "text": text}]}],
                                       meta={"answer_type": "open", "answer": s.question}))
            hashes[rid] = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
            owner[rid] = s
    gen = generate_cached(requests, hashes, teacher, params, out_dir, description="teacher rewordings")
    out: dict[str, list[str]] = {}
    for rid, s in owner.items():
        row = gen.done.get(rid) or {}
        reworded = None if row.get("error") else clean_rewording(row.get("response"), s.question)
        if reworded and reworded not in out.get(s.id, []):
            out.setdefault(s.id, []).append(reworded)
    return out
