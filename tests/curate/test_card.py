from __future__ import annotations

from infimed.curate.card import CardStats, render_card
from infimed.privacy.measure import MEASURED


def result(stages):
    return {"inputs": ["in.jsonl"], "n_read": 3, "n_curated": 3, "n_rejected": 0, "engine": "local",
            "stages": stages}


def stage(name, report=None):
    return {"name": name, "in": 3, "kept": 3, "dropped": {}, "seconds": 0.1, "report": report or {}}


def test_card_states_what_deid_found_and_the_scrubbers_measured_figures():
    report = {"phi_found": {"name": 2, "mrn": 1}, "samples_with_phi": 2, "dicom_files": 0}
    card = render_card(result([stage("read"), stage("deidentify", report)]), CardStats())
    section = card.split("## De-identification", 1)[1]
    assert "name 2, mrn 1 (in 2 samples)" in section
    assert MEASURED["version"] in section
    assert f"identifier recall {MEASURED['identifier_recall']:.3f}" in section
    assert f"clinical terms kept {MEASURED['clinical_terms_kept']:.3f}" in section
    assert f"identifier recall {MEASURED['held_out_blind_identifier_recall']:.3f}" in section


def test_no_deid_section_without_the_stage():
    assert "De-identification" not in render_card(result([stage("read")]), CardStats())


def test_card_gives_the_blind_figure_on_hard_cases():
    card = render_card(result([stage("deidentify")]), CardStats())
    assert f"blind recall {MEASURED['stress_blind_identifier_recall']:.3f}" in card
