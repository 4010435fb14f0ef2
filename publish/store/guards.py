"""The database's own guards of history: triggers that make recorded rows append-only, and their check.

What they refuse, on any connection (a stray ``sqlite3``/``psql`` session included):

- an UPDATE or DELETE of scores, alerts and verifications, and a DELETE of a publication;
- any change of a publication but its status moving ``open`` -> ``published`` (the seal, which also checks
  that the publication holds exactly ``n_scores`` rows) or ``published`` -> ``withdrawn``;
- a publication inserted other than ``open`` (so every one is sealed by the row count check);
- a score added to a publication that is not open: a recorded publication is closed, so a plain INSERT
  cannot grow it and ``INSERT OR REPLACE`` cannot change a number;
- on SQLite, ``REPLACE`` of a recorded alert, verification or publication (REPLACE deletes the old row
  without firing DELETE triggers unless ``recursive_triggers`` is on); on PostgreSQL ``TRUNCATE``.

A trigger can itself be dropped by whoever owns the tables: :func:`guard_problems` compares the triggers in
the database with these definitions, and the store refuses to write while any differs (on PostgreSQL the
roles of docs/DEPLOY.md keep the service accounts from dropping them at all).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, text

APPEND_ONLY = "are append-only: published rows are never changed or deleted (publish a new revision instead)"
CLOSED = (
    "scores of a recorded publication are closed: no row is added, replaced, changed or deleted "
    "(publish a new revision instead)"
)
_PUBLICATION_COLUMNS = (
    "id",
    "week",
    "week_label",
    "revision",
    "model_name",
    "model_version",
    "data_fingerprint",
    "scores_digest",
    "n_scores",
    "as_of",
    "created_at",
)
_STATUS_MOVES = "from open to published, or from published to withdrawn"


def _abort(message: str) -> str:
    return f"SELECT RAISE(ABORT, '{message}')"


def _sqlite_triggers() -> dict[str, str]:
    same = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _PUBLICATION_COLUMNS)
    out = {}
    for table in ("scores", "alerts", "verifications"):
        for op in ("UPDATE", "DELETE"):
            name = f"{table}_append_only_{op.lower()}"
            out[name] = (
                f"CREATE TRIGGER {name} BEFORE {op} ON {table} BEGIN {_abort(f'{table} {APPEND_ONLY}')}; END"
            )
    out["scores_closed"] = (
        "CREATE TRIGGER scores_closed BEFORE INSERT ON scores "
        "WHEN (SELECT status FROM publications WHERE id = NEW.publication_id) IS NOT 'open' "
        f"BEGIN {_abort(CLOSED)}; END"
    )
    out["alerts_no_replace"] = (
        "CREATE TRIGGER alerts_no_replace BEFORE INSERT ON alerts WHEN EXISTS (SELECT 1 FROM alerts "
        "WHERE id = NEW.id OR message_id = NEW.message_id OR (alert_id = NEW.alert_id "
        "AND (seq = NEW.seq OR publication_id = NEW.publication_id))) "
        f"BEGIN {_abort('alerts ' + APPEND_ONLY + '; an alert message is never replaced')}; END"
    )
    out["verifications_no_replace"] = (
        "CREATE TRIGGER verifications_no_replace BEFORE INSERT ON verifications "
        "WHEN EXISTS (SELECT 1 FROM verifications WHERE id = NEW.id) "
        f"BEGIN {_abort('verifications ' + APPEND_ONLY)}; END"
    )
    out["publications_insert_open"] = (
        "CREATE TRIGGER publications_insert_open BEFORE INSERT ON publications "
        "WHEN NEW.status IS NOT 'open' OR EXISTS (SELECT 1 FROM publications WHERE id = NEW.id "
        "OR (week = NEW.week AND revision = NEW.revision)) "
        f"BEGIN {_abort('publications are append-only: a publication is inserted open, never replaced')}; END"
    )
    out["publications_append_only_delete"] = (
        "CREATE TRIGGER publications_append_only_delete BEFORE DELETE ON publications BEGIN "
        f"{_abort('publications are append-only: a publication is never deleted (withdraw it instead)')}; END"
    )
    out["publications_append_only_update"] = (
        "CREATE TRIGGER publications_append_only_update BEFORE UPDATE ON publications WHEN NOT ("
        f"{same} AND ((OLD.status = 'open' AND NEW.status = 'published') OR "
        "(OLD.status = 'published' AND NEW.status = 'withdrawn'))) BEGIN "
        f"{_abort('publications are append-only: only the status may change, ' + _STATUS_MOVES)}; END"
    )
    out["publications_seal"] = (
        "CREATE TRIGGER publications_seal BEFORE UPDATE OF status ON publications "
        "WHEN OLD.status = 'open' AND (SELECT count(*) FROM scores WHERE publication_id = NEW.id) "
        "IS NOT NEW.n_scores BEGIN "
        f"{_abort('a publication is sealed only when it holds exactly n_scores score rows')}; END"
    )
    return out


SQLITE_TRIGGERS = _sqlite_triggers()
"""Trigger name -> its CREATE statement, exactly as SQLite keeps it in ``sqlite_master``."""

_PG_FUNCTIONS = {
    "civrisk_append_only": f"""
BEGIN
    RAISE EXCEPTION '% {APPEND_ONLY}', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END
