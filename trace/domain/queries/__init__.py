"""Read models: what the portal, the public pages, the labels and the exports ask. Nothing here writes."""
