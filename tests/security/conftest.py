"""The live-server fixtures of the server tests, for the attacks made against a real server."""

from tests.server.conftest import server_dir, start_server

__all__ = ["server_dir", "start_server"]
