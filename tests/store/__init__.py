"""Tests of store/: each runs on SQLite and on PostgreSQL (see tests/conftest.py)."""
