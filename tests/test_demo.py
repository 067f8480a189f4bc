"""The demo sets itself up on the embedded defaults: SQLite and the filesystem broker."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def demo_env(var_dir: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT")
    }
    env["CONCORD_VAR_DIR"] = str(var_dir)
    return env


def test_demo_sets_up_a_project_users_and_clips_on_a_fresh_var_dir(tmp_path):
    env = demo_env(tmp_path)
    for _ in range(2):  # running it again changes nothing and does not fail
        result = subprocess.run(
            [sys.executable, "manage.py", "demo", "--no-serve", "--clips", "8", "--ratings", "0"],
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


def test_a_taken_port_stops_the_demo_before_anything_with_a_clear_message(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "demo", "--port", str(port)],
            cwd=ROOT,
            env=demo_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert f"cannot serve the demo on 127.0.0.1:{port}: it is already in use" in result.stderr
    assert f"./run demo --port {port + 10}" in result.stderr
    assert "Concord is running" not in result.stdout
    # Checked first: nothing was set up.
    assert not (tmp_path / "concord.sqlite3").exists()


def test_port_check_passes_on_a_free_port_and_raises_on_a_taken_one():
    from annotate.management.commands.demo import PortTaken, port_check

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortTaken, match="already in use") as raised:
            port_check(port)
        assert raised.value.returncode != 0
    port_check(port)  # released: free again
