"""Login, logout, password change (issue: accounts and portal)."""
from flask import Blueprint

bp = Blueprint("auth", __name__)
