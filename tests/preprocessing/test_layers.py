"""The import graph of the package runs one way: the ground floors (jets, samples) never import
the generator, and nothing in preprocessing imports the model or training code."""

import ast
import pathlib

import pytest

import preprocessing

ROOT = pathlib.Path(preprocessing.__file__).parent


def _imports(folder):
    """{file: [imported module names]} of every Python file under `folder` (``from a import b``
    gives both ``a`` and ``a.b``, so that ``from preprocessing import events`` is seen)."""
    found = {}
    for path in sorted(folder.rglob("*.py")):
        names = []
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                assert node.level == 0, f"{path}: relative import"
                names.append(node.module)
                names += [f"{node.module}.{alias.name}" for alias in node.names]
        found[path.relative_to(ROOT.parent)] = names
    return found


@pytest.mark.parametrize("layer", ["jets", "samples"])
def test_jets_and_samples_never_import_the_generator(layer):
    files = _imports(ROOT / layer)
    assert files, f"no Python files under preprocessing/{layer}"
    bad = {
        str(f): [n for n in names if n == "preprocessing.events" or n.startswith("preprocessing.events.")]
        for f, names in files.items()
    }
    assert not {f: n for f, n in bad.items() if n}


def test_jets_import_nothing_above_themselves():
    allowed = ("preprocessing.jets", "preprocessing.errors", "preprocessing.console", "preprocessing.version")
    bad = {
        str(f): [n for n in names if n.startswith("preprocessing.") and not n.startswith(allowed)]
        for f, names in _imports(ROOT / "jets").items()
    }
    assert not {f: n for f, n in bad.items() if n}


def test_representations_do_not_import_the_generator():
    bad = {
        str(f): [n for n in names if n.startswith("preprocessing.events")]
        for f, names in _imports(ROOT / "representations").items()
    }
    assert not {f: n for f, n in bad.items() if n}


def test_nothing_imports_training_models_or_evaluation():
    above = ("training", "models", "evaluation", "losses")
    bad = {str(f): [n for n in names if n.split(".")[0] in above] for f, names in _imports(ROOT).items()}
    assert not {f: n for f, n in bad.items() if n}
