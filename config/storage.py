"""Where stored audio lives: S3-compatible object storage when configured, else MEDIA_ROOT.

With CONCORD_S3_BUCKET set, clip audio goes through django-storages' S3 backend (AWS S3,
MinIO, Ceph, Garage, ...), so web servers and workers on several machines share it with
nothing but the bucket. Every reader opens audio through the storage API
(`clip.audio.open("rb")`), never by a filesystem path. Model bundles stay under
MEDIA_ROOT (a volume the workers share, see docs/operations.md).
"""

import importlib.util
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_str

FILESYSTEM = "django.core.files.storage.FileSystemStorage"
S3 = "storages.backends.s3.S3Storage"
STATICFILES = "django.contrib.staticfiles.storage.StaticFilesStorage"


def storages_from_env() -> dict[str, dict[str, Any]]:
    """Django's STORAGES setting from the environment.

    CONCORD_S3_BUCKET: the bucket (unset: local files under MEDIA_ROOT);
    AWS_S3_ENDPOINT_URL: a non-AWS endpoint (MinIO: http://minio:9000);
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or *_FILE): credentials, else boto3's own
    chain (instance role, ~/.aws); AWS_S3_REGION_NAME; CONCORD_S3_PREFIX: a key prefix;
    AWS_S3_ADDRESSING_STYLE: "path" for most self-hosted servers.
    """
    bucket = env_str("CONCORD_S3_BUCKET")
    default: dict[str, Any]
    if not bucket:
        default = {"BACKEND": FILESYSTEM}
    else:
        if not all(importlib.util.find_spec(name) for name in ("storages", "boto3")):
            raise ImproperlyConfigured(
                "CONCORD_S3_BUCKET is set but django-storages[s3] is not installed: "
                "pip install 'django-storages[s3]' boto3"
            )
        options: dict[str, Any] = {
            "bucket_name": bucket,
            "location": env_str("CONCORD_S3_PREFIX").strip("/"),
            "default_acl": None,  # private objects; the app serves them to lease holders
            "querystring_auth": True,
            # Names are content-addressed; never overwrite (a failed import deletes its own).
            "file_overwrite": False,
            "verify": env_bool("AWS_S3_VERIFY", True),
        }
        for option, variable in (
            ("endpoint_url", "AWS_S3_ENDPOINT_URL"),
            ("access_key", "AWS_ACCESS_KEY_ID"),
            ("secret_key", "AWS_SECRET_ACCESS_KEY"),
            ("region_name", "AWS_S3_REGION_NAME"),
            ("addressing_style", "AWS_S3_ADDRESSING_STYLE"),
        ):
            if value := env_str(variable):
                options[option] = value
        default = {"BACKEND": S3, "OPTIONS": options}
    return {"default": default, "staticfiles": {"BACKEND": STATICFILES}}
