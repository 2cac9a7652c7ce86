"""Adapters: the only modules that import docker, sqlalchemy, alembic, jinja2, cryptography."""
