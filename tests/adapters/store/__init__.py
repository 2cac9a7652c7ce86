"""Tests of the SQL store and its migrations."""
