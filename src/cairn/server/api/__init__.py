"""The REST API, version 1: one router per resource, all mounted under ``/api/v1``."""
