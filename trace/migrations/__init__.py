"""Alembic migrations of the schema, shipped inside the package."""
import os


def script_location() -> str:
    """The folder holding env.py and versions/."""
    return os.path.dirname(os.path.abspath(__file__))
