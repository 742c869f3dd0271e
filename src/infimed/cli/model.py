"""`infimed model` commands: build the tiny offline test model, summarise a checkpoint, convert a GGUF."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help="Build the tiny offline Qwen2.5-VL model; inspect checkpoints; convert GGUF files.",
                  no_args_is_help=True)


@app.command("tiny")
def tiny_cmd(
    out: Path = typer.Option(..., "--out", file_okay=False, help="Folder to write the model and processor to."),
    seed: int = typer.Option(0, "--seed", help="Seed for the random weights and the tokenizer corpus."),
    hidden_size: int = typer.Option(128, "--hidden-size", min=8, help="Text hidden size (4 attention heads)."),
    layers: int = typer.Option(2, "--layers", min=1, help="Number of text decoder layers."),
    image_size: int = typer.Option(
        56, "--image-size", min=28, help="Images are resized to about this many pixels squared (multiple of 28)."
    ),
    vocab_size: int = typer.Option(2048, "--vocab-size", min=300, help="Target vocabulary size of the BPE."),
) -> None:
    """Build a tiny random Qwen2.5-VL model + tokenizer + processor (offline, seconds on CPU)."""
    from infimed.model.tiny import build_tiny_model

    if hidden_size % 8:
        raise typer.BadParameter(f"must be a multiple of 8 (4 heads, even head dim), got {hidden_size}",
                                 param_hint="--hidden-size")
    if image_size % 28:
        raise typer.BadParameter(f"must be a multiple of 28 (patch 14 x merge 2), got {image_size}",
                                 param_hint="--image-size")
    try:
        folder = build_tiny_model(out, seed=seed, hidden_size=hidden_size, num_layers=layers, image_size=image_size,
                                  vocab_size=vocab_size)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"tiny model written to {folder}")


@app.command("convert")
def convert_cmd(
    gguf: Path = typer.Argument(..., help="A .gguf file of a text model (Llama, Qwen2, Mistral, Phi-3, Gemma...)."),
    out: Path = typer.Option(..., "--out", file_okay=False, help="Folder to write the model and tokenizer to."),
    dtype: str = typer.Option("bfloat16", "--dtype", help="Weights written as bfloat16, float16 or float32 "
                              "(float32 keeps the de-quantised values exactly, at twice the size)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model already in --out."),
) -> None:
    """De-quantise a GGUF checkpoint once into a safetensors folder that training, eval and serving load.

    eval reads a .gguf file directly (de-quantising it at every load); training needs the folder, because
    the adapter it saves names its base model.
    """
    from infimed.model.gguf import DTYPES, GgufError, convert_gguf

    if dtype not in DTYPES:
        raise typer.BadParameter(f"expected one of {', '.join(DTYPES)}, got {dtype!r}", param_hint="--dtype")
    typer.echo(f"reading and de-quantising {gguf} ...", err=True)
    try:
        folder = convert_gguf(gguf, out, dtype=dtype, overwrite=overwrite)
    except (GgufError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"model written to {folder} ({dtype}); use it as --model {folder}")


@app.command("info")
def info_cmd(
    path: Path = typer.Argument(..., help="A local checkpoint or PEFT adapter folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Parameter counts, config summary and processor pixel limits of a checkpoint (no weights loaded)."""
    from infimed.model.info import model_info
    from infimed.model.loading import ModelLoadError

    try:
        info = model_info(path)
    except ModelLoadError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    _print_info(info)


def _print_info(info: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"model {info['name']}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    table.add_row("path", str(info["path"]))
    params = info.get("parameters")
    table.add_row("parameters", f"{params:,}" if params else "-")
    for group, n in info.get("parameter_groups", {}).items():
        table.add_row(f"  {group}", f"{n:,}")
    table.add_row("config sha256", str(info.get("config_sha256")))
    if info.get("adapter"):
        table.add_row("adapter", json.dumps(info.get("adapter_config")))
        table.add_row("base model", str(info["base_model"].get("path") or info["base_model"]["name"]))
    config = info.get("config") or {}
    if config:
        table.add_row("model type", str(config.get("model_type")))
        table.add_row("text", ", ".join(f"{k}={v}" for k, v in config["text"].items()))
        if config["vision"]:
            table.add_row("vision", ", ".join(f"{k}={v}" for k, v in config["vision"].items()))
        table.add_row("rope", json.dumps(config.get("rope")))
    processor = info.get("processor")
    if processor:
        table.add_row("pixels", f"min {processor['min_pixels']}, max {processor['max_pixels']}")
        table.add_row("image tokens (max)", str(processor["max_image_tokens"]))
    Console().print(table)
