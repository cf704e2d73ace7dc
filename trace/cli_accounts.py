"""`flask --app trace parties|users|plots ...` (issue: accounts and portal)."""
from flask import Flask


def init_app(app: Flask) -> None:
    """Register the commands."""
