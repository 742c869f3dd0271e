from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from infimed.curate.base import Drop
from infimed.curate.embed import image_stats
from infimed.curate.scorers.consistency import ModalityCentroids, consistency, text_consistency
from infimed.curate.scorers.image import image_quality
from infimed.curate.scorers.text import repetition, text_quality
from infimed.curate.scorers.verifiability import verifiability
from infimed.curate.steps.quality import QualityStep, combined
from infimed.io.jsonl import load_samples
from infimed.schema import Sample


def _png(path, arr):
    Image.fromarray(arr.astype(np.uint8), "L").save(path)
    return path


def test_image_quality_zero_for_blank_high_for_structured(tmp_path):
    rng = np.random.default_rng(0)
    blank = image_stats(_png(tmp_path / "blank.png", np.full((128, 128), 90) + rng.normal(0, 1, (128, 128))))
    yy, xx = np.mgrid[:256, :256]
    disc = np.where((yy - 128) ** 2 + (xx - 128) ** 2 < 70**2, 200, 30) + rng.normal(0, 10, (256, 256))
    good = image_stats(_png(tmp_path / "good.png", np.clip(disc, 0, 255)))
    tiny = image_stats(_png(tmp_path / "tiny.png", np.clip(disc[::8, ::8], 0, 255)))
    assert image_quality(blank) == 0.0 and image_quality(None) == 0.0
    assert image_quality(good) > 0.8
    assert 0 < image_quality(tiny) < image_quality(good)  # 32 px: below the resolution floor


def test_text_quality_prefers_medical_non_repetitive_text():
    medical = Sample(id="a", question="Is there a pleural effusion in the left lung on this chest radiograph?",
                     answer="yes", answer_type="yes_no")
    generic = Sample(id="b", question="Is it a nice picture of a thing that you like?", answer="yes", answer_type="yes_no")
    loop = Sample(id="c", question="what is it what is it what is it what is it what is it what is it",
                  answer="no", answer_type="yes_no")
    assert text_quality(medical) > text_quality(generic) > text_quality(loop)
    assert repetition(["a", "b", "c", "a", "b", "c", "a", "b", "c"]) > 0.5 and repetition(["a", "b", "c", "d", "e"]) == 0.0


def test_verifiability_orders_closed_over_vague_open():
    choice = Sample(id="a", question="Which?", options={"A": "ct", "B": "mri"}, answer="A", answer_type="choice")
    yes_no = Sample(id="b", question="Is it?", answer="yes", answer_type="yes_no")
    short = Sample(id="c", question="Which organ?", answer="liver", answer_type="open")
    vague = Sample(id="d", question="Describe.", answer="possibly several lesions of various kinds in the organ",
                   answer_type="open")
    assert verifiability(choice) > verifiability(yes_no) > verifiability(short) > verifiability(vague)


def test_text_consistency_catches_modality_words_that_contradict_the_field():
    ok = Sample(id="a", question="Is there a nodule on this CT scan?", answer="yes", answer_type="yes_no", modality="ct")
    bad = Sample(id="b", question="Is there a nodule on this MRI?", answer="yes", answer_type="yes_no", modality="ct")
    silent = Sample(id="c", question="Is there a nodule?", answer="yes", answer_type="yes_no", modality="ct")
    assert text_consistency(ok) == 1.0 and text_consistency(bad) == 0.0 and text_consistency(silent) is None
    assert consistency(silent, None, None) == 1.0


def test_modality_centroids_flag_images_unlike_their_declared_modality():
    rng = np.random.default_rng(0)
    dark = rng.normal(0.2, 0.02, (20, 8)).astype(np.float32)
    bright = rng.normal(0.8, 0.02, (20, 8)).astype(np.float32)
    model = ModalityCentroids(np.concatenate([dark, bright]), ["ct"] * 20 + ["xray"] * 20)
    assert model.predict(bright[0]) == "xray"
    assert model.score(dark[0], "ct") == 1.0
    assert model.score(bright[0], "ct") < 0.1
    assert model.score(dark[0], "fundus") is None  # unknown class: no opinion


def test_combined_score_uses_weights_over_present_dimensions():
    scores = {"image_quality": 1.0, "text_quality": 0.0}
    assert combined(scores, {}) == 0.5
    assert combined(scores, {"image_quality": 3.0}) == 0.75


def test_step_drops_exactly_the_blank_and_corrupt_phantom_images(phantom_defects_dir):
    samples = load_samples(phantom_defects_dir / "train.jsonl")
    kinds = {d["id"]: d["kind"] for d in map(json.loads, (phantom_defects_dir / "defects.jsonl").read_text().splitlines())}
    step = QualityStep()
    out = list(step(samples))
    dropped = {o.sample.id: o for o in out if isinstance(o, Drop)}
    bad = {i for i, k in kinds.items() if k in ("blank_image", "corrupt_image")}
    assert set(dropped) == bad
    assert all(d.reason == "low_image_quality" for d in dropped.values())
    kept = [o for o in out if isinstance(o, Sample)]
    assert all(0.0 <= v <= 1.0 for s in kept for v in s.meta["scores"].values())
    assert {"image_quality", "text_quality", "consistency", "verifiability", "quality"} <= set(kept[0].meta["scores"])
    agree = np.mean([s.meta.get("image_modality") == s.modality for s in kept])
    assert agree > 0.7  # the pool-fitted nearest-centroid modality classifier mostly agrees
    assert step.report()["mean_scores"]["quality"] > 0.5


def test_min_quality_and_unknown_dimension():
    low = Sample(id="a", question="what is it what is it what is it what is it what is it", answer="maybe",
                 answer_type="open")
    (out,) = list(QualityStep(min_quality=0.95)([low]))
    assert isinstance(out, Drop) and out.reason == "low_quality"
    (kept,) = list(QualityStep(min_quality=0.95, filter=False)([low]))
    assert isinstance(kept, Sample) and "quality" in kept.meta["scores"]
    with pytest.raises(ValueError, match="unknown dimension 'sharpness'"):
        QualityStep(thresholds={"sharpness": 0.5})


@pytest.mark.slow
def test_ifd_with_bundled_smollm2():
    from infimed.curate.scorers.ifd import IfdScorer

    scorer = IfdScorer()
    related = Sample(id="a", question="What is the capital of France?", answer="The capital of France is Paris.",
                     answer_type="open")
    unrelated = Sample(id="b", question="How many legs does a spider have?", answer="The capital of France is Paris.",
                       answer_type="open")
    closed = Sample(id="c", question="Is the heart an organ?", answer="yes", answer_type="yes_no")
    ifd_related, ifd_unrelated = scorer.ifd(related), scorer.ifd(unrelated)
    assert 0 < ifd_related < ifd_unrelated  # a relevant question helps predict the answer
    assert 0.0 <= scorer(closed) <= 1.0


def test_ifd_step_with_any_causal_lm_dir(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<unk>", "<s>", *"abcdefghijklmnopqrstuvwxyz?.:", "Ġ"])}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="<unk>", bos_token="<s>").save_pretrained(tmp_path)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, bos_token_id=1)
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    sample = Sample(id="a", question="Is the heart an organ?", answer="yes", answer_type="yes_no")
    (out,) = list(QualityStep(ifd=True, ifd_model=str(tmp_path), thresholds={})([sample]))
    assert 0.0 <= out.meta["scores"]["difficulty"] <= 1.0
    with pytest.raises(FileNotFoundError, match="IFD model directory not found"):
        QualityStep(ifd=True, ifd_model=str(tmp_path / "missing"))([sample]).__next__()
