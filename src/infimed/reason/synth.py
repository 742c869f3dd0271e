"""``infimed reason synth``: teacher chain-of-thought, kept only when the shared checker verifies it.

For each sample the teacher (an OpenAI-compatible server such as ``vllm serve``, or a local transformers
model path) is asked for ``samples`` step-by-step rationales, with clinical guidance for the sample's
modality and task. The gold answer is never shown to the teacher. Every response is checked by
``infimed.reason.verify`` (which calls the evaluation checker); the first accepted one becomes the record's
``rationale``. With ``reflect`` the teacher is asked for a reflective trace (first reading, "Wait, let me
re-examine ...", confirmed or corrected answer); samples the teacher never gets right fall back to
templates grounded in the sample's own fields (``infimed.reason.reflect``). ``teacher="none"`` uses
templates only.

Teacher responses are cached line by line (``OUT.teacher.jsonl``) so a killed run resumes without
re-asking a finished request; the cache is tied to a fingerprint of the teacher and sampling settings.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infimed.backends import BACKENDS, Backend, GenRequest, GenResult, SamplingParams
from infimed.io.jsonl import JsonlAppender, iter_json_lines, load_samples, write_json, write_jsonl
from infimed.prompts import format_options
from infimed.reason.guidance import guidance_text
from infimed.reason.reflect import reflective_trace
from infimed.reason.verify import REJECT_REASONS, Verdict, verify
from infimed.schema import Sample

if TYPE_CHECKING:
    from infimed.judge import Judge

SYSTEM = "You are an expert physician who reads medical images carefully and reasons before answering."
ANSWER_FORMAT = {
    "choice": "the option's letter",
    "yes_no": "yes or no",
    "open": "a short phrase",
    "report": "the report: findings and impression",
}
STEP_BY_STEP = (
    "Reason step by step inside <think></think>: describe what you see, weigh the alternatives, and only then "
    "conclude. Do not state the answer in your first sentence. Then give the final answer ({fmt}) inside "
    "<answer></answer>."
)
REFLECTIVE = (
    "Inside <think></think>: first give your initial reading; then re-check it with a sentence that starts with "
    "\"Wait, let me re-examine\" and names a specific visual finding or a competing option; then confirm or "
    "correct your answer. Do not state the answer in your first sentence. Then give the final answer ({fmt}) "
    "inside <answer></answer>."
)


def teacher_prompt(sample: Sample, *, reflect: bool) -> str:
    parts = [guidance_text(sample.modality, sample.task), "", f"Question: {sample.question.strip()}"]
    if sample.options:
        parts.append("Options:\n" + format_options(sample.options))
    instruction = REFLECTIVE if reflect else STEP_BY_STEP
    parts += ["", instruction.format(fmt=ANSWER_FORMAT[sample.answer_type])]
    return "\n".join(parts)


def teacher_messages(sample: Sample, *, reflect: bool) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "image", "path": str(p)} for p in sample.image_paths()]
    content.append({"type": "text", "text": teacher_prompt(sample, reflect=reflect)})
    return [{"role": "system", "content": [{"type": "text", "text": SYSTEM}]}, {"role": "user", "content": content}]


def make_teacher(teacher: str, *, teacher_model: str | None, **options: Any) -> Backend:
    """A URL means an OpenAI-compatible server; anything else is a local model path for transformers."""
    if teacher.startswith(("http://", "https://")):
        return BACKENDS.get("openai")(model=teacher_model or served_model(teacher), base_url=teacher, **options)
    if not Path(teacher).exists():
        raise FileNotFoundError(f"--teacher {teacher!r}: neither an http(s) URL nor an existing model folder")
    return BACKENDS.get("hf")(model=teacher)


def served_model(base_url: str) -> str:
    """The first model an OpenAI-compatible server lists at ``/models`` (what ``vllm serve`` serves)."""
    import httpx

    url = base_url.rstrip("/") + "/models"
    try:
        resp = httpx.get(url, timeout=30.0)
        resp.raise_for_status()
        return str(resp.json()["data"][0]["id"])
    except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"could not list the teacher's models at {url} ({exc}); pass --teacher-model") from exc


@dataclass
class SynthReport:
    n_samples: int = 0
    requests: int = 0
    accepted: int = 0  # samples that got a verified teacher rationale
    from_template: int = 0  # samples that got a reflective template trace instead
    without_rationale: int = 0
    responses: Counter[str] = field(default_factory=Counter)  # accepted / each reject reason, per response
    patterns: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_samples": self.n_samples,
            "requests": self.requests,
            "accepted_samples": self.accepted,
            "template_samples": self.from_template,
            "samples_without_rationale": self.without_rationale,
            "responses": {k: self.responses.get(k, 0) for k in ("accepted", *REJECT_REASONS)},
            "reflection_patterns": dict(self.patterns),
        }


def _fingerprint(**settings: Any) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _read_cache(path: Path, fingerprint: str) -> dict[str, dict[str, Any]]:
    cache: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return cache
    for lineno, row, err in iter_json_lines(path, tolerate_torn_tail=True):
        if err is not None or not isinstance(row, dict):
            raise ValueError(f"{path}:{lineno}: corrupt teacher cache line ({err}); delete the file to start over")
        if row.get("fingerprint") != fingerprint:
            raise ValueError(
                f"{path}: cached responses come from other teacher/sampling settings; "
                "use the same settings or delete the cache"
            )
        cache[row["key"]] = row
    return cache


def synth(
    data: Path,
    out: Path,
    teacher: str,
    *,
    teacher_model: str | None = None,
    samples: int = 4,
    reflect: bool = False,
    seed: int = 0,
    temperature: float = 0.7,
    max_new_tokens: int = 1024,
    max_chars: int = 6000,
    early_stop: bool = False,
    template_fallback: bool = True,
    limit: int | None = None,
    backend_options: dict[str, Any] | None = None,
    judge: Judge | None = None,
    judge_on: str = "open",
) -> dict[str, Any]:
    """Build reasoning data; writes ``out`` (samples with rationales), ``out.rejected.jsonl``, ``out.report.json``.

    With ``judge``, the final answers ``judge_on`` selects (open answers by default) are verified by the LLM
    judge, exactly as ``eval --judge`` scores them; its verdicts are cached in ``out.judge.jsonl``."""
    if samples < 1:
        raise ValueError("samples must be at least 1")
    items = load_samples(data)[:limit] if limit else load_samples(data)
    report = SynthReport(n_samples=len(items))
    verdicts: dict[str, list[Verdict]] = {s.id: [] for s in items}
    if teacher != "none":
        _ask_teacher(items, out, teacher, teacher_model, samples, reflect, seed, temperature, max_new_tokens,
                     max_chars, early_stop, backend_options or {}, verdicts, report, judge, judge_on)
    elif not reflect:
        raise ValueError("--teacher none only makes sense with --reflect (template traces)")

    kept: list[Sample] = []
    rejected: list[dict[str, Any]] = []
    for s in items:
        chosen = next((v for v in verdicts[s.id] if v.accepted), None)
        new = s.model_copy(deep=True).with_base_dir(s.base_dir)
        if chosen is not None:
            new.rationale = chosen.rationale
            new.meta["reasoning"] = {"source": "teacher", "teacher": teacher, "reflect": reflect}
            report.accepted += 1
        elif reflect and template_fallback:
            pattern, trace = reflective_trace(s, seed=seed)
            new.rationale = trace
            new.meta["reasoning"] = {"source": "template", "pattern": pattern}
            report.from_template += 1
            report.patterns[pattern] += 1
        else:
            report.without_rationale += 1
            reasons = Counter(v.reason for v in verdicts[s.id])
            rejected.append({"id": s.id, "reasons": dict(reasons)})
            continue
        kept.append(new)
    write_jsonl(out, (_relocate(s, out.parent) for s in kept))
    write_jsonl(out.with_name(out.name + ".rejected.jsonl"), rejected)
    result = report.to_dict()
    write_json(out.with_name(out.name + ".report.json"), result)
    return result


def _relocate(sample: Sample, new_dir: Path) -> dict[str, Any]:
    """Rewrite image paths so they stay valid relative to the output file's folder."""
    import os

    row = sample.to_json_dict()
    row["images"] = [os.path.relpath(p.resolve(), new_dir.resolve()) for p in sample.image_paths()]
    return row


