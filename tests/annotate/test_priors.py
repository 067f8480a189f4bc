"""Priors: trained on corpus folders, named by a project, used from the first minute,
kept by a retraining only where they help on the development speakers."""

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from annotate.errors import NotFound, ValidationError
from annotate.models import (
    Clip,
    ClipState,
    Label,
    LabelSource,
    ModelVersion,
    Prior,
    Project,
    ReferenceLabel,
    RunState,
    Target,
)
from annotate.services.priors import prior_get, project_prior_set
from annotate.services.scoring import project_score
from annotate.services.training import training_run_execute, training_run_start
from annotate.synthetic import corpus_write

pytestmark = pytest.mark.django_db


def _corpus(root: Path, *, seed: int, n_clips: int = 48, flip: bool = False) -> Path:
    """A synthetic corpus; `flip` turns its gold upside down (a prior that misleads)."""
    corpus_write(root, n_clips=n_clips, seed=seed)
    if flip:
        path = root / "clips.csv"
        with path.open() as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            for target in ("arousal", "valence"):
                row[target] = str(-float(row[target]))
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpora")
    return {
        "earlier": _corpus(root / "earlier", seed=1),
        "contrary": _corpus(root / "contrary", seed=3, flip=True),
        "new": _corpus(root / "new", seed=2),
    }


def _train(corpus: Path, name: str = "lab", *extra: str) -> Prior:
    call_command("train_prior", str(corpus), "--name", name, *extra, verbosity=0)
    return Prior.objects.filter(name=name).order_by("-version").first()


def test_train_prior_stores_a_named_versioned_prior(corpora, media_root):
    first = _train(corpora["earlier"])
    assert (first.name, first.version) == ("lab", 1)
    assert first.targets == {"arousal": [-1.0, 1.0], "valence": [-1.0, 1.0]}
    assert first.feature_normalisation in ("corpus", "speaker")
    assert first.sources[0]["corpus"] == "earlier"
    assert first.sources[0]["clips"] == 48
    assert first.n_clips == 48
    assert set(first.metrics["dev_ccc"]) == {"arousal", "valence"}
    artifact = Path(media_root) / first.artifact
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() == first.sha256

    second = _train(corpora["earlier"], "lab", "--normalisation", "speaker")
    assert second.version == 2
    assert second.feature_normalisation == "speaker"
    assert prior_get("lab") == second
    assert prior_get("lab@1") == first
    with pytest.raises(NotFound, match=r"no prior 'lub'; known: lab@1, lab@2"):
        prior_get("lub")


def test_a_project_import_corpus_creates_for_a_per_speaker_prior_scales_per_model(
    corpora, media_root
):
    _train(corpora["earlier"], "lab", "--normalisation", "speaker")
    project = _import(corpora["new"], "warm", "--prior", "lab")
    assert project.feature_normalisation == "auto"
    assert project.prior is not None


def test_train_prior_refuses_unusable_input_with_a_reason(corpora, tmp_path, media_root):
    with pytest.raises(CommandError, match=r"no clips\.csv"):
        call_command("train_prior", str(tmp_path), "--name", "x", verbosity=0)
    with pytest.raises(CommandError, match=r"prior name '\.\./up': use 1-60 lower-case"):
        call_command("train_prior", str(corpora["earlier"]), "--name", "../up", verbosity=0)
    with pytest.raises(CommandError, match="not both"):
        call_command(
            "train_prior", str(corpora["earlier"]), "--project", "p", "--name", "x", verbosity=0
        )
    with pytest.raises(CommandError, match="no gold dominance"):
        call_command(
            "train_prior",
            str(corpora["earlier"]),
            "--name",
            "x",
            "--targets",
            "dominance",
            verbosity=0,
        )
    assert not Prior.objects.exists()


def _import(corpus: Path, project: str, *extra: str) -> Project:
    call_command("import_corpus", str(corpus), "--project", project, *extra, verbosity=0)
    return Project.objects.get(name=project)


