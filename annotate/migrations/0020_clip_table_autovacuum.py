"""The clip table is the human queue: every claim, rating and queue pass updates its rows,
and each update leaves a dead row version in its queue index until a vacuum clears it.
PostgreSQL's default (a vacuum once a fifth of the table is dead) let tens of thousands
pile up at the head of the queue under a crowd (docs/benchmarks.md, runs 24-): vacuum it
once 1,000 rows plus 2 % are dead, without the cost-based pauses. Autovacuum itself must
be on (PostgreSQL's default); compose.yaml also checks every 15 s instead of 60.
"""

from django.db import migrations

CLIP_TABLE_VACUUM = (
    "autovacuum_vacuum_scale_factor = 0.02",
    "autovacuum_vacuum_threshold = 1000",
    "autovacuum_vacuum_cost_delay = 0",
)


def tune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        table = apps.get_model("annotate", "Clip")._meta.db_table
        schema_editor.execute(f"ALTER TABLE {table} SET ({', '.join(CLIP_TABLE_VACUUM)})")


def untune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        table = apps.get_model("annotate", "Clip")._meta.db_table
        names = ", ".join(setting.split(" = ")[0] for setting in CLIP_TABLE_VACUUM)
        schema_editor.execute(f"ALTER TABLE {table} RESET ({names})")


class Migration(migrations.Migration):
    dependencies = [("annotate", "0019_project_queue_refreshed_labelled")]

    operations = [migrations.RunPython(tune, untune)]
