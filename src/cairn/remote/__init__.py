"""Remotes: moving runs and their objects to and from a cairn server or a bucket.

``push``/``pull`` are the workflows; ``bundle`` is what moves; ``http`` and ``bucket`` are
the two kinds of remote; ``config`` keeps their names and the user's tokens.
"""
