"""The demo opens on the loop at work: after its setup step (no servers), simulated
raters have rated part of the corpus, several retrainings succeeded, a model labelled
clips itself and says why, and clips are in several states (issue 15, must-have 11)."""

import json
import subprocess
import sys

from tests.test_demo import ROOT, demo_env

CHECK = """
import json
import django
django.setup()
from annotate.learning.stopping import project_stop_signal
from annotate.models import Clip, Label, Project, Rating
p = Project.objects.get(name="demo")
runs = list(p.training_runs.filter(state="succeeded").order_by("id"))
states = {}
for state in Clip.objects.filter(project=p).values_list("state", flat=True):
    states[state] = states.get(state, 0) + 1
print(json.dumps({
    "ratings": Rating.objects.filter(clip__project=p).count(),
    "runs": len(runs),
    "why": [run.metrics.get("self_label_why") for run in runs],
    "self_label": [run.metrics.get("self_label") for run in runs],
    "states": states,
    "machine": Label.objects.filter(
        clip__project=p, source="machine", revoked_at__isnull=True
    ).count(),
    "curve": len(project_stop_signal(project=p)["points"]),
}))
"""


def test_the_demo_setup_runs_the_loop(tmp_path):
    env = {**demo_env(tmp_path), "SECRET_KEY": "demo-key-3"}  # a fixed clip order
    setup = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "demo",
            "--setup-only",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert setup.returncode == 0, setup.stderr
    check = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    found = json.loads(check.stdout.strip().splitlines()[-1])
    assert found["ratings"] >= 200  # the demo as ./run demo sets it up
    assert found["runs"] >= 2
    assert found["curve"] >= 2  # the stop signal's learning curve has several points
    # A model labelled clips itself, and they are in the inspector's machine state. Each
    # SECRET_KEY gives a different clip order; on 32 of 32 keys tried one did (machine
    # labels erring 0.08-0.13 against the truth where the crowd's erred 0.14-0.17,
    # docs/benchmarks.md), where 30 of 32 did before raters' noises were read with each
    # shared clip weighted by what it says. This test runs one of those orders.
    assert found["machine"] > 0, found["why"]
    assert found["states"].get("machine_labelled", 0) > 0
    assert found["states"].get("rated", 0) > 0
    assert found["states"].get("awaiting_humans", 0) > 0
    assert len(found["states"]) >= 3, found["states"]
    # Every version says why it labels what it labels, and no more.
    assert all(why and why.startswith("Labels ") for why in found["why"]), found["why"]
    assert all(summary["threshold"] >= 0 for summary in found["self_label"])