def test_a_project_scores_with_its_prior_before_any_rating(corpora, media_root):
    prior = _train(corpora["earlier"])
    project = _import(corpora["new"], "warm", "--prior", "lab")
    assert project.prior == prior
    # Created for the prior: features as extracted take a per-corpus prior; a per-speaker
    # one needs the normalisation chosen per model.
    served = {"corpus": "none", "speaker": "auto"}[prior.feature_normalisation]
    assert project.feature_normalisation == served
    version = ModelVersion.objects.get(project=project, is_active=True)
    assert version.metrics["zero_shot"] is True
    assert version.metrics["prior"]["name"] == "lab@1"

    report = project_score(project_id=project.pk)
    assert report.scored == 48
    assert report.machine_labelled == 0
    queued = Clip.objects.filter(project=project, state=ClipState.AWAITING_HUMANS)
    priorities = list(queued.values_list("priority", flat=True))
    assert len(priorities) >= 1
    assert len(set(priorities)) > 1
    assert not Label.objects.filter(clip__project=project, source=LabelSource.MACHINE).exists()


def test_a_prior_that_does_not_fit_is_refused_and_changes_nothing(corpora, media_root):
    prior = _train(corpora["earlier"])
    project = _import(corpora["new"], "likert")
    Target.objects.filter(project=project, name="arousal").update(scale_min=1, scale_max=5)
    with pytest.raises(ValidationError, match=r"arousal: the prior's scale is \[-1, 1\]"):
        project_prior_set(project=project, prior=prior)
    other = _import(corpora["new"], "opensmile")
    Project.objects.filter(pk=other.pk).update(feature_extractor="egemaps")
    with pytest.raises(ValidationError, match="the prior's features come from"):
        project_prior_set(project=Project.objects.get(pk=other.pk), prior=prior)
    with pytest.raises(CommandError, match="no prior 'missing'"):
        _import(corpora["new"], "third", "--prior", "missing")
    assert not Project.objects.filter(prior__isnull=False).exists()
    assert not ModelVersion.objects.exists()


def _rate_from_reference(project: Project, n_clips: int) -> None:
    """Human labels for the first clips of every speaker, from the corpus's gold."""
    # By corpus id: clip ids follow an order keyed by SECRET_KEY, which differs by install.
    clips = list(Clip.objects.filter(project=project).order_by("external_id"))[:n_clips]
    for clip in clips:
        for ref in ReferenceLabel.objects.filter(clip=clip):
            Label.objects.create(
                clip=clip,
                target=ref.target,
                value=ref.value,
                source=LabelSource.HUMAN,
                n_ratings=3,
                agreement=0.9,
            )
        Clip.objects.filter(pk=clip.pk).update(state=ClipState.RATED, n_ratings=3)


@pytest.mark.parametrize(("source", "used"), [("earlier", True), ("contrary", False)])
def test_a_retraining_keeps_a_prior_only_where_it_helps(corpora, media_root, source, used):
    prior = _train(corpora[source], source)
    project = _import(corpora["new"], f"study-{source}", "--prior", prior.label)
    _rate_from_reference(project, 24)
    run = training_run_execute(run_id=training_run_start(project=project).pk)
    assert run.state == RunState.SUCCEEDED, run.error
    verdict = run.metrics["prior"]
    assert verdict["name"] == prior.label
    assert verdict["used"] is used, verdict
    assert verdict["why"].startswith(f"prior {prior.label} {'used' if used else 'dropped'}")
    assert set(verdict["dev_ccc"]) == {"pooled"}
    if not used:
        assert run.metrics["feature_normalisation"] in ("none", "speaker")


def test_removing_the_prior_retires_its_zero_shot_model(corpora, media_root):
    prior = _train(corpora["earlier"])
    project = _import(corpora["new"], "cold-again", "--prior", prior.label)
    assert ModelVersion.objects.filter(project=project, is_active=True).exists()
    project_prior_set(project=project, prior=None)
    project.refresh_from_db()
    assert project.prior is None
    assert not ModelVersion.objects.filter(project=project, is_active=True).exists()
    assert np.isfinite(prior.metrics["dev_ccc"]["arousal"])


