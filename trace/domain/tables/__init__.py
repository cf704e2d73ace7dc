"""The state tables: typed SQLAlchemy models, one module per aggregate."""
