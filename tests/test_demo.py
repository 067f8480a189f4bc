"""The demo sets itself up on the embedded defaults: SQLite and the filesystem broker."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_sets_up_a_project_users_and_clips_on_a_fresh_var_dir(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT")
    }
    env["CONCORD_VAR_DIR"] = str(tmp_path)
    for _ in range(2):  # running it again changes nothing and does not fail
        result = subprocess.run(
            [sys.executable, "manage.py", "demo", "--no-serve", "--clips", "8"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
    assert "0 new clips" in result.stdout
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup()\n"
            "from annotate.models import Clip, Project\n"
            "from django.contrib.auth import authenticate\n"
            "p = Project.objects.get(name='demo')\n"
            "print(Clip.objects.filter(project=p, state='awaiting_humans').count())\n"
            "print(authenticate(username='rater', password='rater-pass').profile.role)\n"
            "print(sorted(t.name for t in p.targets.all()))",
        ],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.split("\n")[:3] == ["8", "rater", "['arousal', 'valence']"]
    assert (tmp_path / "concord.sqlite3").is_file()
