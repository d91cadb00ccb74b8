"""No source file grows past 600 lines (issue 26): a longer one is split along a real seam."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("models", "losses", "preprocessing", "training", "evaluation", "serving", "benchmarks", "tests")
LIMIT = 600


def long_files(root, packages=PACKAGES, limit=LIMIT):
    """[(path, lines)] of the .py files under `packages` with more than `limit` lines."""
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            n = len(path.read_text().splitlines())
            if n > limit:
                found.append((str(path.relative_to(root)), n))
    return found


def test_no_source_file_is_over_600_lines():
    assert long_files(ROOT) == []


def test_the_size_check_sees_a_long_file(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "long.py").write_text("x = 1\n" * 601)
    (tmp_path / "pkg" / "short.py").write_text("x = 1\n" * 600)
    assert long_files(tmp_path, ("pkg",)) == [("pkg/long.py", 601)]
