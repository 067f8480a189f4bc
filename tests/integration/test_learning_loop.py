"""The whole loop on a real corpus, real services and a real worker.

EmoDB is imported; its features are extracted by the worker; simulated raters (real
CREMA-D vote behaviour) rate through the API; an admin retrains; the worker trains,
promotes a model, writes machine labels and refills the human queue, least confident
first; more ratings and a second retrain revoke machine labels the new model contradicts.
"""

import pytest
from rest_framework.test import APIClient

from annotate.models import Clip, ClipFeatures, Label, ModelVersion, Project
from annotate.services.ingest import corpus_import
from annotate.services.scoring import project_score
from learner.cooperative import MACHINE_LABEL_KEEP_MARGIN
from learner.simulate import CremaVotes, CrowdSimulator, load_corpus
from tests.conftest import SHARED_DATA, make_user, shared_corpus
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.shared_data]


def rate_until(client, project, crowd, index_of, rater_index, n):
    """One rater rates up to n clips through the API, answering as the simulated rater."""
    done = 0
    while done < n:
        lease = client.post(f"/api/v1/projects/{project.pk}/next/")
        if lease.status_code == 204:
            return done
        body = lease.json()
        external_id = project.clips.get(pk=body["clip"]["id"]).external_id
        values = crowd.rating(index_of[external_id], rater_index)
        response = client.post(
            f"/api/v1/assignments/{body['assignment']['id']}/rating/",
            {
                "values": values,
                "client_token": f"simulated-{rater_index}-{body['assignment']['id']}",
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        done += 1
    return done


def retrain(admin_client, project):
    response = admin_client.post(f"/api/v1/projects/{project.pk}/retrain/")
    assert response.status_code == 202, response.content
    run_id = response.json()["run"]["id"]

    def finished():
        run = admin_client.get(f"/api/v1/training-runs/{run_id}/").json()
        return run if run["state"] in ("succeeded", "failed") else None

    run = wait_for(finished, timeout=300, interval=1, what=f"training run {run_id}")
    assert run["state"] == "succeeded", run["error"]
    return run


def test_retrain_labels_clips_refills_the_queue_and_revokes(worker, client_for, settings):
    corpus_dir = shared_corpus("emodb")
    corpus = load_corpus(corpus_dir)
    votes_csv = SHARED_DATA / "crema_d" / "votes_voice.csv"
    votes = CremaVotes.load(votes_csv) if votes_csv.is_file() else None
    crowd = CrowdSimulator(corpus, votes=votes, n_raters=6, unreliable_share=0.17, random_state=0)
    index_of = {clip_id: i for i, clip_id in enumerate(corpus.clip_ids)}

    report = corpus_import(corpus_dir=corpus_dir, project_name="emodb-loop")
    project = Project.objects.get(name="emodb-loop")
    assert report.errors == []
    # Three raters a clip: the most clips for the first model from 360 ratings. (With
    # dynamic raters up to 4, this crowd's contested clips took a fourth rating so often
    # that the first model saw about 60 rated clips and, on a busy machine where the queue
    # refresh lagged, was confident about none; tests/annotate/test_dynamic_raters.py
    # covers the rule.)
    project.min_raters = project.max_raters = 3
    project.retrain_after_labels = 0  # this test retrains by hand
    project.human_budget_per_round = 40
    # Looser machine labels than three of these raters give (0.3 against about 0.15): the
    # first model, from some 90 rated clips, is rarely that good.
    project.self_label_max_error = 0.3
    project.machine_label_target_error = 0.3
    project.machine_labels_as_good_as_humans = False
    project.save()
    n_clips = project.clips.count()
    wait_for(
        lambda: ClipFeatures.objects.filter(clip__project=project).count() == n_clips,
        timeout=240,
        interval=2,
        what="the worker to extract features of every clip",
    )

    raters = [make_user(f"sim{i}", "rater", [project]) for i in range(6)]
    clients = [client_for(user) for user in raters]
    for i, client in enumerate(clients):
        rate_until(client, project, crowd, index_of, i, 60)
    human = Label.objects.filter(clip__project=project, source="human", revoked_at__isnull=True)
    assert human.values("clip").distinct().count() >= 80

    admin = make_user("boss", "admin")
    admin_client = APIClient()
    admin_client.force_authenticate(admin)
    run = retrain(admin_client, project)
    assert run["metrics"]["promoted"] is True
    # Reported and above chance. Its size is the benchmark's business: here ~35 development
    # clips with labels from three simulated raters (real CREMA-D confusions) make it
    # swing between about 0.2 and 0.8 from run to run.
    assert run["metrics"]["dev_ccc"]["arousal"] > 0.0
    version = ModelVersion.objects.get(project=project, is_active=True)
    assert run["model_version"] == version.name

    # Scoring waits in the worker's queue behind the after-rating tasks of 360 ratings
    # (one worker process): on a busy machine that takes minutes.
    wait_for(
        lambda: ModelVersion.objects.filter(pk=version.pk, scored_at__isnull=False).exists(),
        timeout=300,
        interval=1,
        what="the new model to score the pool",
    )
    stats = admin_client.get(f"/api/v1/projects/{project.pk}/stats/").json()
    assert stats["states"]["machine_labelled"] > 0, (stats, version.metrics)
    assert stats["states"]["awaiting_humans"] + stats["states"]["leased"] > 0
    machine = Label.objects.filter(clip__project=project, source="machine", revoked_at__isnull=True)
    assert machine.filter(model_version=version.name, confidence__isnull=False).exists()
    # How many clips go to people depends on how sure this run's model is: a good one may
    # label every clip itself. A researcher who wants more human labels lowers the bar and
    # rescores: the less confident of the machine-labelled clips go back to the pool. The
    # calibration is a step function, so many clips share an expected error: the bar is the
    # median of the distinct values, which always leaves some clips above it.
    worst: dict[int, float] = {}
    for clip_id, error in machine.values_list("clip_id", "confidence"):
        worst[clip_id] = max(error, worst.get(clip_id, 0.0))
    distinct = sorted(set(worst.values()))
    assert len(distinct) > 1, f"every machine label claims the same error {distinct}"
    # A live label is kept within MACHINE_LABEL_KEEP_MARGIN above the bar: the bar sits low
    # enough that the least confident label lies beyond the margin.
    beyond_margin = distinct[-1] / (1 + MACHINE_LABEL_KEEP_MARGIN) * 0.99
    project.self_label_max_error = min(distinct[(len(distinct) - 1) // 2], beyond_margin)
    project.save(update_fields=["self_label_max_error"])
    rescored = project_score(project_id=project.pk)
    assert rescored.revoked > 0
    queue = admin_client.get(
        f"/api/v1/projects/{project.pk}/clips/?state=awaiting_humans&ordering=queue&page_size=1000"
    ).json()["results"]
    # Clips people have started come first (finished before new ones open); then the
    # fresh clips, ordered by priority: the queue refresh's ranks (it owns the open pool's
    # order once it has run, and ranked the reopened clips at once).
    started = [clip["n_ratings"] > 0 for clip in queue]
    assert started == sorted(started, reverse=True)
    fresh = [clip["priority"] for clip in queue if clip["n_ratings"] == 0]
    assert len(fresh) >= 2
    assert fresh == sorted(fresh, reverse=True)
    assert all(0.0 < priority <= 1.0 for priority in fresh)
    # The least confident clips go to people, the surest keep machine labels: no queued
    # clip has a live machine label, and each reopened one is queued or deferred.
    fresh_ids = [clip["id"] for clip in queue if clip["n_ratings"] == 0]
    assert not machine.filter(clip_id__in=fresh_ids).exists()
    reopened = set(
        Label.objects.filter(
            clip__project=project, source="machine", revoked_at__isnull=False
        ).values_list("clip_id", flat=True)
    )
    assert reopened
    assert set(Clip.objects.filter(pk__in=reopened).values_list("state", flat=True)) <= {
        "awaiting_humans",
        "deferred",
    }

    # More ratings, then a second model: machine labels it contradicts are revoked.
    project.machine_label_revoke_tolerance = 0.02
    project.save(update_fields=["machine_label_revoke_tolerance"])
    for i, client in enumerate(clients):
        rate_until(client, project, crowd, index_of, i, 15)
    second = retrain(admin_client, project)
    assert second["metrics"]["promoted"] is True, second["metrics"]
    newer = ModelVersion.objects.get(project=project, is_active=True)
    assert newer.name != version.name

    def revoked():
        return Label.objects.filter(
            clip__project=project,
            source="machine",
            revoked_at__isnull=False,
            revoked_reason__startswith=newer.name,
        ).count()

    assert wait_for(revoked, timeout=120, interval=1, what="revoked machine labels") > 0
