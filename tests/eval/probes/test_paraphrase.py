"""``paraphrase``: rewordings keep the answer; consistency crossed with ``blind``; a teacher's rewordings."""

from __future__ import annotations

import zlib
from pathlib import Path

from infimed.backends.base import GenRequest
from infimed.backends.mock import MockBackend
from infimed.eval.probes.paraphrase import rewordings
from infimed.eval.probes.teacher import clean_rewording, teacher_rewordings
from infimed.schema import Sample


def _wording_sensitive(req: GenRequest) -> str:
    """Right on the original wording only (the plain request), a guess on every rewording."""
    if "~paraphrase:" not in req.id:
        return str(req.meta["answer"])
    options = sorted(req.meta.get("options") or {})
    pick = zlib.crc32(req.id.encode())
    return options[pick % len(options)] if options else ("yes", "no")[pick % 2]


def test_rewordings_keep_the_question_s_meaning_markers() -> None:
    s = Sample(id="s", images=["x.png"], question="Is there a lesion in this image?", answer="yes",
               answer_type="yes_no", modality="ct", task="abnormality_detection")
    got = rewordings(s)
    assert got["lead_in"] == "Regarding any abnormal findings: is there a lesion in this image?"
    assert got["expert"] == "You are an expert reading this CT image. Is there a lesion in this image?"
    assert got["lexical"] == "Can you see a lesion in the image shown?"
    assert rewordings(s.model_copy(update={"language": "zh"})) == {}
    mri = Sample(id="m", question="MRI or CT?", answer="CT", answer_type="open", task="modality_recognition")
    assert rewordings(mri)["lead_in"].endswith(": MRI or CT?")  # an acronym keeps its capitals


def test_gold_is_consistent_and_crossed_with_blind(probe_run) -> None:
    robustness, rows = probe_run("gold", "blind,paraphrase")
    m = robustness["probes"]["paraphrase"]["overall"]
    assert m["consistency"]["rate"] == 1.0 and m["paraphrase_accuracy"]["rate"] == 1.0
    # gold never needs the image: consistent, and every consistent answer is answerable without it
    assert m["consistent_and_answerable_without_image"]["rate"] == 1.0
    assert m["consistency_by_blind_quadrant"]["answerable_without_image"]["rate"] == 1.0
    para = [r for r in rows if r["probe"] == "paraphrase"]
    plain = {r["id"]: r for r in rows if r["probe"] is None}
    assert para and all(r["question"] != plain[r["variant_of"]]["question"] for r in para)
    assert all(r["options"] == plain[r["variant_of"]]["options"] and r["answer"] == plain[r["variant_of"]]["answer"]
               for r in para)


def test_a_wording_sensitive_model_is_inconsistent(probe_run) -> None:
    robustness, _ = probe_run(MockBackend(fn=_wording_sensitive), "paraphrase")
    m = robustness["probes"]["paraphrase"]["overall"]
    assert m["plain_accuracy"]["rate"] == 1.0 and m["consistency"]["rate"] < 0.5
    assert m["paraphrase_accuracy"]["rate"] < 0.7 and "consistency_by_blind_quadrant" not in m


def test_teacher_rewordings_are_cached_and_used(probe_run, phantom_samples, tmp_path: Path) -> None:
    assert clean_rewording('Question: "Can you see a lesion?"\nextra', "Is there a lesion?") == "Can you see a lesion?"
    assert clean_rewording("Is there a lesion?", "is there a lesion?") is None and clean_rewording("", "q") is None
    log = tmp_path / "teacher-calls.txt"
    teacher = MockBackend("teacher", fn=lambda req: "Reworded question: Please tell me: " + req.meta["answer"],
                          log_calls=log)
    samples = phantom_samples[:6]
    got = teacher_rewordings(samples, teacher, tmp_path / "teacher")
    assert set(got) == {s.id for s in samples} and got[samples[0].id] == [f"Please tell me: {samples[0].question}"]
    assert teacher_rewordings(samples, teacher, tmp_path / "teacher") == got
    assert len(log.read_text().split()) == len(samples)  # the rerun asked the teacher nothing
    _, rows = probe_run("gold", "paraphrase", samples=samples, rewordings=got)
    assert sum(r["variant"] == "teacher#0" for r in rows) == len(samples)
