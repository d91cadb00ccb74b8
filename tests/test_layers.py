"""Data flows one way: no module of training/ or models/ imports evaluation/, and serving/ and
benchmarks/ sit on top with nothing importing them (checked on the source)."""

import ast
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def imported_modules(folder):
    """{(file, imported module)} of every import statement in the .py files under `folder`."""
    found = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {(str(path.relative_to(ROOT)), alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found |= {(str(path.relative_to(ROOT)), node.module)}
                if node.module in ("evaluation", "training", "serving", "benchmarks") or node.module.startswith(
                    "evaluation."
                ):
                    found |= {(str(path.relative_to(ROOT)), f"{node.module}.{a.name}") for a in node.names}
    return found


def test_training_and_models_never_import_evaluation():
    upward = sorted(
        (f, m)
        for folder in ("training", "models")
        for f, m in imported_modules(folder)
        if m == "evaluation" or m.startswith("evaluation.")
    )
    assert upward == []


def test_models_never_import_training():
    assert sorted((f, m) for f, m in imported_modules("models") if m.split(".")[0] == "training") == []


BELOW_SERVING = ("training", "models", "preprocessing", "losses", "evaluation")
# `python -m training.serve`, kept for one release as an alias of `python -m serving`
ALIASES = {("training/serve.py", "serving.serve"), ("training/serve.py", "serving.serve.main")}


def test_nothing_imports_serving():
    """serving/ is the top layer beside evaluation/: it loads exports through training.export, and no
    package below it (nor evaluation/) reaches up into it, besides the one named alias."""
    upward = sorted(
        (f, m)
        for folder in BELOW_SERVING
        for f, m in imported_modules(folder)
        if m.split(".")[0] == "serving" and (f, m) not in ALIASES
    )
    assert upward == []


def test_the_training_serve_alias_only_runs_the_server():
    """The exemption above stays an alias: one import of serving.serve.main, nothing else defined."""
    tree = ast.parse((ROOT / "training" / "serve.py").read_text())
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert [(n.module, [a.name for a in n.names]) for n in imports] == [("serving.serve", ["main"])]
    assert not [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Assign)]


BELOW_BENCHMARKS = (*BELOW_SERVING, "serving")


def test_nothing_imports_benchmarks():
    """benchmarks/ is the top layer beside serving/: it may import any package, and no package
    (serving/ included) imports it; only tests/ do."""
    upward = sorted(
        (f, m) for folder in BELOW_BENCHMARKS for f, m in imported_modules(folder) if m.split(".")[0] == "benchmarks"
    )
    assert upward == []


def test_the_benchmarks_share_one_timing_helper():
    """training.throughput became benchmarks.timing: no module imports the old helper, and the
    benchmarks that time training or scoring import the one that is left."""
    everywhere = (*BELOW_BENCHMARKS, "benchmarks")
    assert not [(f, m) for folder in everywhere for f, m in imported_modules(folder) if m == "training.throughput"]
    timed = {f for f, m in imported_modules("benchmarks") if m == "benchmarks.timing"}
    assert {"benchmarks/dvae.py", "benchmarks/vrnn.py", "benchmarks/cheng2020.py", "benchmarks/cheng2022.py"} <= timed


def test_serving_stands_on_the_export_loader():
    assert any(m == "training.export" for _, m in imported_modules("serving"))


def test_the_checker_sees_imports_inside_functions(tmp_path, monkeypatch):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("def f():\n    from evaluation import plots\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert ("pkg/m.py", "evaluation.plots") in imported_modules("pkg")


def test_the_checker_sees_a_module_imported_from_serving(tmp_path, monkeypatch):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("from serving import serve\nimport serving.client\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert {("pkg/m.py", "serving.serve"), ("pkg/m.py", "serving.client")} <= imported_modules("pkg")


def test_the_checker_sees_a_module_imported_from_benchmarks(tmp_path, monkeypatch):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("def f():\n    from benchmarks import timing\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert ("pkg/m.py", "benchmarks.timing") in imported_modules("pkg")


PACKAGES = ("models", "losses", "preprocessing", "training", "evaluation", "serving", "benchmarks")


def import_graph(root, packages=PACKAGES):
    """{module: {project modules it imports}}, counting imports inside functions too (a lazy
    import is still a dependency); `from pkg import mod` counts as importing pkg.mod."""
    files = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def owner(name):  # the project module a dotted name lives in
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in files.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps |= {owner(a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps |= {owner(f"{node.module}.{a.name}") for a in node.names}
        graph[module] = deps - {None, module}
    return graph


def import_circles(graph):
    """The strongly connected groups of more than one module (every import circle), sorted."""
    order, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):
        order[v] = low[v] = len(order)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in order:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], order[w])
        if low[v] == order[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for v in sorted(graph):
        if v not in order:
            visit(v)
    return sorted(circles)


def test_no_import_circle_anywhere():
    """No two project modules reach each other through imports, lazy ones included (the fit
    pipeline and the streamed data path once did: training.data.rows now owns the rows)."""
    assert import_circles(import_graph(ROOT)) == []


def test_the_circle_finder_sees_a_lazy_circle(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("from pkg import b\n")
    (tmp_path / "pkg" / "b.py").write_text("def f():\n    from pkg.c import g\n")
    (tmp_path / "pkg" / "c.py").write_text("import pkg.a\ndef g():\n    pass\n")
    (tmp_path / "pkg" / "d.py").write_text("from pkg import a\n")
    assert import_circles(import_graph(tmp_path, ("pkg",))) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_the_fit_pipeline_reaches_the_data_room_through_its_interface():
    """training.pipeline imports training.data.rows and none of the room's parts."""
    graph = import_graph(ROOT)
    assert "training.data.rows" in graph["training.pipeline"]
    parts = {m for m in graph["training.pipeline"] if m.startswith("training.data.") and m != "training.data.rows"}
    assert parts == set()
