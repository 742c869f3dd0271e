"""MedQA, MedMCQA and PubMedQA from their release files."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_files import write_json, write_parquet

from infimed.eval.benchmarks import BenchmarkError, load_benchmark

MEDQA_ROW = {
    "question": "A 23-year-old woman presents with dysuria. Which is the best treatment?",
    "answer": "Nitrofurantoin",
    "options": {"A": "Ampicillin", "B": "Ceftriaxone", "C": "Doxycycline", "D": "Nitrofurantoin"},
    "meta_info": "step2&3",
    "answer_idx": "D",
    "metamap_phrases": ["dysuria"],
}


def test_medqa_release_layout(tmp_path: Path) -> None:
    folder = tmp_path / "data_clean" / "questions" / "US" / "4_options"
    write_json(folder / "phrases_no_exclude_test.jsonl", [MEDQA_ROW, MEDQA_ROW | {"question": "Another?"}], lines=True)
    s = load_benchmark("medqa", tmp_path, expected=2)
    assert (s[0].answer_type, s[0].answer, s[0].options, s[0].images) == ("choice", "D", MEDQA_ROW["options"], [])
    assert s[0].id == "medqa-test-00000" and s[0].meta["meta_info"] == "step2&3"
    with pytest.raises(BenchmarkError, match=r"expected 1273 rows, found 2 \(partial download\?\)"):
        load_benchmark("medqa", tmp_path)
    # the file itself works as root too
    assert len(load_benchmark("medqa", folder / "phrases_no_exclude_test.jsonl", expected=2)) == 2


def test_medqa_answer_idx_must_match_answer_text(tmp_path: Path) -> None:
    write_json(tmp_path / "test.jsonl", [MEDQA_ROW, MEDQA_ROW | {"answer_idx": "A"}], lines=True)
    with pytest.raises(BenchmarkError, match=r"test.jsonl: row 2 field 'answer_idx'"):
        load_benchmark("medqa", tmp_path, expected=2)


def _mcqa(cop: int, **over) -> dict:
    row = {
        "question": "Leukocytosis with a count over 50,000 WBC/mL is called", "exp": "Robbins.", "cop": cop,
        "opa": "Leukemoid reaction", "opb": "Leukopenia", "opc": "Myeloid metaplasia", "opd": "Neutrophilia",
        "subject_name": "Pathology", "topic_name": "Inflammation", "id": f"id-{cop}", "choice_type": "single",
    }
    return row | over


def test_medmcqa_release_cop_counts_from_one(tmp_path: Path) -> None:
    write_json(tmp_path / "dev.json", [_mcqa(1), _mcqa(4)], lines=True)
    s = load_benchmark("medmcqa", tmp_path, expected=2)
    assert [x.answer for x in s] == ["A", "D"]
    assert s[0].split == "dev" and s[0].meta["subject_name"] == "Pathology" and s[0].id == "medmcqa-id-1"
    write_json(tmp_path / "dev.json", [_mcqa(1), _mcqa(0)], lines=True)
    with pytest.raises(BenchmarkError, match=r"dev.json: row 2 field 'cop': expected an option number 1..4"):
        load_benchmark("medmcqa", tmp_path, expected=2)
    write_json(tmp_path / "test.json", [_mcqa(-1)], lines=True)
    with pytest.raises(BenchmarkError, match="withheld"):
        load_benchmark("medmcqa", tmp_path, split="test", strict=False)


def test_medmcqa_hub_parquet_cop_counts_from_zero(tmp_path: Path) -> None:
    write_parquet(tmp_path / "data" / "validation-00000-of-00001.parquet", [_mcqa(0), _mcqa(3, opc="")])
    s = load_benchmark("medmcqa", tmp_path, split="validation", expected=2)
    assert [x.answer for x in s] == ["A", "D"]
    assert s[1].options == {"A": "Leukemoid reaction", "B": "Leukopenia", "D": "Neutrophilia"}


def _pqal(question: str, decision: str) -> dict:
    return {
        "QUESTION": question, "CONTEXTS": ["Background text.", "Results text."], "LABELS": ["BACKGROUND", "RESULTS"],
        "MESHES": ["Humans"], "YEAR": "2010", "reasoning_required_pred": decision, "reasoning_free_pred": decision,
        "final_decision": decision, "LONG_ANSWER": "Because.",
    }


def test_pubmedqa_test_split_and_maybe(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_json(data / "ori_pqal.json", {
        "111": _pqal("Does X cause Y?", "yes"), "222": _pqal("Is Z safe?", "maybe"), "333": _pqal("W?", "no"),
    })
    write_json(data / "test_ground_truth.json", {"111": "yes", "222": "maybe"})
    test = load_benchmark("pubmedqa", tmp_path, expected=2)
    assert [(x.id, x.answer) for x in test] == [("pubmedqa-111", "A"), ("pubmedqa-222", "C")]
    assert test[1].options == {"A": "yes", "B": "no", "C": "maybe"} and test[1].answer_type == "choice"
    assert test[0].question == "Context: Background text. Results text.\nQuestion: Does X cause Y?"
    assert test[0].meta["long_answer"] == "Because."
    train = load_benchmark("pubmedqa", tmp_path, split="train", expected=1)
    assert [(x.id, x.answer) for x in train] == [("pubmedqa-333", "B")]
    with pytest.raises(BenchmarkError, match=r"expected 500 rows, found 2"):
        load_benchmark("pubmedqa", tmp_path)


def test_pubmedqa_bad_decision_names_pmid(tmp_path: Path) -> None:
    write_json(tmp_path / "ori_pqal.json", {"111": _pqal("Q?", "perhaps")})
    write_json(tmp_path / "test_ground_truth.json", {"111": "perhaps"})
    with pytest.raises(BenchmarkError, match=r"PMID 111.*field 'final_decision'"):
        load_benchmark("pubmedqa", tmp_path, expected=1)
