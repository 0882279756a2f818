"""The live-server fixtures of the server tests, for the attacks made against a real server."""

from tests.server.conftest import live, server_dir, start_server, tokens

__all__ = ["live", "server_dir", "start_server", "tokens"]
