"""Helpers shared by the tests and the ``bench/`` scripts: no fixtures, nothing from pytest."""
