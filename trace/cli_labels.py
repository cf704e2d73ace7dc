"""`flask --app trace packages` and `labels` (issue: QR labels and the verification page)."""
from flask import Flask


def init_app(app: Flask) -> None:
    """Register the commands."""
