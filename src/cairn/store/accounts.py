"""Accounts of a cairn server: users, API tokens, browser sessions, roles per project, audit.

Tokens are random (256 bits) and shown once, when they are made; the store keeps only their
SHA-256, which is enough for a secret of that entropy (a slow password hash buys nothing
here and would cost every request). A token may expire (``expires_at``) and may be revoked;
either way it stops working on its next request. A browser that signs in gets a session of
its own, stored the same way, which ends when the user signs out, when its token stops
working, or after at most 30 days. Roles are per project and ordered: a ``writer`` may do
what a ``reader`` may, an ``admin`` what a ``writer`` may. A user marked admin is admin of
every project. Removing a user removes their tokens, sessions and roles; the runs they made
and the audit log keep their name.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from cairn._util.ids import now_ms, uuid7_hex
from cairn.errors import InvalidInput, NotFound
from cairn.store.db import Database, Writer

ROLES = ("reader", "writer", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}
TOKEN_PREFIX = "cairn_"
SESSION_MAX_AGE_MS = 30 * 86_400_000
MIN_TOKEN_REF = 6  # the shortest token id prefix `cairn server token revoke` accepts
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,199}$")
_VALID_TOKEN = "t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?)"


@dataclass(frozen=True)
class User:
    id: str
    name: str
    is_admin: bool


@dataclass(frozen=True)
class TokenInfo:
    """What is known of a token without its text."""

    id: str
    user: str
    label: str | None
    created_at: int
    last_used_at: int | None
    expires_at: int | None
    revoked_at: int | None

    def status(self, now: int) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_role(role: str) -> str:
    if role not in ROLE_RANK:
        raise InvalidInput(f"unknown role {role!r}; a role is one of {', '.join(ROLES)}")
    return role


def allows(role: str | None, needed: str) -> bool:
    """Whether ``role`` is at least ``needed``."""
    return role is not None and ROLE_RANK.get(role, 0) >= ROLE_RANK[needed]


# -- users and roles -------------------------------------------------------------------------
def _user(row: tuple[object, ...]) -> User:
    return User(id=str(row[0]), name=str(row[1]), is_admin=bool(row[2]))


def get_user(db: Database, name: str) -> User:
    row = db.query_one("SELECT id, name, is_admin FROM users WHERE name = ?", (name,))
    if row is None:
        raise NotFound(f"no user named {name!r}", hint=f"add one: cairn server user add {name}")
    return _user(row)


def list_users(db: Database) -> list[User]:
    return [_user(r) for r in db.query("SELECT id, name, is_admin FROM users ORDER BY name")]


def add_user(db: Database, name: str, *, is_admin: bool | None = None) -> tuple[User, bool]:
    """The user ``name``, created when missing; ``is_admin`` (when given) is set either way.

    Returns the user and whether it was created.
    """
    if not _NAME.match(name):
        raise InvalidInput(
            f"{name!r} is not a usable user name: use letters, digits and . _ @ + - "
            "(up to 200 characters, starting with a letter or digit)"
        )
    with db.write() as w:
        existing = w.query_one("SELECT id, name, is_admin FROM users WHERE name = ?", (name,))
        if existing is not None:
            user = _user(existing)
            if is_admin is not None and is_admin != user.is_admin:
                w.execute("UPDATE users SET is_admin = ? WHERE id = ?", (is_admin, user.id))
                user = User(user.id, user.name, is_admin)
            return user, False
        user = User(uuid7_hex(), name, bool(is_admin))
        w.execute(
            "INSERT INTO users (id, name, is_admin, created_at) VALUES (?, ?, ?, ?)",
            (user.id, name, user.is_admin, now_ms()),
        )
    return user, True


def remove_user(db: Database, name: str) -> int:
    """Delete the account ``name`` with its tokens, sessions and roles; tokens it held."""
    user = get_user(db, name)
    with db.write() as w:
        held = w.query_one("SELECT COUNT(*) FROM tokens WHERE user_id = ?", (user.id,))
        w.execute("DELETE FROM ui_sessions WHERE token_id IN "
                  "(SELECT id FROM tokens WHERE user_id = ?)", (user.id,))
        w.execute("DELETE FROM tokens WHERE user_id = ?", (user.id,))
        w.execute("DELETE FROM project_roles WHERE user_id = ?", (user.id,))
        w.execute("DELETE FROM users WHERE id = ?", (user.id,))
    return int(held[0]) if held else 0


def set_role(db: Database, project_id: str, user: User, role: str) -> None:
    check_role(role)
    with db.write() as w:
        w.execute(
            "INSERT INTO project_roles (project_id, user_id, role) VALUES (?, ?, ?) "
            "ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
            (project_id, user.id, role),
        )


def remove_role(db: Database, project_id: str, user: User) -> str | None:
    """Take ``user``'s role in the project away; the role it was, or ``None``."""
    with db.write() as w:
        row = w.query_one("DELETE FROM project_roles WHERE project_id = ? AND user_id = ? "
                          "RETURNING role", (project_id, user.id))
    return str(row[0]) if row else None


def role_of(db: Database, user: User, project_id: str) -> str | None:
    if user.is_admin:
        return "admin"
    row = db.query_one(
        "SELECT role FROM project_roles WHERE project_id = ? AND user_id = ?",
        (project_id, user.id),
    )
    return str(row[0]) if row else None