def _ask_teacher(
    items: list[Sample], out: Path, teacher: str, teacher_model: str | None, k_total: int, reflect: bool,
    seed: int, temperature: float, max_new_tokens: int, max_chars: int, early_stop: bool,
    backend_options: dict[str, Any], verdicts: dict[str, list[Verdict]], report: SynthReport,
    judge: Judge | None = None, judge_on: str = "open",
) -> None:
    fingerprint = _fingerprint(teacher=teacher, model=teacher_model, reflect=reflect, seed=seed,
                               temperature=temperature, max_new_tokens=max_new_tokens)
    cache_path = out.with_name(out.name + ".teacher.jsonl")
    cache = _read_cache(cache_path, fingerprint)
    by_id = {s.id: s for s in items}
    backend: Backend | None = None
    with JsonlAppender(cache_path) as log:
        for k in range(k_total):
            todo = [
                s for s in items
                if f"{s.id}#{k}" not in cache and not (early_stop and any(v.accepted for v in verdicts[s.id]))
            ]
            if todo:
                backend = backend or make_teacher(teacher, teacher_model=teacher_model, **backend_options)

                def keep(res: GenResult, k: int = k) -> None:
                    row = {"key": res.id, "k": k, "response": res.response, "error": res.error,
                           "fingerprint": fingerprint}
                    log.write(row)
                    cache[res.id] = row

                requests = [GenRequest(id=f"{s.id}#{k}", messages=teacher_messages(s, reflect=reflect)) for s in todo]
                params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, top_p=0.95,
                                        seed=seed + k)
                backend.generate(requests, params, keep)
            judged = _judge_round(items, cache, k, judge, judge_on) if judge is not None else {}
            for s in items:
                row = cache.get(f"{s.id}#{k}")
                if row is None:
                    continue
                v = verify(by_id[s.id], row.get("response"), error=row.get("error"), max_chars=max_chars,
                           judged=judged.get(s.id))
                verdicts[s.id].append(v)
                report.requests += 1
                report.responses["accepted" if v.accepted else str(v.reason)] += 1


def _judge_round(items: list[Sample], cache: dict[str, dict[str, Any]], k: int, judge: Judge,
                 policy: str) -> dict[str, bool | None]:
    """The judge's verdicts on round ``k``'s final answers that ``policy`` selects (None: judge_error)."""
    from infimed.checkers import check_sample, judge_applies, judge_candidate
    from infimed.judge.scoring import judge_item

    asked = []
    for s in items:
        row = cache.get(f"{s.id}#{k}")
        response = row.get("response") if row is not None and not row.get("error") else None
        candidate = judge_candidate(response) if isinstance(response, str) else None
        if candidate is None:
            continue
        if judge_applies(policy, answer_type=s.answer_type, extracted=check_sample(s, response).extracted):
            asked.append(judge_item(s.id, question=s.question, answer=s.answer, options=s.options,
                                    candidate=candidate, images=tuple(str(p) for p in s.image_paths())))
    return {i: v.correct for i, v in judge.grade(asked).items()} if asked else {}
