"""Bytes per row of Concord's tables on PostgreSQL, for the capacity estimate (docs/scale.md).

    python -m bench.row_sizes --database-url postgres://postgres@127.0.0.1:5432/concord_row_sizes

Creates the database (it must not exist), migrates it, builds one project shaped like a
real campaign with realistic rows (clips with 400 waveform peaks and corpus metadata, a
lease per rating, two targets, live and revoked labels, the default extractor's feature
vectors, reference labels), runs VACUUM ANALYZE, prints each table's total size (heap,
TOAST and indexes) divided by its exact row count, and drops the database (--keep keeps it).
"""

import argparse
import datetime as dt
import hashlib
import os
import sys
import time
import uuid


def _database(url: str, *, create: bool) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        if create:
            admin.execute(f'CREATE DATABASE "{name}"')
        else:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build(*, clips: int, ratings_per_clip: int, raters: int, seed: int = 0) -> dict[str, int]:
    import numpy as np
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.utils import timezone

    from annotate.audio import peaks
    from annotate.models import (
        Assignment,
        AssignmentStatus,
        Clip,
        ClipFeatures,
        ClipState,
        Label,
        Project,
        RaterProfile,
        Rating,
        ReferenceLabel,
        Target,
    )
    from learner.features import get_extractor

    rng = np.random.default_rng(seed)
    project = Project.objects.create(name="row-sizes", min_raters=3, max_raters=5)
    for i, name in enumerate(("arousal", "valence")):
        Target.objects.create(project=project, name=name, position=i)
    users = User.objects.bulk_create(
        User(username=f"rater{r:06d}", password=make_password(None)) for r in range(raters)
    )
    RaterProfile.objects.bulk_create(RaterProfile(user=u) for u in users)
    project.members.add(*users)

    extractor = get_extractor("librosa")
    t = np.arange(16000 * 3) / 16000
    voice = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 2 * t))).astype("float32")
    n_features = int(np.asarray(extractor.extract(voice, 16000)).size)
    now = timezone.now()
    batch = 2000
    for start in range(0, clips, batch):
        rows = []
        for i in range(start, min(clips, start + batch)):
            sha = hashlib.sha256(f"clip-{i}".encode()).hexdigest()
            duration = float(rng.uniform(1.5, 6.0))
            envelope = voice[: int(16000 * min(duration, 3.0))] * rng.uniform(0.2, 1.0)
            rows.append(
                Clip(
                    project=project,
                    external_id=f"session{i // 500:03d}/utt{i:07d}",
                    audio=f"clips/{project.pk}/{sha[:2]}/{sha}.wav",
                    sha256=sha,
                    duration_s=round(duration, 3),
                    original_sample_rate=44100,
                    original_channels=2,
                    original_name=f"session{i // 500:03d}/utt{i:07d}.wav",
                    speaker=f"spk{i % 300:04d}",
                    gender="female" if i % 2 else "male",
                    language="en",
                    metadata={"category": "neutral", "session": i // 500},
                    peaks=peaks(envelope),
                    state=ClipState.RATED,
                    priority=float(rng.normal()),
                    ratings_wanted=ratings_per_clip,
                    n_ratings=ratings_per_clip,
                )
            )
        made = Clip.objects.bulk_create(rows)
        features, references, labels, leases = [], [], [], []
        for clip in made:
            values = rng.normal(size=n_features).astype("<f4")
            features.append(
                ClipFeatures(
                    clip=clip,
                    extractor_key=extractor.cache_key,
                    values=values.tobytes(),
                    n_features=n_features,
                )
            )
            for target in ("arousal", "valence"):
                references.append(ReferenceLabel(clip=clip, target=target, value=0.1))
                labels.append(
                    Label(
                        clip=clip,
                        target=target,
                        value=float(rng.uniform(-1, 1)),
                        source="human",
                        n_ratings=ratings_per_clip,
                        agreement=float(rng.uniform(0, 1)),
                    )
                )
            leases.extend(
                Assignment(
                    project=project,
                    clip=clip,
                    rater=users[int(k)],
                    status=AssignmentStatus.COMPLETED,
                    expires_at=now + dt.timedelta(minutes=10),
                )
                for k in rng.choice(raters, size=ratings_per_clip, replace=False)
            )
        ClipFeatures.objects.bulk_create(features)
        ReferenceLabel.objects.bulk_create(references)
        Label.objects.bulk_create(labels)
        leases = Assignment.objects.bulk_create(leases)
        Rating.objects.bulk_create(
            Rating(
                clip=lease.clip,
                rater=lease.rater,
                assignment=lease,
                values={
                    "arousal": round(float(rng.uniform(-1, 1)), 4),
                    "valence": round(float(rng.uniform(-1, 1)), 4),
                },
                time_spent_ms=int(rng.integers(1500, 9000)),
                client_token=uuid.uuid4().hex,
            )
            for lease in leases
        )
    return {"n_features": n_features}


def measure() -> list[tuple[str, int, int]]:
    """(table, rows, total bytes) of every annotate and auth table with rows."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND (tablename LIKE 'annotate_%%' OR tablename LIKE 'auth_user%%') ORDER BY 1"
        )
        tables = [name for (name,) in cursor.fetchall()]
        out = []
        for table in tables:
            cursor.execute(f'SELECT count(*), pg_total_relation_size(%s) FROM "{table}"', [table])
            rows, size = cursor.fetchone()
            if rows:
                out.append((table, int(rows), int(size)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True, help="a database that does not exist")
    parser.add_argument("--clips", type=int, default=20000)
    parser.add_argument("--ratings-per-clip", type=int, default=5)
    parser.add_argument("--raters", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgres"):
        parser.error("--database-url must be a PostgreSQL URL")

    _database(args.database_url, create=True)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("CONCORD_DEV", "1")
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        info = build(clips=args.clips, ratings_per_clip=args.ratings_per_clip, raters=args.raters)
        built = time.perf_counter() - started
        sizes = measure()
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database()), version()")
            database_bytes, version = cursor.fetchone()
        connection.close()
    finally:
        if not args.keep:
            _database(args.database_url, create=False)

    print(f"# {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {version.split(',')[0]}")
    print(
        f"# {args.clips} clips, {args.ratings_per_clip} ratings each, {args.raters} raters, "
        f"{info['n_features']} features per clip; built in {built:.0f} s"
    )
    print("| table | rows | total bytes | bytes per row |")
    print("|---|---:|---:|---:|")
    for table, rows, size in sizes:
        print(f"| {table} | {rows:,} | {size:,} | {size / rows:,.0f} |")
    print(f"| whole database | | {database_bytes:,} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
