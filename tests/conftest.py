"""Test-suite root: makes ``lanner_testutil`` (shared helpers) importable from every test."""
