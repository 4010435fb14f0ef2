"""Request and response models of the HTTP API (pydantic); response models are never reused as requests."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from civrisk.weeks import WEEK_LABEL_PATTERN, parse_week_label, week_label
from publish.store.store import Publication
from serve.webhook_targets import TargetPolicy


def _check_week(value: str) -> str:
    parse_week_label(value)
    return value


WeekLabel = Annotated[
    str,
    AfterValidator(_check_week),
    WithJsonSchema({"type": "string", "pattern": WEEK_LABEL_PATTERN, "examples": ["2020-W23"]}),
]
"""An ISO week label, checked to name a real ISO week; the error says what was expected and what came."""


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 time as text, like '2020-06-01T06:30:00Z'; got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"expected an ISO 8601 time like '2020-06-01T06:30:00Z' or '2020-06-01'; got {value!r}"
        ) from None
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(UTC)
        except OverflowError:  # e.g. year 1 with a positive UTC offset
            raise ValueError(f"time {value!r} is out of range") from None
    return parsed.replace(tzinfo=None)


IsoTime = Annotated[
    datetime,
    BeforeValidator(_parse_time),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2020-06-01T06:30:00Z"]}),
]
"""An ISO 8601 time given as text (not a number), returned as naive UTC; no offset means UTC."""


class ErrorOut(BaseModel):
    """An error: ``detail`` says what was wrong and how to go on."""

    detail: str


class PublicationOut(BaseModel):
    """One published revision of one week."""

    id: int
    week_label: str = Field(examples=["2020-W23"])
    week: date = Field(description="Monday of the ISO week (the forecast origin)")
    revision: int
    status: Literal["published", "withdrawn"]
    latest: bool = Field(description="whether this is the week's latest published revision")
    model_name: str
    model_version: str
    data_fingerprint: str
    n_scores: int
    as_of: datetime = Field(description="data cut-off the scores were computed from (UTC)")
    published_at: datetime

    @classmethod
    def of(cls, pub: Publication, latest: bool) -> PublicationOut:
        """Return the response model of a store publication."""
        return cls(
            id=pub.id,
            week_label=pub.week_label,
            week=pub.week,
            revision=pub.revision,
            status=pub.status,
            latest=latest,
            model_name=pub.model_name,
            model_version=pub.model_version,
            data_fingerprint=pub.data_fingerprint,
            n_scores=pub.n_scores,
            as_of=pub.as_of,
            published_at=pub.created_at,
        )


class WeekOut(BaseModel):
    """A published week with every revision; ``latest_revision`` is None when all were withdrawn."""

    week_label: str
    week: date
    latest_revision: int | None
    revisions: list[PublicationOut]


class WeeksOut(BaseModel):
    """Every published week, oldest first."""

    items: list[WeekOut]


class ScoreOut(BaseModel):
    """One published score: probability (binary targets) or expected count with quantiles (count targets)."""

    region_id: str
    iso3: str
    region_name: str | None
    horizon: int = Field(description="weeks; the window is the publication week and the h-1 weeks after it")
    target: str
    p: float
    expected: float | None = None
    q10: float | None = None
    q50: float | None = None
    q90: float | None = None
    rank: int = Field(description="1 = highest p within (publication, target, horizon)")


class PublicationRef(BaseModel):
    """Which publication a page of scores comes from."""

    id: int
    week_label: str
    revision: int
    latest: bool


class ScoresPage(BaseModel):
    """A page of one publication's scores, riskiest first within target and horizon."""

    publication: PublicationRef
    items: list[ScoreOut]
    total: int = Field(description="rows matching the filters, over all pages")
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last page")


class RegionOut(BaseModel):
    """A region's scores in the latest published week that scored it."""

    region_id: str
    iso3: str
    region_name: str | None
    publication: PublicationOut
    scores: list[ScoreOut]


class HistoryPoint(BaseModel):
    """A region's score in one week (that week's latest published revision)."""

    week_label: str
    week: date
    revision: int
    horizon: int
    target: str
    p: float
    expected: float | None = None
    q10: float | None = None
    q50: float | None = None
    q90: float | None = None
    rank: int


class RegionHistoryOut(BaseModel):
    """A region's scores across weeks, oldest first."""

    region_id: str
    iso3: str
    region_name: str | None
    items: list[HistoryPoint]


class Driver(BaseModel):
    """A perpetrator group's score behind an alert (``civ_any_<group>``)."""

    group: str
    p: float


