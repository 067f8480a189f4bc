import os

# Benchmarks are development runs: a generated SECRET_KEY under their var dir will do,
# and simulated raters rate faster than the rating throttle lets a person.
os.environ.setdefault("CONCORD_DEV", "1")
os.environ.setdefault("CONCORD_RATING_RATE", "")
