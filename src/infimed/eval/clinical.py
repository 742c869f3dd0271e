"""Clinical-efficacy metrics of generated reports: CheXbert label F1, from weights the user has locally.

CheXbert (Smit et al. 2020) labels 14 observations of a chest X-ray report as blank, positive, negative or
uncertain with a BERT-base encoder and one linear head per observation (13 of 4 classes, ``No Finding``
of 2), reading the [CLS] state. Its checkpoint (``chexbert.pth``, released by Stanford behind a form) and
a ``bert-base-uncased`` folder (config.json + vocab.txt) must already be on disk: nothing is downloaded,
and a missing file is a one-line error naming it. Following common practice for report generation (e.g.
R2Gen, MIMIC-CXR leaderboards), a label counts as present when CheXbert reads it as positive; the
generated report's labels are compared with the reference report's: micro- and macro-averaged F1 over
the 14 observations, micro F1 over the five common ones (cardiomegaly, edema, consolidation, atelectasis,
pleural effusion; an observation positive in neither counts as F1 0, like sklearn's zero_division=0),
and a percentile bootstrap interval of the micro F1 over reports (resampling the
per-report true/false positive and false negative counts). RadGraph F1 needs the DyGIE++ entity and
relation model, which this module does not run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from infimed.eval.metrics import LEVEL

CONDITIONS = (
    "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema", "Consolidation",
    "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices",
    "No Finding",
)
FIVE = ("Cardiomegaly", "Edema", "Consolidation", "Atelectasis", "Pleural Effusion")
POSITIVE = 1


class ClinicalMetricError(ValueError):
    """A clinical metric cannot run: its weights or encoder files are not where the user said."""


def load_chexbert(checkpoint: Path, bert_dir: Path | None = None, *, device: str = "cpu") -> tuple[Any, Any]:
    """(tokenizer, labeler) from a local ``chexbert.pth`` and a local ``bert-base-uncased`` folder."""
    import torch
    from torch import nn
    from transformers import BertConfig, BertModel, BertTokenizer

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise ClinicalMetricError(f"CheXbert weights not found at {checkpoint}; pass the path of a local chexbert.pth "
                                  "(nothing is downloaded)")
    bert_dir = Path(bert_dir) if bert_dir is not None else checkpoint.parent / "bert-base-uncased"
    missing = [n for n in ("config.json", "vocab.txt") if not (bert_dir / n).is_file()]
    if missing:
        raise ClinicalMetricError(f"CheXbert's encoder folder {bert_dir} lacks {', '.join(missing)}; pass a local "
                                  "bert-base-uncased folder (nothing is downloaded)")

    class Labeler(nn.Module):
        def __init__(self, config: Any):
            super().__init__()
            self.bert = BertModel(config, add_pooling_layer=True)
            size = config.hidden_size
            self.linear_heads = nn.ModuleList([nn.Linear(size, 4) for _ in range(13)] + [nn.Linear(size, 2)])

        def forward(self, ids: Any, mask: Any) -> list[Any]:
            cls = self.bert(ids, attention_mask=mask)[0][:, 0, :]
            return [head(cls) for head in self.linear_heads]

    model = Labeler(BertConfig.from_pretrained(bert_dir))
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        raise ClinicalMetricError(f"{checkpoint}: not a readable CheXbert checkpoint ({exc})") from exc
    state = state.get("model_state_dict", state) if isinstance(state, dict) else state
    state = {k.removeprefix("module."): v for k, v in state.items()}
    try:
        loaded = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise ClinicalMetricError(f"{checkpoint}: weights do not fit CheXbert's layout ({exc})") from exc
    missing = [k for k in loaded.missing_keys if not k.startswith("bert.pooler") and "position_ids" not in k]
    if missing:  # a checkpoint of something else: say so rather than label with random heads
        raise ClinicalMetricError(f"{checkpoint}: not a CheXbert checkpoint; missing {len(missing)} weights, "
                                  f"e.g. {missing[:3]}")
    return BertTokenizer.from_pretrained(bert_dir), model.to(device).eval()


def chexbert_labels(texts: Sequence[str], tokenizer: Any, model: Any, *, batch_size: int = 16) -> np.ndarray:
    """(n x 14) class indices (0 blank, 1 positive, 2 negative, 3 uncertain) of each report."""
    import torch

    device = next(model.parameters()).device
    out = []
    for lo in range(0, len(texts), batch_size):
        batch = tokenizer([t or "" for t in texts[lo:lo + batch_size]], padding=True, truncation=True,
                          max_length=512, return_tensors="pt")
        with torch.inference_mode():
            heads = model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
        out.append(torch.stack([h.argmax(dim=1) for h in heads], dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(CONDITIONS)), dtype=np.int64)


def label_f1(hyp_labels: np.ndarray, ref_labels: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """F1 of positive labels of generated vs reference reports (micro/macro over 14, micro over 5)."""
    hyp, ref = hyp_labels == POSITIVE, ref_labels == POSITIVE
    tp, fp, fn = (hyp & ref).astype(np.int64), (hyp & ~ref).astype(np.int64), (~hyp & ref).astype(np.int64)

    def f1(t: np.ndarray, p: np.ndarray, n: np.ndarray) -> np.ndarray:
        denom = 2 * t + p + n
        return np.where(denom > 0, 2 * t / np.maximum(denom, 1), 0.0)

    per = f1(tp.sum(0), fp.sum(0), fn.sum(0))
    five = [CONDITIONS.index(c) for c in FIVE]
    counts = np.stack([tp.sum(1), fp.sum(1), fn.sum(1)], axis=1)  # per report
    n = len(hyp)
    out: dict[str, Any] = {
        "n": n, "micro_f1": float(f1(*counts.sum(0))), "macro_f1": float(per.mean()) if n else None,
        "micro_f1_5": float(f1(tp[:, five].sum(), fp[:, five].sum(), fn[:, five].sum())),
        "per_condition_f1": {c: float(v) for c, v in zip(CONDITIONS, per, strict=True)},
    }
    if n:
        draws = np.random.default_rng(seed).multinomial(n, [1.0 / n] * n, size=n_boot) @ counts
        boot = f1(draws[:, 0], draws[:, 1], draws[:, 2])
        tail = (1 - LEVEL) / 2 * 100
        out["micro_f1_ci95"] = [float(x) for x in np.percentile(boot, [tail, 100 - tail])]
    return out


def chexbert_f1(hyps: Sequence[str], refs: Sequence[str], checkpoint: Path, bert_dir: Path | None = None, *,
                device: str = "cpu", n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    tokenizer, model = load_chexbert(checkpoint, bert_dir, device=device)
    result = label_f1(chexbert_labels(hyps, tokenizer, model), chexbert_labels(refs, tokenizer, model),
                      n_boot=n_boot, seed=seed)
    result["weights"] = str(checkpoint)
    return result
