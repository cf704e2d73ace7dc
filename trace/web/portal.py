"""The working portal of growers, packers, cold stores, carriers, retailers and regulators."""
from flask import Blueprint

bp = Blueprint("portal", __name__, url_prefix="/portal")