class AlertMessageOut(BaseModel):
    """One alert message (Alert, Update or Cancel) as stored; ``cap_url`` gives it as CAP 1.2 XML."""

    message_id: str = Field(description="CAP identifier '<alert_id>.<seq>'")
    alert_id: str
    seq: int
    msg_type: Literal["Alert", "Update", "Cancel"]
    publication_id: int
    week_label: str
    revision: int
    model_name: str
    model_version: str
    week: date
    first_week: date
    rule: str
    region_id: str
    iso3: str
    region_name: str | None
    target: str
    horizon: int
    p: float | None
    p_prev: float | None
    level: float
    reason: str
    drivers: list[Driver]
    sent: datetime
    references_message_id: str | None
    references_sent: datetime | None
    cap_url: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> AlertMessageOut:
        """Return the model of one row of ``ScoreStore.alerts()`` (a dict from ``to_dict('records')``)."""
        drivers = json.loads(row["drivers"]) if _present(row["drivers"]) else []
        return cls(
            message_id=row["message_id"],
            alert_id=row["alert_id"],
            seq=int(row["seq"]),
            msg_type=row["msg_type"],
            publication_id=int(row["publication_id"]),
            week_label=week_label(row["week"].date()),
            revision=int(row["revision"]),
            model_name=row["model_name"],
            model_version=row["model_version"],
            week=row["week"].date(),
            first_week=row["first_week"].date(),
            rule=row["rule"],
            region_id=row["region_id"],
            iso3=row["iso3"],
            region_name=row["region_name"] if _present(row["region_name"]) else None,
            target=row["target"],
            horizon=int(row["horizon"]),
            p=_num(row["p"]),
            p_prev=_num(row["p_prev"]),
            level=float(row["level"]),
            reason=row["reason"],
            drivers=[Driver(group=str(g), p=float(p)) for g, p in drivers],
            sent=row["sent"].to_pydatetime(),
            references_message_id=row["references_message_id"]
            if _present(row["references_message_id"])
            else None,
            references_sent=row["references_sent"].to_pydatetime()
            if _present(row["references_sent"])
            else None,
            cap_url=f"/v1/alerts/{row['message_id']}.cap",
        )


class AlertsPage(BaseModel):
    """Alert messages sent after ``since``, oldest first."""

    items: list[AlertMessageOut]
    total: int
    limit: int
    offset: int
    next_offset: int | None


class AlertOut(BaseModel):
    """One alert: every message from the Alert to the Cancel; ``open`` until a Cancel was sent."""

    alert_id: str
    open: bool
    region_id: str
    iso3: str
    region_name: str | None
    rule: str
    target: str
    horizon: int
    first_week: date
    messages: list[AlertMessageOut]


class HealthOut(BaseModel):
    """Whether the store answers and how old the latest publication is."""

    status: Literal["ok", "empty", "unavailable"]
    store_reachable: bool
    latest_week: str | None
    latest_revision: int | None
    latest_published_at: datetime | None
    latest_publication_age_days: float | None = Field(description="days since the latest publication")
    detail: str | None = None
    drift: Literal["ok", "drifting", "unknown"] | None = Field(
        None,
        description="the drift watch over the last verified weeks: 'drifting' when published calibration "
        "drifts in some country, 'unknown' before any verified week (None when the store does not answer)",
    )
    drifting: list[str] = Field(
        default_factory=list,
        description="the drifting countries and horizons in words, e.g. 'MLI h4: forecast 0.57 vs "
        "observed 0.45 (z -3.4)'",
    )

    @classmethod
    def unavailable(cls, detail: str) -> HealthOut:
        """Return the body of a 503: the store cannot be opened or does not answer, and why."""
        return cls(
            status="unavailable",
            store_reachable=False,
            latest_week=None,
            latest_revision=None,
            latest_published_at=None,
            latest_publication_age_days=None,
            detail=detail,
        )


def _check_webhook_url(value: str) -> str:
    TargetPolicy().check_syntax(value)  # the host's addresses are checked by the route (it resolves them)
    return value


WebhookUrl = Annotated[
    str,
    Field(min_length=1, max_length=2000),
    AfterValidator(_check_webhook_url),
    WithJsonSchema(
        {
            "type": "string",
            "format": "uri",
            "maxLength": 2000,
            "examples": ["https://hooks.example.org/civrisk"],
        }
    ),
]
"""An http(s) URL without credentials; its host must resolve to public addresses (docs/API.md)."""


class WebhookCreate(BaseModel):
    """A new subscription: alert messages are POSTed to ``url``, signed with ``secret``."""

    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    secret: str = Field(min_length=16, max_length=256, description="shared HMAC-SHA256 signing secret")
    formats: list[Literal["json", "cap"]] = Field(default=["json"], min_length=1, max_length=2)
    description: str | None = Field(default=None, max_length=200)


class WebhookOut(BaseModel):
    """A subscription (the secret is never returned)."""

    id: int
    url: str
    formats: list[str]
    description: str | None
    active: bool
    created_at: datetime


class WebhooksOut(BaseModel):
    """Every subscription, oldest first."""

    items: list[WebhookOut]


class PublishRequest(BaseModel):
    """Start ``civrisk publish`` for ``week`` (default: the current ISO week, UTC)."""

    model_config = ConfigDict(extra="forbid")

    week: WeekLabel | None = None


class PublishJobOut(BaseModel):
    """A background publish run."""

    job_id: str
    status: Literal["running", "succeeded", "failed"]
    week_label: str | None
    command: list[str]
    pid: int | None
    returncode: int | None
    reason: str | None = Field(
        description="why a failed job failed: the last lines of its output (at most 2,000 characters, "
        "secrets redacted); null unless failed"
    )
    started_at: datetime
    finished_at: datetime | None
    status_url: str


def _present(value: Any) -> bool:
    if value is None:
        return False
    try:
        return bool(value == value)  # NaN and NaT are not equal to themselves
    except TypeError:  # bool(pd.NA == pd.NA) raises
        return False


def _num(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value) if _present(value) else math.nan
    return None if math.isnan(f) else f
