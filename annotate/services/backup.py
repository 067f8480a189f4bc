"""A project's backup as a folder, and its restore into another database.

`project_backup` writes everything of one project a restore needs to work as before:
its rows (project, targets, clips, reference labels, features, leases, ratings, labels,
rater noise, training runs, model versions, audits, blocks, audit log, snapshots) as
JSON lines in dependency order, the accounts those rows name (members, raters, actors;
with their password hashes, as a database dump has them), the prior it starts from,
and its files: every clip's audio (read through the storage API, so from S3 as well)
and the model bundles. manifest.json lists every file with its sha256.

`project_restore` loads such a folder: rows keep their ids (clip ids, rating ids and
label exports stay valid), accounts already present (same username) are kept as they
are and the restored rows point to them, and a restore that would overwrite any row of
another project is refused before anything is written. Media files are checked against
the manifest and copied back through the storage API. For a whole instance use pg_dump
(docs/operations.md); this is for one project: moving it, or getting it back.
"""

import datetime
import hashlib
import json
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, TextIO

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import User
from django.core import serializers
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.core.management.color import no_style
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Model, Q, QuerySet

from annotate.errors import Conflict, ValidationError
from annotate.models import (
    Assignment,
    AuditEntry,
    Clip,
    ClipFeatures,
    Label,
    MachineLabelAudit,
    ModelVersion,
    Prior,
    Project,
    ProjectSnapshot,
    RaterBlock,
    RaterNoise,
    RaterProfile,
    Rating,
    ReferenceLabel,
    Target,
    TrainingRun,
)

FORMAT = "concord-project-backup"
FORMAT_VERSION = 1
ROWS = "rows.jsonl"
MANIFEST = "manifest.json"
CHUNK = 1 << 20


@dataclass
class BackupReport:
    project: str
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "project": self.project,
            "rows": self.rows,
            "files": self.files,
            "bytes": self.bytes,
        }


def _project_rows(project: Project) -> list[QuerySet[Any]]:
    """The project's own rows, each model after the ones it points to."""
    clips = Clip.objects.filter(project=project)
    return [
        Project.objects.filter(pk=project.pk),
        Target.objects.filter(project=project),
        clips,
        ReferenceLabel.objects.filter(clip__project=project),
        ClipFeatures.objects.filter(clip__project=project),
        Assignment.objects.filter(project=project),
        Rating.objects.filter(clip__project=project),
        Label.objects.filter(clip__project=project),
        RaterNoise.objects.filter(target__project=project),
        TrainingRun.objects.filter(project=project),
        ModelVersion.objects.filter(project=project),
        MachineLabelAudit.objects.filter(clip__project=project),
        RaterBlock.objects.filter(project=project),
        AuditEntry.objects.filter(project=project),
        ProjectSnapshot.objects.filter(project=project),
    ]


def _users(project: Project) -> QuerySet[User]:
    """Every account the project's rows name."""
    named = (
        Q(pk__in=project.members.values("pk"))
        | Q(pk__in=Rating.objects.filter(clip__project=project).values("rater"))
        | Q(pk__in=Assignment.objects.filter(project=project).values("rater"))
        | Q(pk__in=TrainingRun.objects.filter(project=project).values("requested_by"))
        | Q(pk__in=AuditEntry.objects.filter(project=project).values("actor"))
        | Q(pk__in=RaterBlock.objects.filter(project=project).values("rater"))
        | Q(pk__in=RaterBlock.objects.filter(project=project).values("blocked_by"))
        | Q(pk__in=MachineLabelAudit.objects.filter(clip__project=project).values("requested_by"))
        | Q(pk__in=RaterNoise.objects.filter(target__project=project).values("rater"))
    )
    if project.prior_id is not None:
        named |= Q(pk__in=Prior.objects.filter(pk=project.prior_id).values("created_by"))
    return User.objects.filter(named).order_by("pk")


