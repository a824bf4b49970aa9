"""The house's imports run one way (STYLE.md): this test walks every import statement in the package,
deferred ones inside functions included, and checks there is no import cycle between modules, none
between the package's parts (subpackages and top-level modules), that only the CLI and the study
orchestrator import the public API, nothing imports the CLI, and the report works without torch."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
API_USERS = ("tap.cli", "tap.study")  # the layers above tap.api


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "tap").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(path: Path, modules: dict) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n in modules or n.split(".")[0] == "torch"}
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _part(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, if it has any (depth-first search)."""
    state, path = {}, []

    def visit(node):
        state[node], _ = "open", path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node], _ = "done", path.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_modules():
    graph = {m: {t for t in ts if t.startswith("tap")} for m, ts in _graph().items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_no_import_cycle_between_the_packages_parts():
    parts: dict[str, set[str]] = {}
    for module, targets in _graph().items():
        parts.setdefault(_part(module), set()).update(
            _part(t) for t in targets if t.startswith("tap") and _part(t) != _part(module)
        )
    assert _cycle(parts) is None, " -> ".join(_cycle(parts))


def test_only_the_layers_above_it_import_the_api_and_nothing_imports_the_cli():
    for module, targets in _graph().items():
        if not module.startswith(API_USERS) and not module.startswith("tap.api"):
            assert not {t for t in targets if t.startswith("tap.api")}, f"{module} imports the API"
        if not module.startswith("tap.cli"):
            assert not {t for t in targets if t.startswith("tap.cli")}, f"{module} imports the CLI"


def test_the_report_and_the_r_features_need_no_torch():
    graph = _graph()
    for module in ("tap.report.html", "tap.report.figures", "tap.features.rewards", "tap.advantages"):
        assert "torch" not in graph[module], module


def test_the_walk_sees_deferred_imports():
    assert "tap.world.build" in _graph()["tap.resolve"]  # imported inside policy_path
