"""Pictures of the mechanisms, drawn in code with matplotlib (notebooks 01, 02, 03, 06 and 07).

One module per picture's topic; each function takes the numbers it draws
(from the course's own math, never typed) and returns a matplotlib Figure
with a title, and axis labels and units where it has axes. Diagrams sit at
the top of the library with the widgets: they may use any topic's math,
and nothing below imports them.
"""

# | diagram | notebook |
# |---|---|
# | `gguf_layout` (header, metadata, tensor data) | 01 |
# | `q4_k_superblock` (a Q4_K super-block's bytes) | 02 |
# | `kv_cache_layout`, `paged_vs_contiguous` | 03 |
# | `batching_timelines` (serial, static, continuous) | 06 |
# | `offload_layout` (layers on each side, step time) | 07 |

from course_lib.diagrams.batching import batching_timelines
from course_lib.diagrams.gguf import gguf_layout
from course_lib.diagrams.kv import kv_cache_layout, paged_vs_contiguous
from course_lib.diagrams.offload import offload_layout
from course_lib.diagrams.quant import q4_k_superblock

__all__ = ["gguf_layout", "q4_k_superblock", "kv_cache_layout", "paged_vs_contiguous", "batching_timelines",
           "offload_layout"]
