"""Every ipywidgets calculator of the course, and the page that shows them all (`llm-course app`).

Widgets only draw: each calls the math of `course_lib.sizing`, `quant` and
`choose`, never the other way round. ipywidgets and matplotlib are imported
when a widget is built, so importing this package stays cheap.

| widget | notebook |
|---|---|
| `break_even_widget` | 00, 07 |
| `fit_widget` ("Will it fit?") | 01 |
| `explorer_widget` (quantization explorer) | 02 |
| `kv_widget` (KV-cache explorer) | 03 |
| `gpu_chooser_widget`, `offload_widget` | 07 |
| `class_plan_widget` (one server, N learners) | 07 |
"""

from course_lib.widgets.choose import gpu_chooser_widget, offload_widget
from course_lib.widgets.classroom import class_plan_widget
from course_lib.widgets.cost import break_even_widget
from course_lib.widgets.fit import fit_widget
from course_lib.widgets.kv import kv_widget
from course_lib.widgets.quant import explorer_widget

__all__ = ["break_even_widget", "class_plan_widget", "explorer_widget", "fit_widget", "gpu_chooser_widget", "kv_widget",
           "offload_widget"]
