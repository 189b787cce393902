"""The pictures of the mechanisms, drawn in a real browser: every diagram cell of every chapter renders an image.

A diagram cell is a code cell marked `# diagram: <what it shows>` that calls a
`course_lib.diagrams` function. Each notebook that has one is opened in
JupyterLab (headless Chromium), its committed outputs cleared, every cell run;
then each diagram cell must show exactly one decoded, non-empty image, whose
screenshot goes to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
DIAGRAM = re.compile(r"^#\s*diagram:\s*(.+)$", re.MULTILINE)


def diagram_cells(path: Path) -> list[tuple[int, str]]:
    """(index among the code cells, what it shows) for every diagram cell of a notebook."""
    book = nbformat.read(path, as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    return [(i, m.group(1).strip()) for i, c in enumerate(code) if (m := DIAGRAM.search(c.source))]


NOTEBOOKS = [p for p in sorted((ROOT / "notebooks").glob("*.ipynb")) if diagram_cells(p)]


def test_diagram_cells_call_the_library():
    """A diagram is drawn from the course's own numbers by a course_lib.diagrams function, never pasted in."""
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        for cell in book.cells:
            if cell.cell_type == "code" and DIAGRAM.search(cell.source):
                assert "course_lib.diagrams" in cell.source or "diagrams." in cell.source, (
                    f"{path.name}: a diagram cell that does not call course_lib.diagrams:\n{cell.source[:200]}")


@pytest.mark.browser
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_diagram_renders(lab_page, screenshots, path):
    page = lab_page.open(f"notebooks/{path.name}")
    lab_page.run_all()
    lab_page.assert_clean()
    code_cells = page.locator(".jp-CodeCell")
    for index, what in diagram_cells(path):
        cell = code_cells.nth(index)
        cell.scroll_into_view_if_needed()
        images = cell.locator(".jp-OutputArea-output img")
        drawn = images.count()
        assert drawn == 1, f"{path.name}: the diagram '{what}' (code cell {index}) drew {drawn} images"
        size = images.first.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
        assert size[0] and size[1] > 100 and size[2] > 50, f"{path.name}: the diagram '{what}' is empty: {size}"
        slug = re.sub(r"[^a-z0-9]+", "_", what.lower()).strip("_")[:40]
        cell.screenshot(path=str(screenshots / f"nb{path.name[:2]}_diagram_{slug}.png"))
