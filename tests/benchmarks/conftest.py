"""The serving tests' export and server, for the serving benchmark's test."""

from tests.serving.conftest import exported, jets, server  # noqa: F401
