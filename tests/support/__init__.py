"""Helpers shared by the tests (importable: pytest puts tests/ on sys.path)."""
