"""Accounts of a cairn server: users, API tokens, roles per project, and who wrote what.

Tokens are random (256 bits) and shown once, when they are made; the store keeps only their
SHA-256, which is enough for a secret of that entropy (a slow password hash buys nothing
here and would cost every request). Roles are per project and ordered: a ``writer`` may do
what a ``reader`` may, an ``admin`` what a ``writer`` may. A user marked admin is admin of
every project. This module only touches the database: it serves both the ``cairn server``
commands and the HTTP layer.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from dataclasses import dataclass

from cairn._util.ids import now_ms, uuid7_hex
from cairn.errors import InvalidInput, NotFound
from cairn.store.db import Database, Writer

ROLES = ("reader", "writer", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}
TOKEN_PREFIX = "cairn_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,199}$")
_TOUCH_EVERY_MS = 60_000  # last_used_at is a hint: at most one write per token per minute


@dataclass(frozen=True)
class User:
    id: str
    name: str
    is_admin: bool


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_role(role: str) -> str:
    if role not in ROLE_RANK:
        raise InvalidInput(f"unknown role {role!r}; a role is one of {', '.join(ROLES)}")
    return role


def allows(role: str | None, needed: str) -> bool:
    """Whether ``role`` is at least ``needed``."""
    return role is not None and ROLE_RANK.get(role, 0) >= ROLE_RANK[needed]


def _user(row: tuple[object, ...]) -> User:
    return User(id=str(row[0]), name=str(row[1]), is_admin=bool(row[2]))


def get_user(db: Database, name: str) -> User:
    row = db.query_one("SELECT id, name, is_admin FROM users WHERE name = ?", (name,))
    if row is None:
        raise NotFound(f"no user named {name!r}", hint=f"add one: cairn server user add {name}")
    return _user(row)


def list_users(db: Database) -> list[User]:
    return [_user(r) for r in db.query("SELECT id, name, is_admin FROM users ORDER BY name")]


def add_user(db: Database, name: str, *, is_admin: bool = False) -> tuple[User, bool]:
    """The user ``name``, created when missing (and made admin when asked); True if created."""
    if not _NAME.match(name):
        raise InvalidInput(
            f"{name!r} is not a usable user name: use letters, digits and . _ @ + - "
            "(up to 200 characters, starting with a letter or digit)"
        )
    existing = db.query_one("SELECT id, name, is_admin FROM users WHERE name = ?", (name,))
    if existing is not None:
        user = _user(existing)
        if is_admin and not user.is_admin:
            with db.write() as w:
                w.execute("UPDATE users SET is_admin = ? WHERE id = ?", (True, user.id))
            user = User(user.id, user.name, True)
        return user, False
    user = User(uuid7_hex(), name, is_admin)
    with db.write() as w:
        w.execute(
            "INSERT INTO users (id, name, is_admin, created_at) VALUES (?, ?, ?, ?)",
            (user.id, name, is_admin, now_ms()),
        )
    return user, True


def set_role(db: Database, project_id: str, user: User, role: str) -> None:
    check_role(role)
    with db.write() as w:
        w.execute(
            "INSERT INTO project_roles (project_id, user_id, role) VALUES (?, ?, ?) "
            "ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
            (project_id, user.id, role),
        )


def role_of(db: Database, user: User, project_id: str) -> str | None:
    if user.is_admin:
        return "admin"
    row = db.query_one(
        "SELECT role FROM project_roles WHERE project_id = ? AND user_id = ?",
        (project_id, user.id),
    )
    return str(row[0]) if row else None


def create_token(db: Database, user_name: str, *, label: str | None = None) -> str:
    """A new token for ``user_name``; the only time its text exists outside the caller."""
    user = get_user(db, user_name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.write() as w:
        w.execute(
            "INSERT INTO tokens (id, user_id, name, token_hash, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (uuid7_hex(), user.id, label, hash_token(token), now_ms()),
        )
    return token


class TokenChecker:
    """Looks tokens and roles up, remembering answers for a few seconds.

    Every request is authenticated; two queries each would cost more than a small upload
    itself. A revoked token or a changed role therefore takes effect within ``ttl_ms``.
    ``last_used_at`` is written at most once a minute per token.
    """

    def __init__(self, db: Database, *, ttl_ms: int = 5_000) -> None:
        self.db = db
        self.ttl_ms = ttl_ms
        self._users: dict[str, tuple[int, User | None]] = {}
        self._roles: dict[tuple[str, str], tuple[int, str | None]] = {}
        self._touched: dict[str, int] = {}
        self._lock = threading.Lock()

    def user_for(self, token: str) -> User | None:
        digest = hash_token(token)
        now = now_ms()
        with self._lock:
            cached = self._users.get(digest)
        if cached is not None and now - cached[0] < self.ttl_ms:
            return cached[1]
        row = self.db.query_one(
            "SELECT u.id, u.name, u.is_admin FROM tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.token_hash = ? AND t.revoked_at IS NULL",
            (digest,),
        )
        user = _user(row) if row is not None else None
        with self._lock:
            if len(self._users) > 10_000:
                self._users.clear()
            self._users[digest] = (now, user)
            due = user is not None and now - self._touched.get(digest, 0) >= _TOUCH_EVERY_MS
            if due:
                self._touched[digest] = now
        if due:
            with self.db.write() as w:
                w.execute("UPDATE tokens SET last_used_at = ? WHERE token_hash = ?", (now, digest))
        return user

    def role(self, user: User, project_id: str) -> str | None:
        key = (user.id, project_id)
        now = now_ms()
        with self._lock:
            cached = self._roles.get(key)
        if cached is not None and now - cached[0] < self.ttl_ms:
            return cached[1]
        found = role_of(self.db, user, project_id)
        with self._lock:
            self._roles[key] = (now, found)
        return found


def audit(w: Writer, user_name: str, action: str, target: str | None) -> None:
    """Record who did what, inside the caller's write transaction."""
    w.execute(
        "INSERT INTO audit_log (at, user_name, action, target) VALUES (?, ?, ?, ?)",
        (now_ms(), user_name, action, target),
    )


def record_audit(db: Database, user_name: str, action: str, target: str | None) -> None:
    with db.write() as w:
        audit(w, user_name, action, target)


def audit_entries(db: Database, *, limit: int = 100) -> list[tuple[int, str, str, str | None]]:
    """The newest audit entries: (at, user, action, target)."""
    return [
        (int(at), str(user), str(action), target) for at, user, action, target in db.query(
            "SELECT at, user_name, action, target FROM audit_log ORDER BY id DESC LIMIT ?",
            (limit,),
        )
    ]
