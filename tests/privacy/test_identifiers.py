from __future__ import annotations

import pytest

from infimed.privacy.identifiers import find_ids, looks_like_id


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("MRN: AB-123456, chest radiograph.", "AB-123456", "MRN"),
        ("Patient ZK4418T had a CT.", "ZK4418T", "MRN"),
        ("NHS number 485 777 3456 on the referral.", "485 777 3456", "MRN"),
        ("病历号：BL2024-00871", "BL2024-00871", "MRN"),
        ("등록번호: KR20230991", "KR20230991", "MRN"),
        ("Case #2023-0457 discussed.", "2023-0457", "ID"),
        ("Sample ID: Q1W2E3R4 was haemolysed.", "Q1W2E3R4", "ID"),
        ("File FN 20-3381 from the archive.", "FN 20-3381", "ID"),
        ("Subject S-0413-KQ completed the study.", "S-0413-KQ", "ID"),
        ("Accession 12-34567-X was normal.", "12-34567-X", "ID"),
    ],
)
def test_identifiers_after_a_cue(text, value, kind):
    assert (value, kind) in {(s.text, s.kind) for s in find_ids(text)}


@pytest.mark.parametrize("token", ["PT-00071", "K7Q2-99", "12-34567-X", "2024XR00123", "X9Y8Z7Q"])
def test_identifier_shapes_without_a_cue(token):
    assert looks_like_id(token)
    assert [s.text for s in find_ids(f"The scan for {token} was delayed.")] == [token]


@pytest.mark.parametrize(
    "token",
    ["T2", "T1-weighted", "C5-C6", "L4/L5", "S1", "3T", "5mm", "HbA1c", "BI-RADS", "COVID-19", "H1N1",
     "CA-125", "BRCA1", "V/Q", "18F-FDG", "G6PD", "pT2N1M0", "SARS-CoV-2", "HLA-B27", "Ki-67", "V1-V2",
     "CHA2DS2-VASc", "68Ga-PSMA", "T11-L1", "IgG4", "ICD-10"],
)
def test_clinical_tokens_are_not_identifiers(token):
    assert not looks_like_id(token)
    assert not find_ids(f"Findings: {token} noted.")


def test_counts_after_a_cue_are_not_identifiers():
    assert not find_ids("Case 2 of 5; no. 3; bed #4; number of lesions: 12.")


def test_ages_and_durations_after_a_cue_are_not_identifiers():
    assert not find_ids("Patient is a 67-year-old female; patient 3-day history.")
