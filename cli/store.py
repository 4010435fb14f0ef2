"""``civrisk store check | migrate | grant``: look after the scores store (docs/DEPLOY.md)."""

from __future__ import annotations

import typer

from cli.errors import one_line_errors

store_app = typer.Typer(help="Check, migrate and set privileges of the scores store.", no_args_is_help=True)


@store_app.command("check")
def store_check() -> None:
    """Compare the store, every publication's digest and the published folders; exit 1 on any mismatch."""
    from civrisk.settings import get_settings
    from publish.publication.store_check import check_store
    from publish.store.store import ScoreStore

    settings = get_settings()
    with one_line_errors("store check"), ScoreStore.from_settings(settings) as store:
        findings = check_store(store, settings.resolved_publications_dir())
        n_pubs = len(store.publications())
    for f in findings:
        typer.echo(f.line())
    bad = [f for f in findings if f.kind == "mismatch"]
    where = f"{n_pubs} publications, folders under {settings.resolved_publications_dir()}"
    if bad:
        typer.echo(f"store check: {len(bad)} mismatches ({where})", err=True)
        raise typer.Exit(1)
    typer.echo(f"store check: ok ({where})")


@store_app.command("migrate")
def store_migrate(
    repair_guards: bool = typer.Option(
        False,
        "--repair-guards",
        help="Also re-create the append-only triggers (after `store check` named one).",
    ),
) -> None:
    """Migrate the store to this civrisk's schema (run it as the role that owns the tables)."""
    from civrisk.settings import get_settings
    from publish.store import migrate
    from publish.store.store import ScoreStore

    settings = get_settings()
    with one_line_errors("store migrate"):
        store = ScoreStore.from_settings(settings, migrate_schema=True)
        if repair_guards:
            migrate.repair_guards(store.engine)
        store.close()
    typer.echo(f"store {migrate.describe(store.engine)}: schema revision {migrate.head_revision()}")


@store_app.command("grant")
def store_grant(
    publisher: str = typer.Option(..., "--publisher", help="Role of the weekly job / civrisk publish."),
    api: str = typer.Option(..., "--api", help="Role of civrisk serve (reads the published tables only)."),
    show: bool = typer.Option(False, "--show", help="Print the GRANT statements instead of running them."),
) -> None:
    """Grant the service roles their privileges on a PostgreSQL store (run as the owner, after migrate)."""
    from sqlalchemy import text

    from civrisk.settings import get_settings
    from publish.store.roles import grant_statements
    from publish.store.store import ScoreStore

    with one_line_errors("store grant"), ScoreStore.from_settings(get_settings()) as store:
        if store.engine.dialect.name != "postgresql":
            raise ValueError("store grant is for PostgreSQL stores; SQLite has no roles (protect the file)")
        with store.engine.begin() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            for sql in grant_statements(publisher, api):
                stmt = sql.format(schema=schema)
                typer.echo(stmt + ";")
                if not show:
                    conn.execute(text(stmt))
