"""Every foreign key of the platform's tables can be found by an index: its own, or a
composite index or unique constraint that starts with it. The hottest tables (clips,
assignments, ratings) drop the foreign keys' own indexes where a composite one covers
them (migration 0022): one index fewer is one write fewer per claim or rating."""

import pytest
from django.apps import apps
from django.db import connection, models


def _leading_fields(model: type[models.Model]) -> set[str]:
    """Field names that lead an index or a unique constraint holding on every row."""
    leading = set()
    for index in model._meta.indexes:
        if index.condition is None and index.fields:
            leading.add(index.fields[0].lstrip("-"))
    for constraint in model._meta.constraints:
        unique = isinstance(constraint, models.UniqueConstraint)
        if unique and constraint.condition is None and constraint.fields:
            leading.add(constraint.fields[0])
    for together in model._meta.unique_together:
        leading.add(together[0])
    return leading


def test_every_foreign_key_is_the_first_column_of_an_index():
    uncovered = []
    for model in apps.get_app_config("annotate").get_models():
        leading = _leading_fields(model)
        for field in model._meta.concrete_fields:
            unindexed = field.is_relation and field.many_to_one and not field.db_index
            if unindexed and field.name not in leading:
                uncovered.append(f"{model.__name__}.{field.name}")
    assert not uncovered, f"foreign keys no index starts with: {uncovered}"


@pytest.mark.django_db
def test_the_hot_tables_hold_no_index_a_composite_one_covers():
    from annotate.models import Assignment, Clip, Rating

    with connection.cursor() as cursor:
        for model, column in (
            (Clip, "project_id"),
            (Assignment, "rater_id"),
            (Rating, "clip_id"),
            (Rating, "rater_id"),
        ):
            indexes = connection.introspection.get_constraints(cursor, model._meta.db_table)
            alone = [name for name, c in indexes.items() if c["index"] and c["columns"] == [column]]
            assert not alone, f"{model._meta.db_table}.{column} still has its own index: {alone}"
            assert any(
                c["columns"][:1] == [column] and len(c["columns"]) > 1 for c in indexes.values()
            ), f"no composite index starts with {model._meta.db_table}.{column}"