class _Encoder(DjangoJSONEncoder):
    """Django's encoder, but times keep every microsecond (it cuts them to milliseconds,
    and a restore must give back identical values)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, (datetime.datetime, datetime.time)):
            return o.isoformat()
        return super().default(o)


def _write_rows(rows: QuerySet[Any], handle: TextIO) -> int:
    """Rows as JSON lines (Django's serialized form); accounts named by username."""
    written = 0
    batch: list[Model] = []
    for obj in chain(rows.iterator(chunk_size=2000), [None]):
        if obj is not None:
            batch.append(obj)
        if batch and (obj is None or len(batch) == 2000):
            for entry in serializers.serialize(
                "python",
                batch,
                use_natural_foreign_keys=True,
                use_natural_primary_keys=rows.model is User,
            ):
                handle.write(json.dumps(entry, cls=_Encoder) + "\n")
            written += len(batch)
            batch = []
    return written


def _sha256_of(handle: Any) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _artifacts(project: Project) -> list[str]:
    """Model bundles (and a prior's clip sidecar) under MEDIA_ROOT, relative names."""
    names = list(ModelVersion.objects.filter(project=project).values_list("artifact", flat=True))
    if project.prior_id is not None:
        prior = Prior.objects.get(pk=project.prior_id)
        names += [prior.artifact, str(Path(prior.artifact).with_suffix(".clips.npz"))]
    root = Path(settings.MEDIA_ROOT)
    return sorted({name for name in names if name and (root / name).is_file()})


def project_backup(*, project: Project, out_dir: Path) -> BackupReport:
    """Write the project's backup into `out_dir` (created; must be empty)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise ValidationError(f"{out_dir} is not empty", code="backup_dir_not_empty")
    report = BackupReport(project=project.name)
    users = _users(project)
    querysets: list[QuerySet[Any]] = [users, RaterProfile.objects.filter(user__in=users)]
    if project.prior_id is not None:
        querysets.append(Prior.objects.filter(pk=project.prior_id))
    querysets += _project_rows(project)
    snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():  # one consistent view of every table
        if snapshot:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with (out_dir / ROWS).open("w", encoding="utf-8") as handle:
            for queryset in querysets:
                rows = queryset.order_by("pk")
                report.rows[rows.model._meta.label] = _write_rows(rows, handle)
        audio = list(
            Clip.objects.filter(project=project).order_by("pk").values_list("audio", flat=True)
        )
        artifacts = _artifacts(project)
    # Stored files never change once written (content-addressed names), so they are
    # copied after the snapshot, through the storage API (S3 as well as local files).
    files: list[dict[str, object]] = []
    for name in audio:
        target = out_dir / "media" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(name, "rb") as source, target.open("wb") as copy:
            shutil.copyfileobj(source, copy, CHUNK)
        files.append({"name": name, "kind": "audio", "size": target.stat().st_size})
    for name in artifacts:
        target = out_dir / "media" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(settings.MEDIA_ROOT) / name, target)
        files.append({"name": name, "kind": "model", "size": target.stat().st_size})
    for entry in files:
        with (out_dir / "media" / str(entry["name"])).open("rb") as handle:
            entry["sha256"] = _sha256_of(handle)
    with (out_dir / ROWS).open("rb") as handle:
        rows_sha256 = _sha256_of(handle)
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "project": {"id": project.pk, "name": project.name},
        "rows": report.rows,
        "rows_sha256": rows_sha256,
        "files": files,
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1))
    report.files = len(files)
    report.bytes = sum(int(str(entry["size"])) for entry in files)
    return report


def _read_manifest(in_dir: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((in_dir / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise ValidationError(
            f"{in_dir} is not a project backup: {exc}", code="bad_backup"
        ) from None
    if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        raise ValidationError(
            f"{in_dir} is not a version {FORMAT_VERSION} backup", code="bad_backup"
        )
    with (in_dir / ROWS).open("rb") as handle:
        if _sha256_of(handle) != manifest["rows_sha256"]:
            raise ValidationError(f"{in_dir / ROWS} does not match its manifest", code="bad_backup")
    for entry in manifest["files"]:
        with (in_dir / "media" / entry["name"]).open("rb") as handle:
            if _sha256_of(handle) != entry["sha256"]:
                raise ValidationError(f"media file {entry['name']} is damaged", code="bad_backup")
    return manifest


def _rows(in_dir: Path) -> Iterator[Any]:
    with (in_dir / ROWS).open(encoding="utf-8") as handle:
        entries = (json.loads(line) for line in handle if line.strip())
        yield from serializers.deserialize("python", entries)


def _taken(model: type[Model], pks: Iterable[object]) -> int:
    pks = list(pks)
    return sum(
        model._default_manager.filter(pk__in=pks[i : i + 5000]).count()
        for i in range(0, len(pks), 5000)
    )


def _check_free(in_dir: Path, manifest: dict[str, Any]) -> None:
    """Refuse before writing anything when a project row's id, the project's name, or a
    media file's name (with other content) is already taken."""
    name = manifest["project"]["name"]
    if Project.objects.filter(name=name).exists():
        raise Conflict(f"a project named {name!r} already exists", code="project_exists")
    shared = {User, RaterProfile, Prior}
    ids: dict[type[Model], list[object]] = {}
    with (in_dir / ROWS).open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                model = apps.get_model(row["model"])
                if model not in shared:
                    ids.setdefault(model, []).append(row["pk"])
    for model, pks in ids.items():
        if taken := _taken(model, pks):
            raise Conflict(
                f"{taken} {model._meta.verbose_name_plural} of the backup already exist here "
                "with the same ids: restore into a fresh database, or delete them first",
                code="ids_taken",
            )
    for entry in manifest["files"]:
        if entry["kind"] == "audio" and default_storage.exists(entry["name"]):
            with default_storage.open(entry["name"], "rb") as handle:
                if _sha256_of(handle) != entry["sha256"]:
                    raise Conflict(f"stored file {entry['name']} differs", code="file_exists")
        if entry["kind"] == "model":
            path = Path(settings.MEDIA_ROOT) / entry["name"]
            if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
                raise Conflict(f"model file {entry['name']} differs", code="file_exists")


def _copy_media(in_dir: Path, manifest: dict[str, Any]) -> list[str]:
    """Copy media files back; returns the audio names it wrote (to undo on failure)."""
    written: list[str] = []
    for entry in manifest["files"]:
        source = in_dir / "media" / entry["name"]
        if entry["kind"] == "model":
            target = Path(settings.MEDIA_ROOT) / entry["name"]
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
            continue
        if default_storage.exists(entry["name"]):
            continue  # same content, checked
        with source.open("rb") as handle:
            stored = default_storage.save(entry["name"], File(handle))
        written.append(stored)
        if stored != entry["name"]:
            raise Conflict(f"storage stored {entry['name']} as {stored}", code="file_exists")
    return written


def project_restore(*, in_dir: Path) -> BackupReport:
    """Load a backup folder written by `project_backup` into this database and storage."""
    manifest = _read_manifest(in_dir)
    _check_free(in_dir, manifest)
    report = BackupReport(project=manifest["project"]["name"])
    written = _copy_media(in_dir, manifest)
    models: set[type[Model]] = set()
    try:
        with transaction.atomic():
            prior_ids: dict[int, int] = {}
            for row in _rows(in_dir):
                obj = row.object
                label = type(obj)._meta.label
                if isinstance(obj, User) and User.objects.filter(username=obj.username).exists():
                    continue  # the account here is kept; rows point to it by username
                if isinstance(obj, RaterProfile):
                    if RaterProfile.objects.filter(user_id=obj.user_id).exists():
                        continue
                    obj.pk = None  # nothing points to a profile by id
                if isinstance(obj, Prior):
                    same = Prior.objects.filter(name=obj.name, version=obj.version).first()
                    if same is not None:
                        prior_ids[obj.pk] = same.pk
                        continue
                    if Prior.objects.filter(pk=obj.pk).exists():
                        old = obj.pk
                        obj.pk = None
                        obj.save()
                        prior_ids[old] = obj.pk
                        report.rows[label] = report.rows.get(label, 0) + 1
                        continue
                if isinstance(obj, Project) and obj.prior_id in prior_ids:
                    obj.prior_id = prior_ids[obj.prior_id]
                row.save()
                models.add(type(obj))
                report.rows[label] = report.rows.get(label, 0) + 1
            # Rows came with their ids: move the id sequences past them.
            statements = connection.ops.sequence_reset_sql(no_style(), list(models))
            if statements:
                with connection.cursor() as cursor:
                    for statement in statements:
                        cursor.execute(statement)
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise
    report.files = len(manifest["files"])
    report.bytes = sum(int(entry["size"]) for entry in manifest["files"])
    return report
