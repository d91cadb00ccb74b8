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
