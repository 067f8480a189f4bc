"""Corpus folders in the shared format, read by the learner's one reader (learner.corpus)."""

from learner.corpus import gold_targets, ratings_csv_path, read_clips_csv, read_ratings_csv

__all__ = ["gold_targets", "ratings_csv_path", "read_clips_csv", "read_ratings_csv"]