""",
    "civrisk_scores_closed": f"""
BEGIN
    IF (SELECT status FROM publications WHERE id = NEW.publication_id) IS DISTINCT FROM 'open' THEN
        RAISE EXCEPTION '{CLOSED} (publication %)', NEW.publication_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
""",
    "civrisk_publications_insert": """
BEGIN
    IF NEW.status IS DISTINCT FROM 'open' THEN
        RAISE EXCEPTION 'publications are append-only: a publication is inserted open, then sealed'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
""",
    "civrisk_publications_update": f"""
DECLARE
    n bigint;
BEGIN
    IF ROW({", ".join(f"NEW.{c}" for c in _PUBLICATION_COLUMNS)})
            IS DISTINCT FROM ROW({", ".join(f"OLD.{c}" for c in _PUBLICATION_COLUMNS)})
        OR NOT ((OLD.status = 'open' AND NEW.status = 'published')
            OR (OLD.status = 'published' AND NEW.status = 'withdrawn')) THEN
        RAISE EXCEPTION 'publications are append-only: only the status may change, {_STATUS_MOVES}'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.status = 'open' THEN
        SELECT count(*) INTO n FROM scores WHERE publication_id = NEW.id;
        IF n IS DISTINCT FROM NEW.n_scores::bigint THEN
            RAISE EXCEPTION 'a publication is sealed only when it holds exactly n_scores score rows '
                '(publication %: % rows, n_scores %)', NEW.id, n, NEW.n_scores
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END IF;
    RETURN NEW;
END
""",
}

_PG_TRIGGERS = {
    # name: (table, timing and events, level, function)
    "scores_closed": ("scores", "BEFORE INSERT", "ROW", "civrisk_scores_closed"),
    "scores_append_only": ("scores", "BEFORE DELETE OR UPDATE", "ROW", "civrisk_append_only"),
    "alerts_append_only": ("alerts", "BEFORE DELETE OR UPDATE", "ROW", "civrisk_append_only"),
    "verifications_append_only": ("verifications", "BEFORE DELETE OR UPDATE", "ROW", "civrisk_append_only"),
    "publications_insert_open": ("publications", "BEFORE INSERT", "ROW", "civrisk_publications_insert"),
    "publications_append_only_update": (
        "publications",
        "BEFORE UPDATE",
        "ROW",
        "civrisk_publications_update",
    ),
    "publications_append_only_delete": ("publications", "BEFORE DELETE", "ROW", "civrisk_append_only"),
    **{
        f"{table}_no_truncate": (table, "BEFORE TRUNCATE", "STATEMENT", "civrisk_append_only")
        for table in ("publications", "scores", "alerts", "verifications")
    },
}


def _pg_trigger_def(name: str) -> str:
    table, when, level, function = _PG_TRIGGERS[name]
    return f"CREATE TRIGGER {name} {when} ON {table} FOR EACH {level} EXECUTE FUNCTION {function}()"


def pg_guard_ddl() -> list[str]:
    """Return the statements that (re)create the PostgreSQL guard functions and triggers."""
    out = [
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $civrisk${body}$civrisk$"
        for name, body in _PG_FUNCTIONS.items()
    ]
    for name, (table, *_rest) in _PG_TRIGGERS.items():
        out.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        out.append(_pg_trigger_def(name))
    return out


def sqlite_guard_ddl() -> list[str]:
    """Return the statements that (re)create the SQLite guard triggers (dropping any of the same name)."""
    out = [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]
    return [*out, *SQLITE_TRIGGERS.values()]


def guard_problems(conn: Connection) -> list[str]:
    """Return how the database's guard triggers differ from these definitions (empty: intact)."""
    if conn.dialect.name == "sqlite":
        found: dict[str, str] = dict(
            conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
        )
        return _compare("trigger", SQLITE_TRIGGERS, found)
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    rows = conn.execute(
        text(
            "SELECT t.tgname, t.tgenabled, pg_get_triggerdef(t.oid) FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal "
            "AND c.relnamespace = CAST(:schema AS regnamespace)"
        ),
        {"schema": schema},
    ).all()
    problems = [f"trigger {name} is disabled" for name, enabled, _d in rows if enabled == "D"]
    triggers = {name: d.replace(f"{schema}.", "") for name, _e, d in rows}
    problems += _compare("trigger", {n: _pg_trigger_def(n) for n in _PG_TRIGGERS}, triggers)
    functions: dict[str, str] = dict(
        conn.execute(
            text(
                "SELECT proname, prosrc FROM pg_proc WHERE pronamespace = CAST(:schema AS regnamespace) "
                "AND left(proname, 8) = 'civrisk_'"
            ),
            {"schema": schema},
        ).all()
    )
    return problems + _compare("function", _PG_FUNCTIONS, functions)


def _compare(kind: str, expected: dict[str, str], found: dict[str, str]) -> list[str]:
    missing = sorted(set(expected) - set(found))
    altered = sorted(n for n in set(expected) & set(found) if _digest(found[n]) != _digest(expected[n]))
    return [f"{kind} {n} is missing" for n in missing] + [f"{kind} {n} was altered" for n in altered]


def _digest(sql: str) -> str:
    return hashlib.sha256(" ".join(sql.split()).encode()).hexdigest()
