"""Secrets on a command line: redacted before a run is recorded, supplied again to re-run it.

``--api-key X``, ``--password=X`` and every URL with a password (``postgresql://u:p@h/db``)
would otherwise travel with the run everywhere it is shown or sent: the command, the params,
``cairn show``, pushed bundles, the web UI, reports. What looks secret is decided on each
word of a flag's name (``flag_looks_secret``: ``--api-key``, ``--hf-token``, ``--password``, but
not ``--max-tokens``, ``--author`` or ``--sort-key``, which a training script passes every day
and which repro would otherwise have to ask for), ``envvars.redact_url`` on every argument, and
the same marker as for environment variables, ``***``.

Each redaction is recorded (which argument, at which position) so that ``cairn repro`` and
``cairn fork`` can put the real value back: from the environment variable
``CAIRN_SECRET_<FLAG>`` (``--api-key`` -> ``CAIRN_SECRET_API_KEY``; a positional argument at
position N -> ``CAIRN_SECRET_ARG<N>``), holding the whole value of the argument, or typed at
the terminal.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cairn.capture.envvars import REDACTED, SECRET_ARG_PREFIX, redact_url
from cairn.errors import InvalidInput
from cairn.store.record_parts import Redaction

ENV_PREFIX = SECRET_ARG_PREFIX
_NOT_NAME = re.compile(r"[^A-Za-z0-9]+")
_WORD = re.compile(r"[^a-z0-9]+")
# A flag is secret when one of its words is one of these, or it ends in one of the pairs.
_SECRET_WORDS = frozenset({
    "password", "passwd", "passphrase", "pass", "pwd", "secret", "token", "apikey", "credential",
    "credentials", "auth", "bearer", "pat", "privatekey", "accesskey",
})
_SECRET_PAIRS = frozenset({
    ("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"),
    ("auth", "key"), ("encryption", "key"), ("signing", "key"), ("client", "secret"),
})


def flag_looks_secret(name: str) -> bool:
    """Whether a flag or param name (``api-key``, ``hf_token``) names a credential.

    Decided on whole words, not substrings as for environment variables: ``max_tokens``,
    ``author`` and ``sort_key`` are hyperparameters, and a bare ``key`` is a secret only alone.
    """
    words = [w for w in _WORD.split(name.lower()) if w]
    if words == ["key"] or any(w in _SECRET_WORDS for w in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


def secret_env_name(flag: str) -> str:
    """``--api-key`` -> ``CAIRN_SECRET_API_KEY``: the variable that re-supplies its value."""
    return ENV_PREFIX + _NOT_NAME.sub("_", flag.lstrip("-")).strip("_").upper()


def _flag_name(token: str) -> str | None:
    """The name of a ``--name`` or ``--name=value`` word; None for anything else."""
    if not token.startswith("--") or len(token) < 3:
        return None
    return token[2:].partition("=")[0] or None


def _takes_value(token: str) -> bool:
    return token == "-" or not token.startswith("-")


def redact_argv(argv: Sequence[str]) -> tuple[list[str], list[Redaction]]:
    """``argv`` with secret values replaced by ``***``, and what was replaced.

    The value of a flag whose name looks secret (``--token X``, ``--token=X``) is replaced
    whole; elsewhere only the password inside a URL is. Words after ``--`` are treated alike:
    a secret there is as secret as anywhere.
    """
    out = list(argv)
    redactions: list[Redaction] = []
    used: dict[str, int] = {}

    def note(arg: str, index: int, prefix: str, base: str) -> None:
        used[base] = used.get(base, 0) + 1
        env = base if used[base] == 1 else f"{base}_{used[base]}"
        redactions.append(Redaction(arg, index, prefix, env))

    i = 1  # the program itself is never a secret
    while i < len(out):
        token = out[i]
        name = _flag_name(token)
        if name is not None and flag_looks_secret(name):
            if "=" in token:
                prefix = token.partition("=")[0] + "="
                out[i] = prefix + REDACTED
                note(f"--{name}", i, prefix, secret_env_name(name))
            elif i + 1 < len(out) and _takes_value(out[i + 1]):
                out[i + 1] = REDACTED
                note(f"--{name}", i + 1, "", secret_env_name(name))
                i += 1
            i += 1
            continue
        hidden = redact_url(token)
        if hidden != token:
            out[i] = hidden
            prefix = token.partition("=")[0] + "=" if name is not None and "=" in token else ""
            owner = _flag_name(out[i - 1]) if not prefix and i > 1 else None
            if prefix:
                note(f"--{name}", i, prefix, secret_env_name(name or ""))
            elif owner is not None and "=" not in out[i - 1]:
                note(f"--{owner}", i, "", secret_env_name(owner))
            else:
                note(f"argument {i}", i, "", f"{ENV_PREFIX}ARG{i}")
        i += 1
    return out, redactions


def redact_value(value: Any) -> Any:
    """A param value with URL passwords hidden, inside lists and maps too."""
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    return value


def redact_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params with the values of secret-looking names replaced by ``***``, URLs redacted.

    Params parsed by the program (argparse, click) are named after their flags (``api_key``),
    so the rule that redacts ``--api-key X`` on the command line redacts them too, wherever
    their value came from.
    """
    return {
        key: REDACTED if flag_looks_secret(key) and value not in (None, "", False)
        else redact_value(value)
        for key, value in params.items()
    }


Ask = Callable[[Redaction], str | None]


def ask_terminal(redaction: Redaction) -> str | None:
    """Ask for a redacted value at the terminal, not echoed; None when there is no terminal."""
    if not sys.stdin.isatty():
        return None
    import getpass

    return getpass.getpass(f"cairn: the value of {redaction.arg} (not shown; "
                           f"or set {redaction.env}): ")


def restore_argv(argv: Sequence[str], redactions: Sequence[Redaction],
                 environ: Mapping[str, str], ask: Ask | None = ask_terminal) -> list[str]:
    """The command with every redacted value put back, from ``environ`` or ``ask``.

    Raises ``InvalidInput`` naming the variable when a value is given by neither.
    """
    out = list(argv)
    for redaction in redactions:
        if not 0 < redaction.index < len(out):
            raise InvalidInput(f"the recorded command has no argument {redaction.index} to put "
                               f"the value of {redaction.arg} back into")
        value = environ.get(redaction.env)
        if value is None and ask is not None:
            value = ask(redaction)
        if value is None:
            raise InvalidInput(
                f"the run's {redaction.arg} was redacted when it was recorded; set "
                f"{redaction.env} to its value to run it again",
            )
        out[redaction.index] = redaction.prefix + value
    return out
