"""Admin routes (API key with scope ``admin``): webhook subscriptions and starting a publish run.

``POST /v1/publish`` never runs the model inside the request: it starts ``civrisk publish`` as a
background process (serve/jobs.py) and answers 202 with a job id; ``GET /v1/publish/{job_id}`` says how
it went (the full output is in the job's log file on the server).
"""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from serve import jobs, subscriptions
from serve.deps import AUTH_RESPONSES, AdminScope, KeyFirstRoute, SettingsDep, StoreDep
from serve.jobs import Job, JobRunning
from serve.redaction import redact_userinfo
from serve.responses import model_response, not_found
from serve.schemas import ErrorOut, PublishJobOut, PublishRequest, WebhookCreate, WebhookOut, WebhooksOut
from serve.subscriptions import SubscriptionLimit
from serve.webhook_targets import TargetPolicy, TargetRefused

router = APIRouter(
    prefix="/v1",
    tags=["admin"],
    dependencies=[AdminScope],
    responses={
        **AUTH_RESPONSES,
        400: {
            "model": ErrorOut,
            "description": "the body is not valid JSON, or an API key was sent in the URL",
        },
        413: {"model": ErrorOut, "description": "the body is larger than CIVRISK_API_MAX_BODY_BYTES"},
    },
    route_class=KeyFirstRoute,
)


def _webhook_out(hook: subscriptions.Webhook) -> WebhookOut:
    return WebhookOut(
        id=hook.id,
        url=redact_userinfo(hook.url),  # new URLs carry no credentials; older ones may
        formats=list(hook.formats),
        description=hook.description,
        active=hook.active,
        created_at=hook.created_at.replace(tzinfo=UTC),
    )


def _job_out(job: Job) -> PublishJobOut:
    return PublishJobOut(
        job_id=job.job_id,
        status=job.status,
        week_label=job.week_label,
        command=job.command,
        pid=job.pid,
        returncode=job.returncode,
        reason=jobs.failure_reason(job),
        started_at=job.started_at.replace(tzinfo=UTC),
        finished_at=job.finished_at.replace(tzinfo=UTC) if job.finished_at else None,
        status_url=f"/v1/publish/{job.job_id}",
    )


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookOut,
    responses={409: {"model": ErrorOut, "description": "as many subscriptions are active as allowed"}},
    summary="Subscribe to alert messages",
)
def create_webhook(body: WebhookCreate, request: Request, settings: SettingsDep, store: StoreDep):
    """Subscribe ``url`` to alert messages sent from now on, signed with ``secret`` (see docs/API.md).

    The URL's host must resolve to public addresses only (unless ``CIVRISK_WEBHOOK_ALLOW_HOSTS`` allows
    it), else 422; 409 when ``CIVRISK_WEBHOOK_MAX_SUBSCRIPTIONS`` subscriptions are already active.
    """
    policy: TargetPolicy = request.app.state.webhook_policy
    try:
        hook = subscriptions.create_webhook(
            store.engine,
            body.url,
            body.secret,
            body.formats,
            body.description,
            policy=policy,
            max_active=settings.webhook_max_subscriptions,
        )
    except TargetRefused as exc:
        # the same shape as any other 422; the URL itself is not echoed (it may hold a token in its path)
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "url"), "msg": str(exc), "input": None}]
        ) from None
    except SubscriptionLimit as exc:
        raise HTTPException(409, str(exc)) from None
    return model_response(_webhook_out(hook), status_code=201)


@router.get("/webhooks", response_model=WebhooksOut, summary="List subscriptions")
def list_webhooks(store: StoreDep):
    """Return every subscription (secrets are never returned)."""
    return model_response(
        WebhooksOut(items=[_webhook_out(h) for h in subscriptions.list_webhooks(store.engine)])
    )


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=204,
    response_class=Response,
    responses={404: {"model": ErrorOut, "description": "no such subscription"}},
    summary="Stop a subscription",
)
def delete_webhook(webhook_id: Annotated[int, Path(ge=1, le=2_147_483_647)], store: StoreDep) -> Response:
    """Deactivate a subscription; its delivery log is kept."""
    try:
        subscriptions.deactivate_webhook(store.engine, webhook_id)
    except LookupError as exc:
        raise not_found(exc) from None
    return Response(status_code=204)


@router.post(
    "/publish",
    status_code=202,
    response_model=PublishJobOut,
    responses={409: {"model": ErrorOut, "description": "a publish job is already running"}},
    summary="Start the weekly publish job in the background",
)
def start_publish(
    request: Request, settings: SettingsDep, store: StoreDep, body: PublishRequest | None = None
):
    """Start ``civrisk publish`` (for ``week``, else its default week) and return 202 with the job."""
    week = body.week if body else None
    argv = request.app.state.publish_argv(week)
    log_dir = settings.home / "jobs"
    try:
        job = jobs.start_job(store.engine, argv, week, log_dir)
    except JobRunning as exc:
        raise HTTPException(409, f"{exc}; GET /v1/publish/{exc.job.job_id} says when it ends") from None
    return model_response(_job_out(job), status_code=202)


@router.get(
    "/publish/{job_id}",
    response_model=PublishJobOut,
    responses={404: {"model": ErrorOut, "description": "no such job"}},
    summary="A publish job's status",
)
def publish_status(job_id: Annotated[str, Path(max_length=64)], store: StoreDep):
    """Return the job's status; ``returncode`` is set once it ended."""
    try:
        job = jobs.get_job(store.engine, job_id)
    except LookupError as exc:
        raise not_found(exc) from None
    return model_response(_job_out(job))
