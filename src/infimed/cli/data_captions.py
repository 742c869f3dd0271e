"""`infimed data import captions | roco | pmc-oa`: image-caption pairs into sample JSONL (answer type report)."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

from infimed.cli.data import _table, import_app

PROMPT_HELP = "The instruction of every record (the caption is the answer)."


def _report(title: str, results: dict[str, object]) -> None:
    from infimed.data.caption_import import ImportResult

    rows: list[tuple[str, object]] = []
    n_errors = 0
    for name, res in results.items():
        assert isinstance(res, ImportResult)
        for err in res.errors:
            typer.echo(str(err), err=True)
        for warning in res.warnings:
            typer.echo(f"warning: {warning}", err=True)
        n_errors += len(res.errors)
        rows += [(f"{name} rows", res.n_rows), (f"{name} records written", res.n_written),
                 (f"{name} missing images", res.n_missing_images), (f"{name} bad rows", len(res.errors))]
        if res.skipped:
            rows.append((f"{name} skipped one-word captions", len(res.skipped)))
    _table(title, rows)
    if n_errors:
        typer.echo(f"{n_errors} bad rows skipped (listed above); the other records were written", err=True)
        raise typer.Exit(1)


def _fail(exc: Exception) -> NoReturn:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


@import_app.command("captions")
def import_captions_cmd(
    images: Path = typer.Option(..., "--images", help="Folder the caption file's image names are relative to."),
    captions: Path = typer.Option(..., "--captions", help="JSONL or CSV with image (or file_name/path) and caption; "
                                  "optional id, modality."),
    out: Path = typer.Option(..., "--out", help="Folder for <split>.jsonl (image paths relative to it)."),
    modality: str | None = typer.Option(None, "--modality", help="Modality of rows that name none (e.g. xray)."),
    prompt: str = typer.Option("Write a caption for this image.", "--prompt", help=PROMPT_HELP),
    split: str = typer.Option("train", "--split", help="Split name of the records and the output file."),
    copy: bool = typer.Option(False, "--copy", help="Copy images into OUT/images/ instead of referencing them."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad row."),
    images_within: bool = typer.Option(True, "--images-within/--allow-outside-images", help="Make an image name "
                                       "leaving --images ('..', an absolute path elsewhere) a bad row."),
) -> None:
    """Import a folder of images plus a caption file as image-caption records."""
    from infimed.data.caption_import import CaptionImportError, import_captions

    try:
        res = import_captions(images, captions, out, modality=modality, prompt=prompt, copy=copy, strict=strict,
                              split=split, images_within=images_within)
    except CaptionImportError as exc:
        _fail(exc)
    _report(f"captions into {out}", {split: res})


@import_app.command("roco")
def import_roco_cmd(
    root: Path = typer.Option(..., "--root", help="ROCO v1 clone (data/<split>/<subset>/captions.txt, "
                              "images/) or ROCOv2 folder (<split>_captions.csv, <split>/)."),
    out: Path = typer.Option(..., "--out", help="Folder for <split>.jsonl."),
    split: list[str] = typer.Option(["train", "validation", "test"], "--split", help="Split(s) to import."),
    subset: str = typer.Option("radiology", "--subset", help="radiology or non-radiology."),
    allow_partial: bool = typer.Option(False, "--allow-partial", help="Import a copy with missing images "
                                       "(a warning with the counts instead of an error)."),
    prompt: str = typer.Option("Write a caption for this image.", "--prompt", help=PROMPT_HELP),
    copy: bool = typer.Option(False, "--copy", help="Copy images into OUT/images/."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad row."),
) -> None:
    """Import ROCO (Radiology Objects in COntext) caption pairs, checking the published counts."""
    from infimed.data.caption_datasets import import_roco
    from infimed.data.caption_import import CaptionImportError

    try:
        results = import_roco(root, out, splits=tuple(split), subset=subset, allow_partial=allow_partial,
                              copy=copy, strict=strict, prompt=prompt)
    except CaptionImportError as exc:
        _fail(exc)
    _report(f"ROCO {subset} into {out}", dict(results))


@import_app.command("pmc-oa")
def import_pmc_oa_cmd(
    root: Path = typer.Option(..., "--root", help="PMC-OA folder (pmc_oa.jsonl / pmc_oa_beta.jsonl, images/)."),
    out: Path = typer.Option(..., "--out", help="Folder for train.jsonl."),
    variant: str = typer.Option("pmc_oa", "--variant", help="pmc_oa (sub-captions) or pmc_oa_beta (whole)."),
    images: Path | None = typer.Option(None, "--images", help="Image folder (default: the unpacked images.zip "
                                 "under ROOT, caption_T060_filtered_top4_sep_v0_subfigures/, or ROOT/images)."),
    allow_partial: bool = typer.Option(False, "--allow-partial", help="Import a copy with missing images or rows."),
    prompt: str = typer.Option("Write a caption for this image.", "--prompt", help=PROMPT_HELP),
    copy: bool = typer.Option(False, "--copy", help="Copy images into OUT/images/."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad row."),
) -> None:
    """Import PMC-OA (PMC-CLIP's figure-caption pairs), checking the published count."""
    from infimed.data.caption_datasets import import_pmc_oa
    from infimed.data.caption_import import CaptionImportError

    try:
        res = import_pmc_oa(root, out, variant=variant, images=images, allow_partial=allow_partial, copy=copy,
                            strict=strict, prompt=prompt)
    except CaptionImportError as exc:
        _fail(exc)
    _report(f"PMC-OA {variant} into {out}", {"train": res})
