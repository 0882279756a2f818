"""The web UI: pages rendered on the server from the same workflows the CLI uses.

``routes.router`` serves the pages and ``routes.mount_static`` the vendored htmx and uPlot
files; nothing here is imported by ``import cairn``.
"""
