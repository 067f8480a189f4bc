"""Concord's learner: plain Python, numpy in and out, no Django, Celery or annotate."""
