from __future__ import annotations

import socket

import pytest

from infimed.privacy.names import find_names
from infimed.privacy.text import Deidentifier


@pytest.fixture(scope="module")
def deid() -> Deidentifier:
    return Deidentifier()


@pytest.mark.parametrize(
    ("text", "expected", "kinds"),
    [
        ("Patient John Smith (MRN: 12345678) was seen by Dr. Alice Wong.",
         "Patient [NAME] (MRN: [MRN]) was seen by Dr. [NAME].", {"name": 2, "mrn": 1}),
        ("Admitted on March 3, 2021; DOB 04/12/1931; follow-up 2022-01-15.",
         "Admitted on [DATE]; DOB [DATE]; follow-up [DATE].", {"date": 3}),
        ("A 93-year-old woman, age: 95, and a 45-year-old man.",
         "A [AGE]-year-old woman, age: [AGE], and a 45-year-old man.", {"age": 2}),
        ("Call 555-123-4567 or mail jsmith@hospital.org; SSN 123-45-6789.",
         "Call [PHONE] or mail [EMAIL]; SSN [SSN].", {"phone": 1, "email": 1, "ssn": 1}),
        ("Images at https://pacs.example.com/study/1 from 10.0.0.12.",
         "Images at [URL] from [IP].", {"url": 1, "ip": 1}),
        ("Lives at 123 Main Street, Springfield, IL 62704.", "Lives at [ADDRESS].", {"address": 1}),
    ],
)
def test_phi_is_replaced_by_typed_placeholders(deid, text, expected, kinds):
    out = deid.scrub(text)
    assert out.text == expected
    assert dict(out.found) == kinds


@pytest.mark.parametrize(
    "text",
    [
        "A 63-year-old with Parkinson disease and Hodgkin lymphoma, seen in 2019.",
        "Is there evidence of Down syndrome or a Colles fracture on this radiograph?",
        "What modality is shown? CT of the chest shows a 3 cm nodule in 2 of 5 slices.",
        "The patient presents with cough; Crohn's disease and Graves disease are excluded.",
    ],
)
def test_medical_text_without_phi_is_untouched(deid, text):
    out = deid.scrub(text)
    assert out.text == text
    assert not out.found


def test_names_need_a_cue_a_listed_name_or_a_name_position():
    spans = find_names("Named Emma Stone. Mr. O'Brien had a Whipple procedure. Emma reports pain. seen by dr. jones")
    assert {(s.text, s.cued) for s in spans} == {
        ("Emma Stone", True), ("O'Brien", True), ("Emma Stone", False), ("O'Brien", False), ("Emma", False), ("jones", True)}
    assert not find_names("A Whipple procedure and a Baker's cyst; Hodgkin lymphoma, circle of Willis.")


def test_scrubbing_never_touches_the_network(deid, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    out = Deidentifier().scrub("Email john.doe@example.org, visit www.example.com, Patient Mary Jones.")
    assert out.text == "Email [EMAIL], visit [URL], Patient [NAME]."


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown PHI kinds"):
        Deidentifier(kinds=("NAME", "PASSPORT"))
