from __future__ import annotations

import json
from pathlib import Path

import pytest

from infimed.curate.config import load_config
from infimed.curate.export import SHAREGPT_TAGS, load_trl_export
from infimed.curate.pipeline import run_pipeline
from infimed.io.jsonl import load_samples
from infimed.prompts import build_prompt


@pytest.fixture
def curated_dir(tmp_path, make_image, row, write_rows) -> Path:
    rows = [row(f"s{i}", [make_image(f"{i}.png", i)], f"Is there a lesion in region {i}?", "yes" if i % 2 else "no")
            for i in range(6)]
    rows.append(row("c", [make_image("c.png", 99)], "Which side?", "B", answer_type="choice",
                    options={"A": "left", "B": "right"}, task="lesion_localization"))
    rows.append(row("t", [], "What enzyme is deficient in phenylketonuria?", "phenylalanine hydroxylase",
                    answer_type="open", modality=None, task="other"))
    out = tmp_path / "out"
    run_pipeline([write_rows("in.jsonl", rows)], out, load_config(None, ['steps=[{"name": "validate"}]', "workers=1"]))
    return out


def test_llamafactory_sharegpt_layout(curated_dir):
    folder = curated_dir / "export" / "llamafactory"
    info = json.loads((folder / "dataset_info.json").read_text())
    entry = info["infimed_curated"]
    assert entry["formatting"] == "sharegpt" and entry["tags"] == SHAREGPT_TAGS
    assert entry["columns"] == {"messages": "messages", "images": "images"}
    data = json.loads((folder / entry["file_name"]).read_text())
    samples = {s.id: s for s in load_samples(curated_dir / "curated.jsonl")}
    assert len(data) == len(samples) == 8
    for rec, s in zip(data, samples.values(), strict=True):
        user, assistant = rec["messages"]
        assert (user["role"], assistant["role"]) == ("user", "assistant")
        assert user["content"].count("<image>") == len(rec["images"]) == len(s.images)
        assert user["content"].removeprefix("<image>" * len(s.images)) == build_prompt(s)
        assert assistant["content"] == s.answer
        assert all((folder / p).exists() for p in rec["images"])  # relative to LLaMA-Factory's media_dir


def test_trl_export_loads_with_decoded_images(curated_dir):
    ds = load_trl_export(curated_dir / "export" / "trl" / "train.jsonl")
    assert len(ds) == 8
    first = ds[0]
    assert first["messages"][0]["content"][0]["type"] == "image"
    assert first["images"][0].size == (64, 64)
    assert ds[7]["images"] == []


@pytest.mark.slow
def test_trl_sft_trainer_accepts_the_export(curated_dir, tiny_model_dir, tmp_path):
    from trl import SFTConfig, SFTTrainer

    from infimed.model.loading import load_model_and_processor

    model, processor = load_model_and_processor(tiny_model_dir, device="cpu", dtype="float32", for_training=True)
    ds = load_trl_export(curated_dir / "export" / "trl" / "train.jsonl").remove_columns("id")
    ds = ds.filter(lambda r: len(r["images"]) == 1)  # one batch shape: the image samples
    args = SFTConfig(output_dir=str(tmp_path / "sft"), max_steps=2, per_device_train_batch_size=2,
                     learning_rate=1e-3, logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
                     remove_unused_columns=False, dataloader_num_workers=0, disable_tqdm=True)
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=processor)
    result = trainer.train()
    assert trainer.state.global_step == 2
    assert result.training_loss > 0


def test_trl_export_decodes_a_12bit_xray_through_io_images(tmp_path, xray12):
    import numpy as np
    from PIL import Image

    Image.fromarray(xray12()).save(tmp_path / "cxr16.png")
    row = {"id": "x", "messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "q"}]},
                                   {"role": "assistant", "content": [{"type": "text", "text": "yes"}]}],
           "images": ["cxr16.png"]}
    (tmp_path / "train.jsonl").write_text(json.dumps(row) + "\n")
    (image,) = load_trl_export(tmp_path / "train.jsonl")[0]["images"]
    assert image.mode == "RGB" and np.asarray(image).std() > 30  # datasets.Image alone would give white
