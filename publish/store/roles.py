"""PostgreSQL privileges of the service roles: the database, not only the code, keeps history append-only.

Three roles (docs/DEPLOY.md): the **owner** runs ``civrisk store migrate`` and owns the tables (only an
owner may drop a trigger); the **publisher** (the weekly job, ``civrisk publish``) may read everything,
insert publications, scores, alerts and verifications and change nothing but a publication's status;
the **API** (``civrisk serve``) may only read the published tables, and keeps its own (keys, webhooks,
deliveries, jobs). Neither service role can update or delete a published row even with the triggers
gone, nor drop a trigger.
"""

from __future__ import annotations

PUBLISHED = ("publications", "scores", "alerts", "verifications")
SERVICE = ("api_keys", "webhooks", "webhook_deliveries", "webhook_attempts", "publish_jobs")


def grant_statements(publisher: str, api: str) -> list[str]:
    """Return the GRANTs (run by the owner, after ``civrisk store migrate``) for the two service roles."""
    for role in (publisher, api):
        if not role.replace("_", "").isalnum():
            raise ValueError(f"role names are letters, digits and '_'; got {role!r}")
    roles = f"{publisher}, {api}"
    return [
        f"GRANT USAGE ON SCHEMA {{schema}} TO {roles}",
        f"GRANT SELECT ON {', '.join(PUBLISHED)}, alembic_version TO {roles}",
        f"GRANT INSERT ON {', '.join(PUBLISHED)} TO {publisher}",
        f"GRANT UPDATE (status) ON publications TO {publisher}",
        f"GRANT SELECT, INSERT, UPDATE ON {', '.join(SERVICE)} TO {roles}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {{schema}} TO {roles}",
    ]
