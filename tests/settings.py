"""Settings for pytest: config.settings in development mode (CONCORD_DEV=1: a generated
SECRET_KEY kept under var/, as `./run test` sets), inherited by the processes tests start."""

import os

os.environ.setdefault("CONCORD_DEV", "1")

from config.settings import *  # noqa: F403
