"""/api/health says what is wrong: a database that cannot be reached is an error, not "ok"."""

from __future__ import annotations

from tests.api.test_flow_s3 import _closed_port
from utter.config import Settings
from utter.database import make_engine


def test_health_is_ok_with_its_parts_up(client):
    response = client.get("/api/health")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert body["database"]["status"] == body["storage"]["status"] == "ok"


def test_health_is_503_while_the_database_is_down(server):
    working = server.ctx.db
    # A real database engine pointed at a port nothing listens on: every connection is refused.
    server.ctx.db = make_engine(Settings(_env_file=None,
                                         database_url=f"postgresql://utter@127.0.0.1:{_closed_port()}/utter"))
    try:
        with server.client() as client:
            response = client.get("/api/health")
    finally:
        server.ctx.db.dispose()
        server.ctx.db = working
    body = response.json()
    assert response.status_code == 503 and body["status"] == "error"
    assert body["database"]["status"] == "error" and body["database"]["detail"]
    assert body["storage"]["status"] == "ok"  # only the database is down, and the answer says which
