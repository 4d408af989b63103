"""The import graph of crm/: no cycle, and no domain package importing the API.

Read with ``ast`` from every crm/**/*.py, without importing anything. Imports inside functions
count as much as those at the top of a module (deferring an import is the usual way to hide a
cycle). ``if TYPE_CHECKING:`` imports count too.

An edge to a package is an edge to its ``__init__``. ``from crm.a import b`` where ``b`` is a
module is an edge to ``crm.a.b`` only (Python loads ``crm.a`` first for any of its modules: a
package's ``__init__`` is not a dependency of its modules in that sense).
"""

import ast
from pathlib import Path

CRM = Path(__file__).resolve().parents[2] / "crm"
DOMAIN = ("crm.leads", "crm.visits", "crm.targets", "crm.stats", "crm.reminders", "crm.imports")


def module_name(path: Path) -> str:
    parts = path.relative_to(CRM.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in CRM.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> dict[str, int]:
    """The crm modules ``name`` imports, each with the line of its first import."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        while target and target not in known:  # crm.x.y.Name → crm.x.y
            target = target.rpartition(".")[0]
        if target and target != name:
            found.setdefault(target, line)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("crm"):
                    add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            if not base.startswith("crm"):
                continue
            submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
            for target in submodules:
                add(target, node.lineno)
            if len(submodules) < len(node.names):  # names defined by ``base`` itself
                add(base, node.lineno)
    return found


def graph() -> dict[str, dict[str, int]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return result


def describe(component: list[str], edges) -> str:
    inside = set(component)
    lines = [f"  {a} -> {b} (line {edges[a][b]})" for a in component for b in sorted(edges[a])
             if b in inside]
    return "cycle among " + ", ".join(component) + ":\n" + "\n".join(lines)


def test_the_graph_is_read():
    edges = graph()
    assert "crm.stats.queries" in edges
    assert "crm.stats.results" in edges["crm.stats.queries"]
    assert "crm.stats.cache" in edges["crm.stats.queries"]  # from crm.stats import cache


def test_no_import_cycle_inside_crm():
    edges = graph()
    found = cycles(edges)
    assert not found, "\n".join(describe(c, edges) for c in found)


def test_no_domain_package_imports_the_api():
    edges = graph()
    bad = [f"{a} -> {b} (line {line})" for a, targets in sorted(edges.items())
           for b, line in sorted(targets.items())
           if (a + ".").startswith(tuple(d + "." for d in DOMAIN))
           and (b + ".").startswith("crm.api.")]
    assert not bad, "\n".join(bad)


def test_the_cycle_finder_finds_a_cycle():
    edges = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert cycles(edges) == [["a", "b", "c"]]


def test_the_lead_queries_do_not_import_the_statistics():
    """The lead list's drill-down ids come in from its view, not from the statistics engine."""
    imported = graph()["crm.leads.queries"]
    assert not [m for m in imported if m == "crm.stats" or m.startswith("crm.stats.")]
