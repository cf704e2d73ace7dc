"""Products, parties, plots, batches, packages and the rules that guard them. Knows apples, not HTTP."""
