"""Installs the anomalous-jet-tagging packages (run from the repository root: pip install -e .)."""

import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
REQUIREMENTS = [
    line.split("#")[0].strip()
    for line in (HERE / "requirements.txt").read_text().splitlines()
    if line.split("#")[0].strip() and not line.startswith(("pytest", "ruff"))
]

setup(
    name="anomalous-jet-tagging",
    version="0.1.0",
    description="Anomalous-jet taggers (VAE, DVAE, VRNN, classifier-based) on Pythia8 + FastJet jets, "
    "exported as SavedModels for TF Serving",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(
        include=[
            "models",
            "losses",
            "preprocessing",
            "preprocessing.*",
            "training",
            "serving",
            "benchmarks",
            "evaluation",
            "evaluation.*",
        ]
    ),
    install_requires=REQUIREMENTS,
    extras_require={"test": ["pytest", "ruff"]},
)
