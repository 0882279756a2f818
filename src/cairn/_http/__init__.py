"""The HTTP layer shared by cairn's two servers (``cairn server`` and ``cairn serve``).

Pure ASGI, so it depends on no web framework; only the faces ``server/`` and ``model_server/``
import it.
"""
