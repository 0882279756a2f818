"""Environment variables that change results, with secrets redacted.

Only an allow-list is recorded: the whole environment of a shell holds tokens, paths and
noise, none of which belongs in a shared run record. Whatever is recorded passes through the
redaction here, the one place that decides what looks secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase

from cairn.settings import Env, Internal

REDACTED = "***"

#: Variables that change what a program computes or which code it imports.
RESULT_VARS: frozenset[str] = frozenset(
    {
        "PYTHONHASHSEED",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "CUBLAS_WORKSPACE_CONFIG",
        "CUDA_VISIBLE_DEVICES",
        "CUDA_LAUNCH_BLOCKING",
        "TF_DETERMINISTIC_OPS",
        "TF_CUDNN_DETERMINISTIC",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "CONDA_DEFAULT_ENV",
        "LANG",
        "LC_ALL",
        "TZ",
    }
)

#: Name prefixes recorded as a whole.
RESULT_PREFIXES: tuple[str, ...] = ("CAIRN_",)

#: cairn's own per-run plumbing: meaningless in another run, so never recorded.
INTERNAL_VARS: frozenset[str] = frozenset({Internal.RUN_ID, Internal.BOOT_OUT})

#: Variables that give ``cairn repro``/``fork`` a secret redacted from a command line
#: (``capture.secrets``): secrets themselves, so not even their names are recorded.
SECRET_ARG_PREFIX = Env.SECRET_PREFIX

_SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)

# scheme://userinfo@ — the userinfo ends at the last "@" before the path, query or fragment.
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/\s?#]*)@")


def looks_secret(name: str) -> bool:
    """Whether a variable's name suggests its value is a credential."""
    return _SECRET_NAME.search(name) is not None


def redact_url(s: str, *, strip: bool = False) -> str:
    """Hide credentials in every URL inside ``s``.

    ``scheme://user:pass@host`` becomes ``scheme://user:***@host``; an http(s) URL with a
    user name alone (often a token, as in ``https://TOKEN@github.com``) becomes
    ``https://***@host``. With ``strip=True`` (git remotes, which must stay usable) the
    credentials are removed instead: ``https://user:token@host`` becomes ``https://host``,
    while a plain ``ssh://git@host`` keeps its user, which is not a secret.
    """

    def fix(m: re.Match[str]) -> str:
        scheme, userinfo = m.group("scheme"), m.group("userinfo")
        user, has_pw, _ = userinfo.partition(":")
        web = scheme.lower() in ("http://", "https://")
        if strip:
            return scheme if (has_pw or web) else m.group(0)
        if has_pw:
            return f"{scheme}{user}:{REDACTED}@"
        if web and user:
            return f"{scheme}{REDACTED}@"
        return m.group(0)

    return _URL_USERINFO.sub(fix, s)


def _wanted(name: str, extra_patterns: Sequence[str]) -> bool:
    if name in INTERNAL_VARS or name.startswith(SECRET_ARG_PREFIX):
        return False
    if name in RESULT_VARS or name.startswith(RESULT_PREFIXES):
        return True
    return any(fnmatchcase(name, p) for p in extra_patterns)


def capture_env_vars(
    environ: Mapping[str, str], extra_patterns: Sequence[str] = ()
) -> dict[str, str]:
    """The allow-listed variables of ``environ``, sorted, with secrets replaced by ``***``.

    ``extra_patterns`` (from ``[capture] env = [...]`` in ``.cairn/config.toml``) are exact
    names or ``*`` patterns. A variable whose name looks secret is kept with the value
    ``***`` so that a reader knows it was set; credentials inside URLs in any value are
    redacted.
    """
    out: dict[str, str] = {}
    for name in sorted(environ):
        if not _wanted(name, extra_patterns):
            continue
        out[name] = REDACTED if looks_secret(name) else redact_url(environ[name])
    return out
