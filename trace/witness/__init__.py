"""A C2SP witness with its own key and state; see core.py (protocol) and server.py (HTTP)."""
