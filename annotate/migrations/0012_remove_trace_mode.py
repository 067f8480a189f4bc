# The time-continuous trace mode is gone until an issue asks for traces: no page sent
# traces and no learner code read them.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0011_project_speakers_version"),
    ]

    operations = [
        migrations.RemoveField(model_name="project", name="rating_mode"),
        migrations.RemoveField(model_name="rating", name="trace"),
        migrations.RemoveField(model_name="rating", name="trace_hz"),
    ]
