"""`infimed data` commands: make the phantom set, import MedMNIST, validate sample files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="Make, import and validate VQA sample files.", no_args_is_help=True)
import_app = typer.Typer(help="Convert public datasets into infimed sample files.", no_args_is_help=True)
app.add_typer(import_app, name="import")


def _table(title: str, rows: list[tuple[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("item")
    table.add_column("count", justify="right")
    for key, value in rows:
        table.add_row(key, str(value))
    Console().print(table)


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="Folder for train.jsonl, test.jsonl, images/ (and defects.jsonl, "
                             "val.jsonl)."),
    n: int = typer.Option(1000, "--n", min=1, help="Number of clean samples (train + test, ~20% test)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives byte-identical output."),
    test_every: int = typer.Option(5, "--test-every", min=2, help="Every N-th case goes to the test split "
                                   "(5: ~20% of samples, 3: ~33%)."),
    held_out: int = typer.Option(0, "--held-out", min=0, help="This many more test samples, from cases of their "
                                 "own; the train pool stays byte-identical (a larger test, tighter CIs)."),
    val: int = typer.Option(0, "--val", min=0, help="This many clean validation questions (val.jsonl), on "
                            "cases of their own, for choosing hyperparameters; the train and test files do "
                            "not change."),
    defects: bool = typer.Option(False, "--defects", help="Inject duplicates, wrong labels, bad images, PHI and "
                                 "test copies into train and write defects.jsonl."),
) -> None:
    """Generate the procedural medical phantom VQA set (CT, MRI, X-ray, ultrasound; six task types)."""
    from infimed.data.phantom import synth as run

    summary = run(out, n=n, seed=seed, defects=defects, test_every=test_every, held_out=held_out, val=val)
    rows: list[tuple[str, Any]] = [("cases (images)", summary["n_cases"]), ("train", summary["n_train"]),
                                   ("test", summary["n_test"])]
    if summary["n_val"]:
        rows.append(("val", summary["n_val"]))
    rows += [(f"task {k}", v) for k, v in summary["by_task"].items()]
    rows += [(f"modality {k}", v) for k, v in summary["by_modality"].items()]
    rows += [(f"defect {k}", v) for k, v in summary["defects"].items()]
    _table(f"phantom set in {out} ({summary['seconds']:.1f} s)", rows)


@import_app.command("medmnist")
def import_medmnist_cmd(
    npz: Path = typer.Option(..., "--npz", help="MedMNIST v2 2D .npz archive (e.g. pneumoniamnist.npz)."),
    out: Path = typer.Option(..., "--out", help="Folder for train/val/test.jsonl and images/<split>/."),
    name: str | None = typer.Option(None, "--name", help="Dataset name (e.g. pathmnist); default: from the file name."),
    formats: str = typer.Option("yes_no,choice", "--formats", help="Comma-separated question formats: "
                                "yes_no, choice, open."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many images per split."),
    seed: int = typer.Option(0, "--seed", help="Seed for option order and the class asked in yes/no questions."),
) -> None:
    """Turn a MedMNIST .npz into yes/no, choice (and open) VQA samples with PNG images."""
    from infimed.data.medmnist import import_medmnist

    try:
        fmts = tuple(f.strip() for f in formats.split(",") if f.strip())
        summary = import_medmnist(npz, out, name=name, formats=fmts, limit=limit, seed=seed)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc), param_hint="--npz") from exc
    except ValueError as exc:
        hint = {"name": "--name", "formats": "--formats", "limit": "--limit"}.get(str(exc).split(":")[0], "--npz")
        raise typer.BadParameter(str(exc), param_hint=hint) from exc
    rows = [(f"{split} images / samples", f"{v['images']} / {v['samples']}") for split, v in summary["splits"].items()]
    _table(f"{summary['name']} ({summary['modality']}) in {out}", rows)


@import_app.command("dicom")
def import_dicom_cmd(
    folder: Path = typer.Option(..., "--folder", exists=True, file_okay=False, help="Folder searched for DICOM files."),
    out: Path = typer.Option(..., "--out", help="Folder for samples.jsonl and images/ (windowed 8-bit PNGs)."),
    slices: str = typer.Option("middle", "--slices", help="Per series: the middle slice or all slices."),
    allow_burned_in: bool = typer.Option(
        False, "--allow-burned-in", help="Import files whose pixels may carry burned-in text (e.g. ultrasound)."),
) -> None:
    """Turn every DICOM series under a folder into modality-recognition samples (no identifiers kept)."""
    from infimed.io.dicom import import_dicom_folder

    if slices not in ("middle", "all"):
        raise typer.BadParameter("expected 'middle' or 'all'", param_hint="--slices")
    summary = import_dicom_folder(folder, out, slices=slices, allow_burned_in=allow_burned_in)  # type: ignore[arg-type]
    rows: list[tuple[str, object]] = [("series", summary["n_series"]), ("samples", summary["n_samples"])]
    rows += [(f"modality {k}", v) for k, v in sorted(summary["modalities"].items())]
    rows += [(f"skipped series {e['series']}", e["error"]) for e in summary["errors"]]
    _table(f"DICOM import into {out}", rows)


@app.command()
def validate(
    files: list[Path] = typer.Argument(..., help="Sample JSONL files to check (streamed, any size)."),
    no_images: bool = typer.Option(False, "--no-images", help="Skip checking that images exist and decode."),
    images_within: bool = typer.Option(False, "--images-within-data/--allow-outside-images", help="Make an "
                                       "image path outside the file's folder ('..', absolute) an error."),
) -> None:
    """Print every error with its file, line, sample id and field; exit 1 if there is any."""
    from infimed.io.jsonl import iter_records

    n_errors = 0
    rows: list[tuple[str, Any]] = []
    for path in files:
        if not path.is_file():
            typer.echo(f"{path}: file not found", err=True)
            n_errors += 1
            continue
        n_lines = n_bad = 0
        for rec in iter_records(path, check_images=not no_images, images_within=images_within):
            n_lines += 1
            for err in rec.errors:
                typer.echo(str(err))
            n_bad += bool(rec.errors)
            n_errors += len(rec.errors)
        rows.append((f"{path} records (invalid)", f"{n_lines} ({n_bad})"))
    _table("validation", rows + [("errors", n_errors)])
    if n_errors:
        raise typer.Exit(1)


@app.command("synth-captions")
def synth_captions_cmd(
    out: Path = typer.Option(..., "--out", help="Folder for train.jsonl, test.jsonl, images/ (and defects.jsonl)."),
    n: int = typer.Option(500, "--n", min=1, help="Number of clean caption / report records (~20% test)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives byte-identical output."),
    defects: bool = typer.Option(False, "--defects", help="Inject wrong, boilerplate, truncated, multi-panel, PHI "
                                 "and duplicate captions into train and write defects.jsonl."),
) -> None:
    """Generate phantom image-caption and image-report pairs (answer type report) for alignment training."""
    from infimed.data.captions import synth_captions

    try:
        summary = synth_captions(out, n=n, seed=seed, defects=defects)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--n") from exc
    rows: list[tuple[str, Any]] = [("cases (images)", summary["n_cases"]), ("train", summary["n_train"]),
                                   ("test", summary["n_test"])]
    rows += [(f"text {k}", v) for k, v in summary["by_text_kind"].items()]
    rows += [(f"defect {k}", v) for k, v in summary["defects"].items()]
    _table(f"phantom captions in {out} ({summary['seconds']:.1f} s)", rows)


from infimed.cli import data_captions as _data_captions  # noqa: E402,F401  (registers import captions/roco/pmc-oa)
