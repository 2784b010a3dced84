"""The service schema on a real Postgres: migrations up and down, atomic quotas."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import inspect, text

from matfold_services.access import user_for
from matfold_services.db import make_engine, make_sessionmaker, migrate
from matfold_services.models import Base
from matfold_services.quota import QuotaExceeded, consume, quota_status


def test_migrations_up_down_up(database_url):
    engine = make_engine(database_url)
    migrate(database_url)
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with engine.connect() as conn:
        plans = dict(conn.execute(text("SELECT name, monthly_folds FROM plans")).all())
        assert plans == {"free": 10, "researcher": 100, "lab": 500}
        indexes = {r[0] for r in conn.execute(text("SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%hnsw%'"))}
        assert indexes == {"ix_materials_embedding_hnsw", "ix_protein_structures_embedding_hnsw"}
    migrate(database_url, "base", down=True)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pg_type WHERE typname = 'project_role'")).scalar() == 0
    migrate(database_url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_quota_never_overspends_under_50_concurrent_requests(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    maker = make_sessionmaker(engine)
    with maker() as session:
        user_for(session, "racer")
        session.commit()

    def attempt(_):
        with maker() as session:
            user = user_for(session, "racer")
            try:
                consume(session, user, "fold")
                session.commit()
                return True
            except QuotaExceeded:
                return False

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(attempt, range(50)))
    assert results.count(True) == 10  # the free plan: 10 folds a month
    with maker() as session:
        status = quota_status(session, user_for(session, "racer"))
        assert status["fold"] == {"used": 10, "limit": 10, "remaining": 0}
        records = session.execute(text("SELECT sum(quantity) FROM usage_records")).scalar()
        assert records == 10
        with pytest.raises(QuotaExceeded, match="monthly fold quota of the free plan is used up \\(10 of 10\\)"):
            consume(session, user_for(session, "racer"), "fold")
    engine.dispose()


def test_migrations_match_the_models(database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    migrate(database_url)
    engine = make_engine(database_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()
