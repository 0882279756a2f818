"""The one error tree of cairn.

Every error a user can cause or meet is a ``CairnError``. It carries the exit code the CLI
returns, an HTTP status for the servers, a stable ``code`` for JSON, and an optional hint.
Errors only describe what went wrong (with the data a face may show, such as a column);
presentation lives in one place per face: ``cli.main.render_error`` for the terminal and
``_http.errors`` for the JSON both servers answer. An error met only by a server takes the
exit code of the branch it sits on, so every leaf means the same thing to a script.

    CairnError                                                        exit 1, HTTP 500
    ├── NotFound            unknown run, object, model, file            exit 2, HTTP 404
    │   └── UnknownPredictions  feedback for predictions never logged   exit 2, HTTP 404
    ├── Ambiguous           a reference matching several runs           exit 2, HTTP 409
    ├── InvalidInput        malformed filter, params file, option       exit 2, HTTP 400
    │   ├── FilterSyntaxError   carries the expression and the column   exit 2, HTTP 400
    │   ├── SchemaMismatch      input that does not fit a model         exit 2, HTTP 422
    │   ├── UnsupportedMediaType  a body not sent as JSON (or CSV)      exit 2, HTTP 415
    │   └── TooLarge            a body or request over a server's limit exit 2, HTTP 413
    ├── Conflict            an existing folder, a finished run          exit 1, HTTP 409
    ├── Corrupt             an object whose bytes do not match its id   exit 3, HTTP 500
    ├── StoreUnavailable    the metadata or object store cannot be used exit 4, HTTP 503
    │   └── StoreFull           no space left where the store lives     exit 4, HTTP 507
    ├── PermissionDenied    a folder cairn may not write to; a role     exit 5, HTTP 403
    │   └── Unauthenticated     a request without a usable token        exit 5, HTTP 401
    └── MissingExtra        an optional dependency is not installed     exit 6, HTTP 501
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class CairnError(Exception):
    """Base of every error cairn reports to a user."""

    exit_code: int = 1
    http_status: int = 500
    code: str = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def details(self) -> dict[str, Any]:
        """Facts beyond the sentence that a client can act on (JSON keys of the HTTP face)."""
        return {}


class NotFound(CairnError):
    exit_code = 2
    http_status = 404
    code = "not_found"


class UnknownPredictions(NotFound):
    """Feedback for predictions this model never logged; ``ids`` are the unknown ones."""

    def __init__(self, ids: Sequence[str], total: int) -> None:
        shown = ", ".join(ids[:3]) + (", …" if len(ids) > 3 else "")
        what = ("no logged prediction has the id " + ids[0] if len(ids) == 1 and total == 1
                else f"{len(ids)} of {total} prediction ids are unknown ({shown})")
        super().__init__(what + "; nothing was recorded",
                         hint="send the prediction_id values that /predict answered")
        self.ids = list(ids)

    def details(self) -> dict[str, Any]:
        return {"unknown": self.ids[:100]}


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
        super().__init__(f"{message} at column {position + 1}")
        self.expression = expression
        self.position = position

    def details(self) -> dict[str, Any]:
        return {"position": self.position}


class SchemaMismatch(InvalidInput):
    """Well-formed input that does not fit the model's signature."""

    http_status = 422
    code = "schema_mismatch"


class UnsupportedMediaType(InvalidInput):
    http_status = 415
    code = "unsupported_media_type"


class TooLarge(InvalidInput):
    """A request body, a label or a number of rows over what a server takes."""

    http_status = 413
    code = "too_large"


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


class Unauthenticated(PermissionDenied):
    """No usable token came with a request to a server that requires one."""

    http_status = 401
    code = "unauthenticated"


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
