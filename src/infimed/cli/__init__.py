"""The ``infimed`` command. Each group lives in its own module and imports heavy libraries lazily."""

from __future__ import annotations

import typer

from infimed import __version__
from infimed.cli import curate, data, eval, model, quickstart, reason, recipe, serve, train

app = typer.Typer(
    name="infimed",
    help="Build, train, evaluate and deploy a medical multimodal LLM on low resources. Offline by default.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
app.add_typer(model.app, name="model")
app.add_typer(reason.app, name="reason")
app.add_typer(eval.app, name="eval")
app.add_typer(train.app, name="train")
app.add_typer(recipe.app, name="recipe")
app.command("curate")(curate.curate)
app.command("quickstart")(quickstart.quickstart_cmd)
app.command("serve")(serve.serve)
app.add_typer(serve.users_app, name="users")
app.add_typer(serve.audit_app, name="audit")


@app.callback(invoke_without_command=True)
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()


def main() -> None:
    app()
