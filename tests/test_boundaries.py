"""learner/ is plain Python: no Django, Celery, DRF or annotate imports anywhere in it."""

import ast
from pathlib import Path

FORBIDDEN = ("django", "celery", "rest_framework", "annotate", "config")
LEARNER = Path(__file__).resolve().parents[1] / "learner"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_learner_imports_nothing_of_the_web_app():
    files = sorted(LEARNER.rglob("*.py"))
    assert len(files) > 10
    offending = {
        f"{path.relative_to(LEARNER.parent)}: {name}"
        for path in files
        for name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN
    }
    assert offending == set()
