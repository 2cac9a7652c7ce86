"""Jinja2 templates of the generated proxy config, shipped as package data."""
