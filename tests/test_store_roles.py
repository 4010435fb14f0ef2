"""PostgreSQL privileges (docs/DEPLOY.md): the API's role only reads the published tables, the publisher's
may only append; neither can rewrite a row or drop a guard, even if the triggers were gone."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from publish.store.roles import grant_statements
from publish.store.store import ScoreStore
from serve.auth import create_api_key
from tests.store_backends import pg_server
from tests.synth_scores import make_scores

AS_OF = datetime(2020, 5, 31, 23, 0, tzinfo=UTC)
DENIED = "permission denied|must be owner"


@pytest.mark.postgres
def test_service_roles_can_append_or_read_but_never_rewrite() -> None:
    server = pg_server()
    owner_url = server.clone(server.template("empty"))
    tag = uuid.uuid4().hex[:8]
    publisher, api = f"civrisk_pub_{tag}", f"civrisk_api_{tag}"
    stores: list[ScoreStore] = []
    try:
        with server.admin.connect() as conn:
            for role in (publisher, api):
                conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'secret'"))
        with ScoreStore(owner_url) as owner, owner.engine.begin() as conn:
            for sql in grant_statements(publisher, api):
                conn.execute(text(sql.format(schema="public")))

        def as_role(role: str) -> ScoreStore:
            url = owner.engine.url.set(username=role, password="secret")
            store = ScoreStore(url.render_as_string(hide_password=False))
            stores.append(store)
            return store

        pub_store, api_store = as_role(publisher), as_role(api)
        pub = pub_store.record_publication("2020-W23", make_scores(n_regions=4), "m", "1", "fp", AS_OF)
        assert pub.status == "published"  # insert open, add rows, seal: all the publisher may do
        assert pub_store.withdraw_publication(pub.id).status == "withdrawn"
        assert len(api_store.scores("2020-W23", revision=1)) == pub.n_scores
        create_api_key(api_store.engine, "read", pepper="p" * 32)  # the API keeps its own tables
        attempts = {
            publisher: [
                "UPDATE scores SET p = 0.5",
                "DELETE FROM alerts",
                "UPDATE publications SET model_version = 'x'",
                "DROP TRIGGER scores_append_only ON scores",
                "ALTER TABLE scores DISABLE TRIGGER scores_closed",
                "TRUNCATE scores",
            ],
            api: [
                "INSERT INTO verifications (publication_id, metric, value, n, created_at) "
                f"VALUES ({pub.id}, 'x', 1, 1, now())",
                "UPDATE publications SET status = 'withdrawn'",
                "DROP TRIGGER scores_closed ON scores",
                "DELETE FROM api_keys",
            ],
        }
        for store, role in ((pub_store, publisher), (api_store, api)):
            for sql in attempts[role]:
                with pytest.raises(DatabaseError, match=DENIED), store.engine.begin() as conn:
                    conn.execute(text(sql))
        with pytest.raises(DatabaseError, match=re.escape("permission denied for table publications")):
            api_store.record_publication(
                "2020-W24", make_scores(n_regions=2, week="2020-06-08"), "m", "1", "f", AS_OF
            )
    finally:
        for store in stores:
            store.close()
        with server.admin.connect() as conn:  # membership lets the test role end their last sessions
            conn.execute(text(f"GRANT {publisher}, {api} TO CURRENT_USER"))
        server.drop(owner_url)
        with server.admin.connect() as conn:
            for role in (publisher, api):
                conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
