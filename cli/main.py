"""The ``civrisk`` command line: subcommands only, each a thin wrapper over a pure function."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="civrisk",
    help="Weekly early warning of civilian harm by organized violence, by region and perpetrator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from civrisk import __version__

        typer.echo(f"civrisk {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the civrisk version and exit."
    ),
) -> None:
    """Weekly early warning of civilian harm by organized violence, by region and perpetrator."""


@app.command("version")
def version() -> None:
    """Print the civrisk version."""
    _print_version(True)


# Each package registers its own subcommands; the wiring stays here so `civrisk --help` lists them all.
# (keep imports of heavy libraries such as mlflow inside the command functions, not at module level)

# civrisk fetch ucdp-ged | ucdp-candidate: download official UCDP releases into the cache (ingest.fetch)
from cli.fetch import fetch_app  # noqa: E402  (light: typer only; httpx loads on use)

app.add_typer(fetch_app, name="fetch")

# civrisk actors --events DIR [--top N]: unclassified actors by deaths (cli.actors)
from cli.actors import actors_command  # noqa: E402  (light: typer only; pandas loads on use)

app.command("actors")(actors_command)

# civrisk ingest PATH... --out DIR: UCDP/ACLED files -> events, quarantine, coverage (cli.ingest)
from cli.ingest import ingest_command  # noqa: E402  (light: typer only; pandas loads on use)

app.command("ingest")(ingest_command)

# civrisk panel / civrisk features: dense weekly panel and leak-free features (cli.panel)
from cli.panel import features_command, panel_command  # noqa: E402  (light: pandas loads on use)

app.command("panel")(panel_command)
app.command("features")(features_command)

# civrisk backtest / train / models: rolling-origin backtest, MLflow registry (cli.experiments)
from cli.experiments import backtest_command, models_command, train_command  # noqa: E402  (light: typer only)

app.command("backtest")(backtest_command)
app.command("train")(train_command)
app.command("models")(models_command)

# civrisk weekly [--today DATE] [--loop --every 7d]: the unattended weekly cycle (cli.weekly)
from cli.weekly import weekly_command  # noqa: E402  (light: typer only)

app.command("weekly")(weekly_command)


# civrisk serve / apikey create|list|revoke / webhooks deliver: HTTP API and alert webhooks (cli.serve)
from cli.serve import apikey_app, serve_command, webhooks_app  # noqa: E402  (light: typer only)

app.command("serve")(serve_command)
app.add_typer(apikey_app, name="apikey")
app.add_typer(webhooks_app, name="webhooks")

# civrisk store check / migrate / grant: the scores store's integrity, schema and roles (cli.store)
from cli.store import store_app  # noqa: E402  (light: typer only)

app.add_typer(store_app, name="store")

# civrisk publish / verify / demo: the weekly publication, its verification, the demo (cli.publish)
from cli.publish import demo_command, publish_command, verify_command  # noqa: E402  (light: typer only)

app.command("publish")(publish_command)
app.command("verify")(verify_command)
app.command("demo")(demo_command)


def main() -> None:
    """Entry point of the ``civrisk`` console script."""
    app()


if __name__ == "__main__":
    main()
