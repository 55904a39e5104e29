"""The installed distribution describes the package as it is: one version, the Pythons CI runs."""

from __future__ import annotations

from importlib.metadata import metadata, version

import tornado_dynasession


def test_the_distribution_version_is_the_packages_own() -> None:
    assert version("tornado_dynasession") == tornado_dynasession.__version__


def test_the_classifiers_name_every_python_ci_runs() -> None:
    classifiers = metadata("tornado_dynasession").get_all("Classifier") or []
    for python in ("3.10", "3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {python}" in classifiers
