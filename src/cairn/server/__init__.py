"""``cairn server``: the REST API, the sync protocol and accounts over one project's store.

Nothing here is imported by ``import cairn``; FastAPI is loaded only when a server starts.
"""
