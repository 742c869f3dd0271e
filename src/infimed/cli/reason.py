"""`infimed reason` commands: build chain-of-thought data verified by the shared answer checker."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Build reasoning data (teacher chain-of-thought, reflection).", no_args_is_help=True)


@app.command("synth")
def synth_cmd(
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, help="Input sample JSONL."),
    out: Path = typer.Option(..., "--out", help="Output sample JSONL (records with verified rationales)."),
    teacher: str = typer.Option(
        ..., "--teacher",
        help="OpenAI-compatible base URL (e.g. http://localhost:8000/v1 from `vllm serve`), a local model "
        "folder, or 'none' for reflective templates only (needs --reflect).",
    ),
    teacher_model: str = typer.Option("", "--teacher-model", help="Model name on the server (default: its first)."),
    samples: int = typer.Option(4, "--samples", min=1, help="Rationales asked per sample (K)."),
    reflect: bool = typer.Option(False, "--reflect", help="Ask for / build reflective traces (self-check step)."),
    seed: int = typer.Option(0, "--seed", help="Seed for sampling and for choosing reflection patterns."),
    temperature: float = typer.Option(0.7, "--temperature", min=0.0, help="Teacher sampling temperature."),
    max_new_tokens: int = typer.Option(1024, "--max-new-tokens", min=1, help="Teacher generation limit."),
    max_chars: int = typer.Option(6000, "--max-chars", min=1, help="Reject responses longer than this."),
    concurrency: int = typer.Option(16, "--concurrency", min=1, help="Parallel requests to a teacher server."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="Env var holding the API key."),
    early_stop: bool = typer.Option(False, "--early-stop", help="Stop asking for a sample once one is accepted."),
    template_fallback: bool = typer.Option(
        True, "--template-fallback/--no-template-fallback",
        help="With --reflect: use a template trace when no teacher rationale verifies.",
    ),
    limit: int = typer.Option(0, "--limit", min=0, help="Only the first N samples (0 = all)."),
    judge: str | None = typer.Option(None, "--judge", help="Verify open answers with an LLM judge: model served at "
                                     "--judge-base-url (openai) or a local model folder (hf, vllm)."),
    judge_backend: str = typer.Option("openai", "--judge-backend", help="Judge backend: openai, hf or vllm."),
    judge_base_url: str | None = typer.Option(None, "--judge-base-url", help="openai judge: server URL."),
    judge_on: str = typer.Option("open", "--judge-on", help="Answers the judge verifies: open, all or unparsed."),
    judge_template: str = typer.Option("infimed", "--judge-template", help="Judge prompt: infimed or medevalkit."),
) -> None:
    """Ask a teacher for K rationales per sample and keep one whose final answer verifies."""
    from rich.console import Console
    from rich.table import Table

    from infimed.reason.synth import synth

    grader = None
    if judge is not None:
        from infimed.checkers import JUDGE_POLICIES
        from infimed.judge import build_judge

        if judge_on not in JUDGE_POLICIES:
            raise typer.BadParameter(f"expected one of {', '.join(JUDGE_POLICIES)}", param_hint="--judge-on")
        try:
            grader = build_judge(judge, backend=judge_backend, base_url=judge_base_url, template=judge_template,
                                 cache_path=out.with_name(out.name + ".judge.jsonl"), concurrency=concurrency,
                                 api_key_env=api_key_env)
        except (KeyError, ValueError, FileNotFoundError) as exc:
            raise typer.BadParameter(str(exc.args[0] if isinstance(exc, KeyError) else exc),
                                     param_hint="--judge") from exc
    options = {}
    if teacher.startswith(("http://", "https://")):
        options = {"concurrency": concurrency, "api_key_env": api_key_env}
    try:
        report = synth(
            data, out, teacher, teacher_model=teacher_model or None, samples=samples, reflect=reflect, seed=seed,
            temperature=temperature, max_new_tokens=max_new_tokens, max_chars=max_chars, early_stop=early_stop,
            template_fallback=template_fallback, limit=limit or None, backend_options=options,
            judge=grader, judge_on=judge_on,
        )
    except (ValueError, FileNotFoundError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    table = Table(title=f"reasoning data -> {out}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key in ("n_samples", "requests", "accepted_samples", "template_samples", "samples_without_rationale"):
        table.add_row(key, str(report[key]))
    for reason, n in report["responses"].items():
        table.add_row(f"responses: {reason}", str(n))
    Console().print(table)
