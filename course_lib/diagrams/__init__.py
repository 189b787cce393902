"""Pictures of the mechanisms, drawn in code with matplotlib (notebooks 01-08).

One module per picture's topic; each function takes the numbers it draws
(from the course's own math, never typed) and returns a matplotlib Figure
with a title, and axis labels and units where it has axes. Diagrams sit at
the top of the library with the widgets: they may use any topic's math,
and nothing below imports them.
"""

from course_lib.diagrams.batching import batching_timelines
from course_lib.diagrams.gguf import gguf_layout
from course_lib.diagrams.kv import kv_cache_layout, paged_vs_contiguous
from course_lib.diagrams.offload import offload_layout
from course_lib.diagrams.quant import q4_k_superblock

__all__: list[str] = []
__all__ += ["gguf_layout", "kv_cache_layout", "paged_vs_contiguous", "offload_layout"]
__all__ += ["batching_timelines"]
__all__ += ["q4_k_superblock"]
