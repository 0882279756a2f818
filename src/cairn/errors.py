"""The one error tree of cairn.

Every error a user can cause or meet is a ``CairnError``. It carries the exit code the CLI
returns, an HTTP status for the servers, and an optional hint. Presentation lives in exactly
one place per face (``cli.main`` for the terminal, the server's exception handler for HTTP);
errors themselves only describe what went wrong.

    CairnError
    ├── NotFound            unknown run, object, model, file            exit 2, HTTP 404
    ├── Ambiguous           a reference matching several runs           exit 2, HTTP 409
    ├── InvalidInput        malformed filter, params file, option       exit 2, HTTP 400
    │   └── FilterSyntaxError   carries the column position
    ├── Conflict            an existing folder, a finished run          exit 1, HTTP 409
    ├── Corrupt             an object whose bytes do not match its id   exit 3, HTTP 500
    ├── StoreUnavailable    the metadata or object store cannot be used exit 4, HTTP 503
    │   └── StoreFull           no space left where the store lives     exit 4, HTTP 507
    ├── PermissionDenied    a folder cairn may not write to; a role     exit 5, HTTP 403
    └── MissingExtra        an optional dependency is not installed     exit 6, HTTP 501
"""

from __future__ import annotations


class CairnError(Exception):
    """Base of every error cairn reports to a user."""

    exit_code: int = 1
    http_status: int = 500
    code: str = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class NotFound(CairnError):
    exit_code = 2
    http_status = 404
    code = "not_found"


class Ambiguous(CairnError):
    exit_code = 2
    http_status = 409
    code = "ambiguous"


class InvalidInput(CairnError):
    exit_code = 2
    http_status = 400
    code = "invalid_input"


class FilterSyntaxError(InvalidInput):
    """A filter expression that does not parse; ``position`` is the 0-based column."""

    code = "invalid_filter"

    def __init__(self, message: str, *, expression: str, position: int) -> None:
        pointer = f"  {expression}\n  {' ' * position}^"
        super().__init__(f"{message} at column {position + 1}", hint=pointer)
        self.expression = expression
        self.position = position


class Conflict(CairnError):
    exit_code = 1
    http_status = 409
    code = "conflict"


class Corrupt(CairnError):
    exit_code = 3
    http_status = 500
    code = "corrupt"


class StoreUnavailable(CairnError):
    exit_code = 4
    http_status = 503
    code = "store_unavailable"


class StoreFull(StoreUnavailable):
    """The disk (or quota) holding a store is full: what was being stored was not stored."""

    http_status = 507
    code = "store_full"


class PermissionDenied(CairnError):
    exit_code = 5
    http_status = 403
    code = "permission_denied"


class MissingExtra(CairnError):
    """An optional dependency is missing; the hint names the extra that installs it."""

    exit_code = 6
    http_status = 501
    code = "missing_extra"

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"this needs the Python package {module!r}, which is not installed",
            hint=f"pip install 'cairn[{extra}]'",
        )
        self.module = module
        self.extra = extra
