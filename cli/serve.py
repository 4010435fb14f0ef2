"""``civrisk serve``, ``civrisk apikey ...`` and ``civrisk webhooks deliver``: thin wiring over serve/.

Imports of FastAPI, uvicorn and the store happen inside the commands, so ``civrisk --help`` stays fast.
"""

from __future__ import annotations

import typer

apikey_app = typer.Typer(
    help="Create, list and revoke API keys (stored hashed; shown once).", no_args_is_help=True
)
webhooks_app = typer.Typer(help="Webhook deliveries of alert messages.", no_args_is_help=True)


def serve_command(
    host: str | None = typer.Option(
        None, "--host", help="Address to listen on (default CIVRISK_SERVE_HOST, 127.0.0.1)."
    ),
    port: int | None = typer.Option(None, "--port", help="Port (default CIVRISK_SERVE_PORT, 8000)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes (each opens the store)."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log one line per request."),
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs and /redoc) over the scores store.

    API keys in request URLs are refused and redacted from the access log (serve/redaction.py).
    """
    import uvicorn

    from civrisk.settings import get_settings
    from cli.errors import one_line_errors
    from serve.pepper import api_key_pepper

    settings = get_settings()
    with one_line_errors("serve"):
        api_key_pepper(settings)  # generated here, once, rather than by several workers starting at once
    uvicorn.run(
        "serve.app:app_from_env",
        factory=True,
        host=host or settings.serve_host,
        port=port or settings.serve_port,
        workers=workers,
        access_log=access_log,
        proxy_headers=False,
        server_header=False,  # no "server: uvicorn": nothing to gain from advertising the stack
    )


@apikey_app.command("create")
def apikey_create(
    scope: str = typer.Option(
        ..., "--scope", help="read (all GET routes) or admin (also webhooks, publish)."
    ),
    name: str | None = typer.Option(None, "--name", help="Who or what the key is for (shown in listings)."),
) -> None:
    """Create a key and print it once on stdout; only its hash is stored, so keep it now."""
    from civrisk.settings import get_settings
    from cli.errors import one_line_errors
    from publish.store.store import ScoreStore
    from serve.auth import create_api_key
    from serve.pepper import api_key_pepper
    from serve.tables import SCOPES, create_serve_schema

    if scope not in SCOPES:
        raise typer.BadParameter(f"expected one of {list(SCOPES)}; got {scope!r}", param_hint="--scope")
    settings = get_settings()
    with one_line_errors("apikey create"):
        pepper = api_key_pepper(settings)
    with ScoreStore.from_settings(settings) as store:
        create_serve_schema(store.engine)
        key = create_api_key(store.engine, scope, name, pepper=pepper)
    typer.echo(key)
    typer.echo(
        f"API key with scope '{scope}' created: it is shown only this once (the store keeps its hash). "
        "Send it as 'Authorization: Bearer <key>'.",
        err=True,
    )


@apikey_app.command("list")
def apikey_list() -> None:
    """List keys: id, scope, name, created and revoked times (never the keys)."""
    from civrisk.settings import get_settings
    from publish.store.store import ScoreStore
    from serve.auth import list_api_keys
    from serve.tables import create_serve_schema

    with ScoreStore.from_settings(get_settings()) as store:
        create_serve_schema(store.engine)
        for k in list_api_keys(store.engine):
            revoked = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
            typer.echo(
                f"{k.key_id}\t{k.scope}\t{k.name or ''}\tcreated {k.created_at:%Y-%m-%d %H:%M}\t{revoked}"
            )


@apikey_app.command("revoke")
def apikey_revoke(
    key_id: str = typer.Argument(..., help="The 12-hex id after 'crk_' (see `civrisk apikey list`)."),
) -> None:
    """Revoke a key (running servers stop accepting it within seconds)."""
    from civrisk.settings import get_settings
    from publish.store.store import ScoreStore
    from serve.auth import revoke_api_key
    from serve.tables import create_serve_schema

    with ScoreStore.from_settings(get_settings()) as store:
        create_serve_schema(store.engine)
        try:
            key = revoke_api_key(store.engine, key_id)
        except LookupError as exc:
            raise typer.BadParameter(str(exc), param_hint="KEY_ID") from None
    typer.echo(f"revoked {key.key_id} ({key.scope})")


@webhooks_app.command("deliver")
def webhooks_deliver() -> None:
    """Queue new alert messages for every subscriber and send what is due (retries included)."""
    from civrisk.settings import get_settings
    from publish.store.store import ScoreStore
    from serve.tables import create_serve_schema
    from serve.webhooks import deliver_pending

    settings = get_settings()
    with ScoreStore.from_settings(settings) as store:
        create_serve_schema(store.engine)
        r = deliver_pending(store, settings)
    typer.echo(
        f"{r.queued} queued, {r.delivered} delivered, {r.failed_attempts} failed attempts, "
        f"{r.gave_up} given up, {r.pending} still pending"
    )
