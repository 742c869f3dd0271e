"""GGUF checkpoints (llama.cpp's single-file format): read directly for inference, converted once for training.

Evaluation, the reasoning teacher and the IFD scorer read a ``.gguf`` file as it is: transformers
(``from_pretrained(folder, gguf_file=name)``) builds the model and its tokenizer from the file, de-quantising
the weights at every load (seconds for a 135M model, minutes and several times the file's size in memory
for a 7B one). Training does not take a GGUF file: the adapter it saves names its base model, which has to
be a folder that PEFT, vLLM and LLaMA-Factory can load, so ``infimed model convert FILE.gguf --out DIR``
writes one (safetensors weights, config, tokenizer with its chat template) once, and DIR is then an
ordinary checkpoint for every command. transformers reads GGUF files of text models only (Llama, Qwen2,
Mistral, Phi-3, Gemma...); a vision model's GGUF (with its separate ``mmproj`` file) is refused with the
library's reason.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

GGUF_MAGIC = b"GGUF"
CONVERSION = "conversion.json"  # provenance written beside a converted model
DTYPES = ("bfloat16", "float16", "float32")


class GgufError(ValueError):
    """A GGUF file that cannot be read or converted, with the file and the reason."""


def is_gguf(path: str | Path) -> bool:
    """A file (not a folder) whose name ends in ``.gguf``, in any case."""
    p = Path(path).expanduser()
    return p.suffix.lower() == ".gguf" and p.is_file()


def check_gguf(path: Path) -> None:
    """``GgufError`` unless the file starts with the GGUF magic bytes (a renamed or truncated file)."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if head != GGUF_MAGIC:
        raise GgufError(f"{path}: not a GGUF file (it starts with {head!r}, not {GGUF_MAGIC!r})")


def convert_hint(path: str | Path) -> str:
    return f"convert it once with `infimed model convert {path} --out DIR` and pass DIR"


def load_gguf(
    path: Path, *, dtype: Any = None, device: str = "cpu", dequantize: bool = False
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a GGUF file; ``dequantize`` forces plain dense weights (needed to save)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    check_gguf(path)
    options: dict[str, Any] = {"gguf_file": path.name, "local_files_only": True}
    placement = {} if device == "cpu" else {"device_map": device}
    quant = {"quantization_config": GgufConfig(dequantize=True)} if dequantize else {}
    try:
        model = AutoModelForCausalLM.from_pretrained(path.parent, dtype=dtype, **options, **placement, **quant)
        tokenizer = AutoTokenizer.from_pretrained(path.parent, **options)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise GgufError(f"{path}: transformers cannot load this GGUF ({type(exc).__name__}: {exc})") from exc
    return model, tokenizer


def convert_gguf(path: str | Path, out_dir: str | Path, *, dtype: str = "bfloat16", overwrite: bool = False) -> Path:
    """Write ``out_dir``: the GGUF's weights de-quantised to ``dtype`` (safetensors), config, tokenizer.

    The folder appears whole or not at all (written beside it, then renamed); a model already there is
    kept unless ``overwrite``. ``conversion.json`` records the source file, its sha256 and the dtype.
    """
    import torch

    from infimed.io.jsonl import file_checksum

    src, out = Path(path).expanduser().resolve(), Path(out_dir).expanduser().resolve()
    if dtype not in DTYPES:
        raise GgufError(f"dtype: unknown {dtype!r}; expected one of {', '.join(DTYPES)}")
    if not src.is_file():
        raise GgufError(f"{src}: no such file")
    check_gguf(src)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise GgufError(f"{out}: folder is not empty; pass --overwrite to replace it or choose another --out")
    model, tokenizer = load_gguf(src, dtype=getattr(torch, dtype), dequantize=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        record = {"source": str(src), "source_sha256": file_checksum(src), "dtype": dtype,
                  "model_type": model.config.model_type, "parameters": sum(p.numel() for p in model.parameters())}
        (tmp / CONVERSION).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
