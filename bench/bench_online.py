"""The online loop: from a rating's arrival to a re-ranked human queue.

    python -m bench.bench_online [--sizes 1000 10000 100000] [--repeats 20]
                                 [--database-url postgres://postgres@127.0.0.1:5432/concord_bench]

For each pool size, builds a project whose clips carry synthetic 88-dim feature vectors
(the size of eGeMAPS) with 500 human labels, then times `queue_refresh` (the work the
worker does when a rating arrives: refit the ridge ensemble on the human labels, score
the open pool, queue the least certain clips and defer the rest) after adding one more
human label each time. The first call also loads the features into the worker's cache
and is reported apart.
"""

import argparse
import os
import statistics
import time

import numpy as np

N_FEATURES = 88
N_LABELLED = 500


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def build_project(size: int, rng: np.random.Generator):
    from annotate.models import Clip, ClipFeatures, ClipState, Label, LabelSource, Project, Target
    from learner.features import get_extractor

    project = Project.objects.create(
        name=f"online-{size}-{time.time_ns()}", human_budget_per_round=100
    )
    for i, name in enumerate(("arousal", "valence")):
        Target.objects.create(project=project, name=name, position=i)
    key = get_extractor(project.feature_extractor).cache_key
    weights = rng.normal(size=(N_FEATURES, 2)) / np.sqrt(N_FEATURES)
    for start in range(0, size, 5000):
        n = min(5000, size - start)
        clips = Clip.objects.bulk_create(
            Clip(
                project=project,
                audio=f"bench/{start + i}.wav",
                sha256=f"{project.pk}-{start + i}",
                duration_s=3.0,
                original_sample_rate=16000,
                state=ClipState.AWAITING_HUMANS,
                ratings_wanted=2,
            )
            for i in range(n)
        )
        X = rng.normal(size=(n, N_FEATURES)).astype("<f4")
        ClipFeatures.objects.bulk_create(
            ClipFeatures(clip=clip, extractor_key=key, values=X[i].tobytes(), n_features=N_FEATURES)
            for i, clip in enumerate(clips)
        )
        if start == 0:
            y = np.tanh(X[:N_LABELLED] @ weights)
            Label.objects.bulk_create(
                Label(
                    clip=clips[i],
                    target=target,
                    value=float(y[i, t]),
                    source=LabelSource.HUMAN,
                    n_ratings=2,
                    agreement=0.8,
                )
                for i in range(min(N_LABELLED, n))
                for t, target in enumerate(("arousal", "valence"))
            )
            Clip.objects.filter(pk__in=[c.pk for c in clips[:N_LABELLED]]).update(
                state=ClipState.RATED, n_ratings=2
            )
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/concord_bench"
    )
    args = parser.parse_args()
    setup_django(args.database_url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from annotate.models import Clip, ClipState, Label, LabelSource
    from annotate.services.queue import queue_refresh

    rng = np.random.default_rng(0)
    print(
        f"Machine: {os.cpu_count()} cores; database: {connection.vendor}; "
        f"{N_FEATURES} features, {N_LABELLED} human-labelled clips, budget 100."
    )
    print()
    print("| pool | first call (loads features) s | p50 s | p95 s | max s |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        project = build_project(size, rng)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        started = time.perf_counter()
        queue_refresh(project_id=project.pk)
        cold = time.perf_counter() - started
        timings = []
        for _ in range(args.repeats):
            clip = Clip.objects.filter(project=project, state=ClipState.AWAITING_HUMANS).first()
            started = time.perf_counter()
            for target in ("arousal", "valence"):
                Label.objects.create(
                    clip=clip,
                    target=target,
                    value=float(rng.uniform(-1, 1)),
                    source=LabelSource.HUMAN,
                    n_ratings=2,
                    agreement=0.9,
                )
            Clip.objects.filter(pk=clip.pk).update(state=ClipState.RATED, n_ratings=2)
            queue_refresh(project_id=project.pk)
            timings.append(time.perf_counter() - started)
        timings.sort()
        p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
        print(
            f"| {size:,} | {cold:.2f} | {statistics.median(timings):.2f} | {p95:.2f} | "
            f"{timings[-1]:.2f} |"
        )


if __name__ == "__main__":
    main()
