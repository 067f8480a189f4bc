"""The layers' boundaries: learner/ is plain Python, only annotate.learning imports it,
and annotate's modules import each other without a cycle."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("django", "celery", "rest_framework", "annotate", "config")
LEARNER = ROOT / "learner"
ANNOTATE = ROOT / "annotate"
DOOR = ANNOTATE / "learning"


def imported_modules(path: Path) -> set[str]:
    """Absolute module names `path` imports, inside functions too (`from a import b`
    also counts as `a.b`, so importing a submodule by name is seen)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_learner_imports_nothing_of_the_web_app():
    files = sorted(LEARNER.rglob("*.py"))
    assert len(files) > 10
    offending = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in files
        for name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN
    }
    assert offending == set()


def test_only_annotate_learning_imports_the_learner():
    files = sorted(p for p in ANNOTATE.rglob("*.py") if "migrations" not in p.parts)
    assert len(list(DOOR.glob("*.py"))) > 3
    offending = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in files
        if DOOR not in path.parents
        for name in imported_modules(path)
        if name.split(".")[0] == "learner"
    }
    assert offending == set()


def annotate_import_graph(*, through_celery: bool) -> dict[str, set[str]]:
    """Which annotate module imports which, at module level or inside functions.
    Unless `through_celery`, imports of annotate.tasks are left out: a service that
    enqueues a task calls another service through the broker, not directly."""
    files = sorted(p for p in ANNOTATE.rglob("*.py") if "migrations" not in p.parts)
    modules = {module_name(path): path for path in files}
    return {
        name: {
            m
            for m in imported_modules(path)
            if m in modules and (through_celery or m != "annotate.tasks")
        }
        - {name}
        for name, path in modules.items()
    }


def cycles_of(graph: dict[str, set[str]]) -> list[str]:
    cycles: list[str] = []
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return cycles


def test_the_door_reads_models_and_calls_the_learner_only():
    """annotate.learning reads rows and returns plans: it imports no service, task or
    view, so it sits below every loop the services make through Celery. It may read rows
    through annotate.rawsql, which itself imports nothing of annotate."""
    graph = annotate_import_graph(through_celery=True)
    below = ("annotate.learning", "annotate.models", "annotate.rawsql")
    offending = {
        f"{name}: {imported}"
        for name, imports in graph.items()
        if name.startswith("annotate.learning")
        for imported in imports
        if not imported.startswith(below)
    }
    assert offending == set()
    assert graph["annotate.rawsql"] == set()


def test_annotate_imports_have_no_cycle_beyond_celery_calls():
    assert cycles_of(annotate_import_graph(through_celery=False)) == []
    # The check sees cycles: through the tasks, services do reach each other.
    assert cycles_of(annotate_import_graph(through_celery=True))
