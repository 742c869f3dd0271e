from infimed.backends import BACKENDS
from infimed.data.captions import synth_captions
from infimed.io.jsonl import load_samples
from infimed.quickstart.alignment_check import check_alignment, named


def test_named_reads_the_first_modality_and_region_of_every_template():
    assert named("Axial T2-weighted MRI of the head showing no lesion.") == ("MRI", "head")
    assert named("Findings: Frontal X-ray of the chest. Impression: normal.") == ("X-ray", "chest")
    assert named("Transverse ultrasound of the Pelvis: a small bright lesion") == ("ultrasound", "pelvis")
    assert named("CT image of the abdomen demonstrating two lesions") == ("CT", "abdomen")
    assert named("CTA of the thorax") == (None, None)  # whole words only
    assert named("") == (None, None)


def test_check_counts_a_caption_right_only_where_it_names_the_reference_modality_and_region(tmp_path):
    synth_captions(tmp_path / "caps", n=20, seed=3)
    test = load_samples(tmp_path / "caps" / "test.jsonl")
    assert len(test) == 4
    first, second = test[0], test[1]
    mod, region = named(first.answer)
    wrong_mod = "CT" if mod != "CT" else "MRI"
    responses = {first.id: first.answer, second.id: f"{wrong_mod} of the {named(second.answer)[1]}"}
    backend = BACKENDS.get("mock")(responses=responses)  # the rest get no answer: nothing named
    result = check_alignment(tmp_path, tmp_path / "caps" / "test.jsonl", backend=backend)
    assert result["n"] == 4 and result["modality"] == 0.25 and result["region"] == 0.5
    assert result["examples"][0] == {"reference": first.answer, "caption": first.answer}

