"""Who is behind a request's API token or browser session, asked afresh on every request.

Nothing is remembered between requests, so a revoked or expired token, a removed user or a
changed role takes effect on the very next request (also in other worker processes and on
other servers of the same database). Each answer is one indexed query, about 4 µs on SQLite,
so remembering would save little. ``last_used_at`` is written at most once a minute per token.
"""

from __future__ import annotations

import threading

from cairn._util.ids import now_ms
from cairn.store.accounts import User, hash_secret, role_of, session_user, token_user, touch_token
from cairn.store.db import Database

_TOUCH_EVERY_MS = 60_000  # last_used_at is a hint, not a log


class TokenChecker:
    """Looks up the user of a token or a session, and roles, for one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._touched: dict[str, int] = {}
        self._lock = threading.Lock()

    def user_for(self, token: str) -> User | None:
        digest = hash_secret(token)
        now = now_ms()
        user = token_user(self.db, digest, now)
        if user is None:
            return None
        with self._lock:
            due = now - self._touched.get(digest, 0) >= _TOUCH_EVERY_MS
            if due:
                if len(self._touched) > 10_000:
                    self._touched.clear()
                self._touched[digest] = now
        if due:
            touch_token(self.db, digest, now)
        return user

    def user_for_session(self, secret: str) -> User | None:
        return session_user(self.db, hash_secret(secret), now_ms())

    def role(self, user: User, project_id: str) -> str | None:
        return role_of(self.db, user, project_id)