# -- tokens ----------------------------------------------------------------------------------
def create_token(db: Database, user_name: str, *, label: str | None = None,
                 expires_at: int | None = None) -> str:
    """A new token for ``user_name``; the only time its text exists outside the caller.

    Its id is random rather than time-ordered, so that the first 8 digits, which
    ``token ls`` shows, tell tokens apart.
    """
    user = get_user(db, user_name)
    if expires_at is not None and expires_at <= now_ms():
        raise InvalidInput("a token's expiry must lie in the future")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.write() as w:
        w.execute(
            "INSERT INTO tokens (id, user_id, name, token_hash, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (secrets.token_hex(16), user.id, label, hash_secret(token), now_ms(), expires_at),
        )
    return token


_TOKEN_COLUMNS = ("SELECT t.id, u.name, t.name, t.created_at, t.last_used_at, t.expires_at, "
                  "t.revoked_at FROM tokens t JOIN users u ON u.id = t.user_id")


def _token(row: tuple[object, ...]) -> TokenInfo:
    def ms(value: object) -> int | None:
        return None if value is None else int(str(value))

    created = ms(row[3])
    label = None if row[2] is None else str(row[2])
    return TokenInfo(id=str(row[0]), user=str(row[1]), label=label, created_at=created or 0,
                     last_used_at=ms(row[4]), expires_at=ms(row[5]),
                     revoked_at=ms(row[6]))


def list_tokens(db: Database, user_name: str | None = None) -> list[TokenInfo]:
    """Every token (of one user, when named), oldest first."""
    if user_name is not None:
        get_user(db, user_name)
        rows = db.query(_TOKEN_COLUMNS + " WHERE u.name = ? ORDER BY t.created_at, t.id",
                        (user_name,))
    else:
        rows = db.query(_TOKEN_COLUMNS + " ORDER BY t.created_at, t.id")
    return [_token(r) for r in rows]


def find_token(db: Database, ref: str) -> TokenInfo:
    """The token ``ref`` names: its text, or its id or an unambiguous prefix of the id."""
    ref = ref.strip()
    if ref.startswith(TOKEN_PREFIX):
        rows = db.query(_TOKEN_COLUMNS + " WHERE t.token_hash = ?", (hash_secret(ref),))
        if not rows:
            raise NotFound("no token of this server has that text")
        return _token(rows[0])
    if len(ref) < MIN_TOKEN_REF or not re.fullmatch(r"[0-9a-f]+", ref):
        raise InvalidInput(f"{ref!r} is not a token id: give at least {MIN_TOKEN_REF} of the "
                           "hex digits `cairn server token ls` shows, or the token itself")
    rows = db.query(_TOKEN_COLUMNS + " WHERE t.id LIKE ? ORDER BY t.created_at LIMIT 2",
                    (ref + "%",))
    if not rows:
        raise NotFound(f"no token has an id starting {ref}", hint="cairn server token ls")
    if len(rows) > 1:
        raise InvalidInput(f"more than one token has an id starting {ref}; give more digits")
    return _token(rows[0])


def revoke_token(db: Database, token_id: str) -> bool:
    """Revoke one token and end its sessions; False when it was already revoked."""
    with db.write() as w:
        done = w.query_one("UPDATE tokens SET revoked_at = ? "
                                "WHERE id = ? AND revoked_at IS NULL RETURNING id",
                                (now_ms(), token_id))
        w.execute("DELETE FROM ui_sessions WHERE token_id = ?", (token_id,))
    return done is not None


def token_user(db: Database, digest: str, now: int) -> User | None:
    """The user of the working token whose hash is ``digest``."""
    row = db.query_one(
        "SELECT u.id, u.name, u.is_admin FROM tokens t JOIN users u ON u.id = t.user_id "
        f"WHERE t.token_hash = ? AND {_VALID_TOKEN}",
        (digest, now),
    )
    return _user(row) if row is not None else None


def touch_token(db: Database, digest: str, now: int) -> None:
    with db.write() as w:
        w.execute("UPDATE tokens SET last_used_at = ? WHERE token_hash = ?", (now, digest))


# -- browser sessions ------------------------------------------------------------------------
def create_session(db: Database, token: str) -> tuple[str, int] | None:
    """A session signed in with ``token``: (its secret, when it ends); None for a bad token.

    It ends when its token expires if that comes first.
    """
    now = now_ms()
    with db.write() as w:
        row = w.query_one(
            f"SELECT t.id, t.expires_at FROM tokens t WHERE t.token_hash = ? AND {_VALID_TOKEN}",
            (hash_secret(token), now),
        )
        if row is None:
            return None
        ends = now + SESSION_MAX_AGE_MS
        if row[1] is not None:
            ends = min(ends, int(row[1]))
        secret = secrets.token_urlsafe(32)
        w.execute("INSERT INTO ui_sessions (id, token_id, created_at, expires_at) "
                  "VALUES (?, ?, ?, ?)", (hash_secret(secret), row[0], now, ends))
        w.execute("DELETE FROM ui_sessions WHERE expires_at <= ?", (now,))
    return secret, ends


def session_user(db: Database, digest: str, now: int) -> User | None:
    """The user of the live session whose secret hashes to ``digest``."""
    row = db.query_one(
        "SELECT u.id, u.name, u.is_admin FROM ui_sessions s "
        "JOIN tokens t ON t.id = s.token_id JOIN users u ON u.id = t.user_id "
        f"WHERE s.id = ? AND s.expires_at > ? AND {_VALID_TOKEN}",
        (digest, now, now),
    )
    return _user(row) if row is not None else None


def end_session(db: Database, secret: str) -> None:
    with db.write() as w:
        w.execute("DELETE FROM ui_sessions WHERE id = ?", (hash_secret(secret),))


# -- who wrote what --------------------------------------------------------------------------
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
