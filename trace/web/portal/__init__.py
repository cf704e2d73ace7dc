"""The working portal of growers, packers, cold stores, carriers, retailers and regulators, by
area: the desk and search, batches and their forms, labels, and the register (plots, parties,
the credit list, the GI catalogue, logins), and the field end (farming records, certificates,
the bureau's registers)."""
from trace.web.portal import batches, bureau, desk, field, labels, recalls, register  # noqa: F401 - each registers its routes
from trace.web.portal.base import bp

__all__ = ["bp"]
