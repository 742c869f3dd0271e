"""CheXbert label F1: the F1 arithmetic, clear errors when the local weights are absent, and the whole path
(`infimed eval clinical`) on a tiny random checkpoint saved in CheXbert's layout (nothing is downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from infimed.cli import app
from infimed.eval.clinical import CONDITIONS, ClinicalMetricError, label_f1, load_chexbert

RUNNER = CliRunner()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "no", "heart", "is", "normal", "effusion", "pleural",
         "cardiomegaly", "mild", "lungs", "are", "clear", ".", ","]


def test_label_f1_arithmetic() -> None:
    ref = np.zeros((3, 14), dtype=int)
    hyp = np.zeros((3, 14), dtype=int)
    card, eff = CONDITIONS.index("Cardiomegaly"), CONDITIONS.index("Pleural Effusion")
    ref[0, card] = hyp[0, card] = 1  # tp
    ref[1, eff] = 1  # fn
    hyp[2, eff] = 1  # fp
    hyp[2, card] = 2  # negative: not a positive label
    got = label_f1(hyp, ref, n_boot=200)
    assert got["micro_f1"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))
    assert got["per_condition_f1"]["Cardiomegaly"] == 1.0 and got["per_condition_f1"]["Pleural Effusion"] == 0.0
    assert got["micro_f1_5"] == pytest.approx(0.5) and got["macro_f1"] == pytest.approx(1 / 14)
    lo, hi = got["micro_f1_ci95"]
    assert 0 <= lo <= got["micro_f1"] <= hi <= 1


def tiny_chexbert(folder: Path) -> Path:
    import torch
    from torch import nn
    from transformers import BertConfig, BertModel

    bert_dir = folder / "bert-base-uncased"
    bert_dir.mkdir(parents=True)
    (bert_dir / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    config.save_pretrained(bert_dir)
    torch.manual_seed(0)
    bert = BertModel(config)
    heads = nn.ModuleList([nn.Linear(16, 4) for _ in range(13)] + [nn.Linear(16, 2)])
    state = {f"module.bert.{k}": v for k, v in bert.state_dict().items()}
    state.update({f"module.linear_heads.{k}": v for k, v in heads.state_dict().items()})
    torch.save({"model_state_dict": state, "epoch": 8}, folder / "chexbert.pth")
    return folder / "chexbert.pth"


def _run_folder(root: Path) -> Path:
    rows = [{"id": f"r{i}", "answer_type": "report", "error": None, "extracted": hyp, "answer": ref}
            for i, (hyp, ref) in enumerate([("Mild cardiomegaly.", "Mild cardiomegaly, no effusion."),
                                            ("The lungs are clear.", "Lungs are clear. Heart is normal."),
                                            ("Pleural effusion.", "No pleural effusion.")])]
    root.mkdir()
    (root / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "results.json").write_text(json.dumps({"overall": {"n": 0}, "report_metrics": {"overall": {"n": 3}}}))
    return root


def test_clinical_command_on_a_tiny_checkpoint(tmp_path: Path) -> None:
    weights = tiny_chexbert(tmp_path / "chexbert")
    run = _run_folder(tmp_path / "run")
    result = RUNNER.invoke(app, ["eval", "clinical", str(run), "--chexbert", str(weights), "--n-boot", "50"])
    assert result.exit_code == 0, result.output
    scores = json.loads((run / "results.json").read_text())["report_metrics"]["chexbert"]
    assert scores["n"] == 3 and set(scores["per_condition_f1"]) == set(CONDITIONS)
    assert 0.0 <= scores["micro_f1"] <= 1.0 and scores["weights"] == str(weights)
    assert json.loads((run / "results.json").read_text())["report_metrics"]["overall"] == {"n": 3}  # kept


def test_absent_weights_are_a_clear_error(tmp_path: Path) -> None:
    run = _run_folder(tmp_path / "run")
    result = RUNNER.invoke(app, ["eval", "clinical", str(run), "--chexbert", str(tmp_path / "nope.pth")])
    assert result.exit_code == 1 and "CheXbert weights not found" in result.output
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "chexbert.pth").write_bytes(b"x")
    with pytest.raises(ClinicalMetricError, match="lacks config.json, vocab.txt"):
        load_chexbert(tmp_path / "w" / "chexbert.pth")
