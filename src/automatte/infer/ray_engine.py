"""Scale out on Ray: a pipeline (the shipped default unless ``model``) over a folder or a list of URIs with Ray Data.

``automatte predict SOURCE... -o DEST --engine ray [--address ADDR] [--workers N]`` (``pip install
'automatte[ray]'``) calls :func:`run_ray`:

1. **Plan** (on the driver): every image under each SOURCE (a local folder or file, an object-store URI such as
   ``s3://bucket/photos/`` or ``gs://...``, or a ``.txt`` file listing one path or URI per line; any file system
   fsspec knows) gets its outputs ``DEST/<relative path>/<stem>_<kind>.png`` (``relative path``: below the folder
   it was found in; none for listed files). A photo whose outputs all exist already is skipped, so a run killed
   halfway and started again does only what is left (``overwrite=True`` redoes everything).
2. **Run**: the rest become a Ray Dataset whose batches go through :class:`MatteWorker` actors
   (``map_batches``: each actor loads the pipeline once and mattes ``batch_size`` photos per call; Ray Data's
   streaming executor bounds the photos in flight, so a million-photo catalogue never sits in memory). Each actor
   reads its photos' bytes itself and writes each output atomically (a local file through
   :func:`automatte.io.atomic_write`; an object store's single PUT; elsewhere a hidden temporary file then a
   rename): a killed worker leaves no partial output.
3. **Report**: ``DEST/failures.json`` (written atomically, also when nothing failed) lists every photo that failed
   with its error, with the counts; the CLI's exit status is 1 when a photo failed.

Outputs are the bytes ``automatte predict`` writes for the same photo and options (:meth:`Matte.png`). On a Ray
cluster, ``--address ray://HEAD:10001`` (or ``auto`` on a cluster node); every node needs ``automatte[ray]`` and
access to SOURCE and DEST (an object store, or a shared file system): ``docs/ray.md``.

Example:
    >>> jobs, skipped = plan_jobs(["examples"], "/tmp/automatte-doctest-out", ["alpha"])  # doctest: +SKIP
    >>> [j.source for j in jobs][:1], skipped  # doctest: +SKIP
    (['examples/astronaut.jpg'], 0)
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Callable, Sequence

__all__ = ["Job", "list_sources", "plan_jobs", "MatteWorker", "write_bytes", "run_ray", "MANIFEST"]

MANIFEST = "failures.json"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
OBJECT_STORES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory")  # one PUT is atomic


@dataclass(frozen=True)
class Job:
    """One photo: its source path or URI and ``{kind: output path or URI}``."""

    source: str
    targets: dict


def _fs(uri: str):
    """``(fsspec file system, path inside it)`` of a local path or a URI."""
    import fsspec.core

    return fsspec.core.url_to_fs(uri)


def _join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts if p)])


def _is_image(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in IMAGE_SUFFIXES and not PurePosixPath(path).name.startswith(".")


def list_sources(sources: Sequence[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """``[(uri, relative folder)]`` of every image of ``sources`` (folders recursively, files, ``.txt`` lists of
    paths or URIs) and the sources that gave nothing (one message each).

    Example:
        >>> found, missing = list_sources(["no/such/folder"])
        >>> found, missing
        ([], ['no/such/folder: no such file or folder'])
    """
    found: list[tuple[str, str]] = []
    failures: list[str] = []
    for source in sources:
        fs, path = _fs(source)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        prefix = "" if protocol in ("file", "local") else f"{protocol}://"
        if fs.isdir(path):
            files = sorted(p for p in fs.find(path) if _is_image(p))
            if not files:
                failures.append(f"{source}: no image files in this folder")
            for f in files:
                rel = str(PurePosixPath(f).parent.relative_to(PurePosixPath(path))) if f.startswith(path) else ""
                found.append((prefix + f, "" if rel == "." else rel))
        elif fs.isfile(path) and PurePosixPath(path).suffix.lower() in (".txt", ".lst"):
            lines = fs.cat_file(path).decode("utf-8").splitlines()
            found.extend((line.strip(), "") for line in lines if line.strip() and not line.lstrip().startswith("#"))
        elif fs.isfile(path):
            found.append((source, ""))
        else:
            failures.append(f"{source}: no such file or folder")
    unique = list(dict.fromkeys(found))
    return unique, failures


def plan_jobs(
    sources: Sequence[str], dest: str, kinds: Sequence[str], *, overwrite: bool = False
) -> tuple[list[Job], int, list[str]]:
    """The photos left to do: ``(jobs, skipped, failures)``; a photo is skipped when all its outputs exist in
    ``dest`` (one listing of ``dest``), unless ``overwrite``; two photos with the same output are a failure.

    Example:
        >>> jobs, skipped, failures = plan_jobs(["no/such/folder"], "/tmp/out", ["alpha"])
        >>> jobs, skipped, failures
        ([], 0, ['no/such/folder: no such file or folder'])
    """
    found, failures = list_sources(sources)
    fs, root = _fs(dest)
    existing = set(fs.find(root)) if fs.isdir(root) and not overwrite else set()  # paths as fs gives them
    jobs, skipped, claimed = [], 0, {}
    for uri, rel in found:
        stem = PurePosixPath(uri.split("?")[0]).stem
        targets = {k: _join(dest, rel, f"{stem}_{k}.png") for k in kinds}
        inner = {k: _join(root, rel, f"{stem}_{k}.png") for k in kinds}
        clash = [t for t in targets.values() if t in claimed]
        if clash:
            failures.append(f"{uri}: output {clash[0]} is also the output of {claimed[clash[0]]}")
            continue
        claimed.update({t: uri for t in targets.values()})
        if existing and all(p in existing for p in inner.values()):
            skipped += 1
            continue
        jobs.append(Job(uri, targets))
    return jobs, skipped, failures


def write_bytes(uri: str, data: bytes) -> None:
    """Write ``data`` to a path or URI atomically (see the module docstring); parent folders are created.

    Example:
        >>> import tempfile
        >>> target = tempfile.mkdtemp() + "/a/b.bin"
        >>> write_bytes(target, b"done"); open(target, "rb").read()
        b'done'
    """
    fs, path = _fs(uri)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in ("file", "local"):
        from automatte.io import atomic_write

        with atomic_write(path) as tmp:
            tmp.write_bytes(data)
    elif protocol in OBJECT_STORES:
        fs.pipe_file(path, data)
    else:
        parent, name = path.rsplit("/", 1) if "/" in path else ("", path)
        tmp = _join(parent, f".{name}.{os.getpid()}.tmp") if parent else f".{name}.{os.getpid()}.tmp"
        fs.makedirs(parent, exist_ok=True) if parent else None
        fs.pipe_file(tmp, data)
        fs.mv(tmp, path)


class MatteWorker:
    """A Ray Data actor (also callable without Ray): loads the pipeline once, then mattes each batch.

    A batch is ``{"source": [...], "targets": [JSON of {kind: uri}]}``; the answer is ``{"source", "error"
    ("" when written), "seconds"}`` per photo: a failing photo never stops the batch.

    Example:
        >>> worker = MatteWorker(model="cf", kinds=["alpha"])  # doctest: +SKIP
        >>> worker({"source": ["a.jpg"], "targets": ['{"alpha": "out/a_alpha.png"}']})["error"]  # doctest: +SKIP
    """

    def __init__(self, model: str | None = None, background: str = "white", options: dict | None = None):
        from automatte.api import load_model

        self.pipeline = load_model(model, **(options or {}))
        self.background = background

    def matte_one(self, source: str, targets: dict) -> str:
        """Matte one photo and write its outputs; the error message ('' on success)."""
        try:
            fs, path = _fs(source)
            data = fs.cat_file(path)
            result = self.pipeline(data, name=source)
            for kind, target in targets.items():
                write_bytes(target, result.png(kind, self.background))
        except Exception as exc:  # reported per photo in the manifest
            message = f"{type(exc).__name__}: {exc}"
            return message if source in message else f"{source}: {message}"
        return ""

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        out: dict[str, list] = {"source": [], "error": [], "seconds": []}
        for source, targets in zip(batch["source"], batch["targets"]):
            t = time.perf_counter()
            out["error"].append(self.matte_one(str(source), json.loads(str(targets))))
            out["source"].append(str(source))
            out["seconds"].append(time.perf_counter() - t)
        return out


def run_ray(
    sources: Sequence[str],
    dest: str,
    *,
    model: str | None = None,
    kinds: Sequence[str] = ("alpha", "rgba"),
    background: str = "white",
    options: dict | None = None,
    address: str | None = None,
    workers: int | None = None,
    batch_size: int = 4,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Matte every photo of ``sources`` into ``dest`` on Ray (see the module docstring).

    Args:
        sources: folders, files, ``.txt`` lists, as paths or URIs.
        dest: output folder (path or URI).
        model, options, background, kinds: as ``automatte predict`` (``--model``, ``--save``...).
        address: a running Ray cluster (``ray://HEAD:10001``, ``auto``); None: a local Ray of ``workers`` CPUs.
        workers: matting actors (one CPU each); default: the cluster's CPUs.
        batch_size: photos per actor call.
        overwrite: redo photos whose outputs exist.
        progress: called with the number of photos finished since the last call.

    Returns:
        ``{"sources", "written", "skipped", "failed", "failures": [{"source", "error"}], "manifest", "seconds"}``;
        the same (less ``manifest``) is written to ``DEST/failures.json``.
    """
    import ray

    t0 = time.perf_counter()
    jobs, skipped, failures = plan_jobs(sources, dest, kinds, overwrite=overwrite)
    failed = [{"source": f.split(": ", 1)[0], "error": f} for f in failures]
    written = 0
    if jobs:
        if not ray.is_initialized():
            init: dict[str, Any] = {"address": address, "include_dashboard": False, "log_to_driver": False}
            if address is None:
                init["num_cpus"] = workers or os.cpu_count() or 1
            ray.init(**init)
        n = int(workers or max(1, int(ray.cluster_resources().get("CPU", 1))))
        items = [{"source": j.source, "targets": json.dumps(j.targets)} for j in jobs]
        ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), len(items) // batch_size + n)))
        ds = ds.map_batches(
            MatteWorker,
            fn_constructor_kwargs={"model": model, "background": background, "options": options or {}},
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=min(n, len(jobs))),
            num_cpus=1,
        )
        for row in ds.iter_rows():
            if row["error"]:
                failed.append({"source": str(row["source"]), "error": str(row["error"])})
            else:
                written += 1
            if progress is not None:
                progress(1)
    summary = {
        "sources": len(jobs) + skipped,
        "written": written,
        "skipped": skipped,
        "failed": len(failed),
        "failures": failed,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    manifest = _join(dest, MANIFEST)
    write_bytes(manifest, (json.dumps(summary, indent=2) + "\n").encode("utf-8"))
    return {**summary, "manifest": manifest}
