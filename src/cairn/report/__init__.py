"""Self-contained HTML reports of runs (``cairn report``), readable with no server or network."""