def test_admins_name_a_prior_through_the_api_and_others_may_not(
    corpora, media_root, client_for, researcher, rater, admin
):
    prior = _train(corpora["earlier"])
    project = _import(corpora["new"], "api-study")
    project.members.add(researcher, rater)
    url = f"/api/v1/projects/{project.pk}/prior/"

    assert client_for(rater).get("/api/v1/priors/").status_code == 403
    listed = client_for(researcher).get("/api/v1/priors/").json()
    assert [p["ref"] for p in listed] == ["lab@1"]
    refused = client_for(researcher).put(url, {"prior": "lab"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "admin_only"
    missing = client_for(admin).put(url, {"prior": "nope"}, format="json")
    assert missing.status_code == 404
    assert missing.json()["code"] == "prior_not_found"

    named = client_for(admin).put(url, {"prior": "lab@1"}, format="json")
    assert named.status_code == 200
    assert named.json()["ref"] == "lab@1"
    shown = client_for(researcher).get(f"/api/v1/projects/{project.pk}/").json()
    assert shown["prior"] == "lab@1"
    assert client_for(rater).get(f"/api/v1/projects/{project.pk}/").json()["prior"] is None

    Target.objects.filter(project=project, name="valence").update(scale_min=0, scale_max=1)
    mismatch = client_for(admin).put(url, {"prior": "lab"}, format="json")
    assert mismatch.status_code == 400
    assert mismatch.json()["code"] == "prior_incompatible"
    assert (
        "valence: the prior's scale is [-1, 1], the project's [0, 1]" in mismatch.json()["detail"]
    )
    cleared = client_for(admin).put(url, {"prior": None}, format="json")
    assert cleared.status_code == 200
    assert Project.objects.get(pk=project.pk).prior is None
    assert prior.projects.count() == 0


def test_a_prior_learns_from_a_projects_human_labels(corpora, media_root):
    project = _import(corpora["earlier"], "first-study")
    _rate_from_reference(project, 40)
    call_command("train_prior", "--project", "first-study", "--name", "ours", verbosity=0)
    prior = Prior.objects.get(name="ours")
    assert prior.sources == [{"project": "first-study", "clips": 40}]
    assert prior.targets == {"arousal": [-1.0, 1.0], "valence": [-1.0, 1.0]}
    assert prior.n_clips == 40
    with pytest.raises(CommandError, match="no project named 'nope'"):
        call_command("train_prior", "--project", "nope", "--name", "x", verbosity=0)


def test_the_admin_page_refuses_a_prior_that_does_not_fit(corpora, media_root):
    from django.forms.models import model_to_dict

    from annotate.admin import ProjectAdminForm

    prior = _train(corpora["earlier"])
    project = _import(corpora["new"], "admin-study")

    def form(**changes):
        data = {**model_to_dict(project), "members": [], "prior": prior.pk, **changes}
        return ProjectAdminForm(
            instance=project, data={k: v for k, v in data.items() if v is not None}
        )

    assert form().is_valid(), form().errors
    refused = form(feature_extractor="egemaps")
    assert not refused.is_valid()
    assert "the prior's features come from" in refused.errors["prior"][0]


def test_a_prior_that_no_longer_fits_is_dropped_with_the_reason(corpora, media_root):
    prior = _train(corpora["earlier"])
    project = _import(corpora["new"], "rescaled", "--prior", prior.label)
    _rate_from_reference(project, 24)
    Target.objects.filter(project=project, name="valence").update(scale_min=-2, scale_max=2)
    run = training_run_execute(run_id=training_run_start(project=project).pk)
    assert run.state == RunState.SUCCEEDED, run.error
    verdict = run.metrics["prior"]
    assert verdict["used"] is False
    assert verdict["dev_ccc"] == {}
    assert verdict["why"] == (
        f"prior {prior.label} dropped: it no longer fits the project: valence: the prior's "
        "scale is [-1, 1], the project's [-2, 2]"
    )
