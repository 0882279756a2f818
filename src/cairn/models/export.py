"""``cairn model export NAME@V --dockerfile DIR``: a Docker build context that serves a model.

The context is self-contained, so the image needs nothing from the machine that built it::

    DIR/
      Dockerfile         python:<the model's Python>-slim, runs `cairn serve NAME@V`
      requirements.txt   the model's packages at the versions it was trained with
      cairn/             the running cairn's source, when it is installed from a checkout
      project/.cairn/    a small store holding just this model version and its files
      .dockerignore

The small store keeps the version's number and aliases, so ``NAME@V`` and ``NAME@production``
mean inside the container what they meant here; the container's predictions are logged there.
Nothing here needs a Docker engine: building and running the image is left to one.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from cairn.errors import Conflict, InvalidInput
from cairn.models.loading import materialize
from cairn.models.packaging import read_meta
from cairn.models.registry import ModelVersion, get_version, import_version, parse_ref
from cairn.project import Project
from cairn.store.core import MetaStore

PORT = 8000


@dataclass(frozen=True)
class ExportResult:
    dest: Path
    version: ModelVersion
    dockerfile: Path
    bundled_cairn: bool
    requirements: dict[str, str]

    @property
    def image(self) -> str:
        return f"{self.version.name.lower()}:{self.version.version}"


def export_dockerfile(project: Project, store: MetaStore, ref: str, dest: Path) -> ExportResult:
    """Write the build context for serving ``ref`` into ``dest`` (new or empty)."""
    name, selector = parse_ref(ref)
    mv = get_version(store, name, selector)
    folder = materialize(project, mv.oid)
    meta = read_meta(folder)
    _check_dest(dest)
    dest.mkdir(parents=True, exist_ok=True)
    _build_store(project, store, mv, dest / "project")
    requirements = {str(k): str(v) for k, v in (meta.get("requirements") or {}).items()}
    (dest / "requirements.txt").write_text(
        "".join(f"{pkg}=={version}\n" for pkg, version in sorted(requirements.items())))
    bundled = _bundle_cairn(dest / "cairn")
    python = ".".join(str(meta.get("python") or "3.11").split(".")[:2])
    dockerfile = dest / "Dockerfile"
    dockerfile.write_text(_dockerfile(mv, python, store.project_name, bundled))
    (dest / ".dockerignore").write_text("**/__pycache__\n**/*.pyc\nproject/.cairn/tmp\n")
    return ExportResult(dest, mv, dockerfile, bundled, requirements)


def _check_dest(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise Conflict(f"{dest} is a file; give a folder for the Docker build context")
    if dest.is_dir() and any(dest.iterdir()):
        raise Conflict(f"{dest} is not empty; give a new or empty folder")


def _build_store(project: Project, store: MetaStore, mv: ModelVersion, root: Path) -> None:
    """A fresh SQLite store under ``root/.cairn`` with the version, its run and its files."""
    from cairn.objects.local import LocalObjectStore
    from cairn.objects.tree import read_tree
    from cairn.store.artifacts import ArtifactRow, add_artifacts
    from cairn.store.core import project_row
    from cairn.store.db import Database
    from cairn.store.migrate import ensure_schema
    from cairn.store.record import ExportedFrom, RunRecord
    from cairn.store.runs import create_run, get_run

    store_dir = root / ".cairn"
    (store_dir / "objects").mkdir(parents=True)
    (store_dir / "runs").mkdir()
    db = Database(f"sqlite:///{store_dir / 'cairn.db'}")
    try:
        ensure_schema(db, lock_dir=store_dir)
        target = MetaStore(db, project_row(db, store.project_name), store.project_name)
        source_run = get_run(store, mv.run_id)
        with db.write() as w:
            run = create_run(
                w, target.project_id, name=source_run.name, status="finished",
                message=source_run.message, command=source_run.command,
                created_by=source_run.created_by, started_at=source_run.started_at,
                ended_at=source_run.ended_at, exit_code=source_run.exit_code,
                record=RunRecord(source="export", exported_from=ExportedFrom(
                    source_run.id, source_run.number, store.project_name)),
            )
        source_objects = LocalObjectStore(project.objects_dir)
        objects = LocalObjectStore(store_dir / "objects")
        tree = read_tree(source_objects, mv.oid)
        for entry in tree.entries:
            objects.put_file(source_objects.path_for(entry.oid), entry.oid)
        objects.put_bytes(source_objects.get_bytes(mv.oid))
        with db.write() as w:
            add_artifacts(w, [ArtifactRow(run.id, "model", mv.path, mv.oid, tree.size, True)])
        import_version(target, mv, run.id)
    finally:
        db.close()
    (store_dir / ".cairn-migrate.lock").unlink(missing_ok=True)


def _cairn_source() -> Path | None:
    """The checkout the running cairn is installed from, when it is one (editable installs)."""
    package = Path(__file__).resolve().parents[1]
    root = package.parent.parent if package.parent.name == "src" else package.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "cairn"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def _bundle_cairn(target: Path) -> bool:
    """Copy the running cairn's source into the context; False when it is not a checkout."""
    root = _cairn_source()
    if root is None:
        return False
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    target.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "setup.cfg", "setup.py"):
        if (root / name).is_file():
            shutil.copy2(root / name, target / name)
    src = root / "src" / "cairn"
    if not src.is_dir():
        raise InvalidInput(f"cannot find cairn's source under {root}")
    shutil.copytree(src, target / "src" / "cairn", ignore=ignore)
    return True


def _dockerfile(mv: ModelVersion, python: str, project_name: str, bundled: bool) -> str:
    if bundled:
        install = ("COPY cairn /opt/cairn-src\n"
                   'RUN pip install "/opt/cairn-src[serve]"\n')
    else:
        install = f'RUN pip install "cairn[serve]=={_version()}"\n'
    return (
        f"# Serves model {mv.name} version {mv.version} with `cairn serve`.\n"
        f"# Written by `cairn model export {mv.name}@{mv.version} --dockerfile DIR`. Build and "
        "run with:\n"
        f"#   docker build -t {mv.name.lower()}:{mv.version} DIR\n"
        f"#   docker run -p {PORT}:{PORT} {mv.name.lower()}:{mv.version}\n"
        f"FROM python:{python}-slim\n"
        "ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1\n"
        "WORKDIR /srv\n"
        "COPY requirements.txt /srv/requirements.txt\n"
        "RUN pip install -r /srv/requirements.txt\n"
        f"{install}"
        "RUN useradd --create-home --uid 10001 cairn\n"
        "COPY --chown=cairn:cairn project /srv/project\n"
        "USER cairn\n"
        f'ENV CAIRN_DIR=/srv/project/.cairn CAIRN_PROJECT="{project_name}"\n'
        f"EXPOSE {PORT}\n"
        "HEALTHCHECK --interval=30s --timeout=5s CMD python -c \"import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{PORT}/ping')\"\n"
        "# The container's own network interface: reachable only through the published port.\n"
        "# Listening beyond localhost, /feedback (the labels `cairn retrain` trains on) needs a\n"
        "# writer's token; make one in the running container:\n"
        "#   docker exec CONTAINER cairn server user add ops --role writer\n"
        "#   docker exec CONTAINER cairn server token create ops --expires 90d\n"
        f'CMD ["cairn", "serve", "{mv.name}@{mv.version}", "--host", "0.0.0.0", '
        f'"--port", "{PORT}"]\n'
    )


def _version() -> str:
    try:
        return metadata.version("cairn")
    except metadata.PackageNotFoundError:
        return "0.1.0"
