"""On PostgreSQL the clip table, the human queue, is vacuumed long before the default
fifth of it is dead (annotate/migrations/0020)."""

import pytest
from django.db import connection

from annotate.models import Clip


@pytest.mark.django_db
def test_the_clip_table_is_vacuumed_once_1000_rows_and_2_percent_are_dead():
    if connection.vendor != "postgresql":
        pytest.skip("storage parameters are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [Clip._meta.db_table])
        (options,) = cursor.fetchone()
    assert set(options) == {
        "autovacuum_vacuum_scale_factor=0.02",
        "autovacuum_vacuum_threshold=1000",
        "autovacuum_vacuum_cost_delay=0",
    }
