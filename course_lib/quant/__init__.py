"""Quantization from scratch, byte-exact with GGUF (notebook 02).

`quantize(x, qtype, imatrix=None)` / `dequantize(data, qtype, shape)` for every
GGUF type the course builds (`formats`, over `blocks`, `nonlinear` and
`kquants`, whose scale searches are in `search`); the teaching formats
(absmax/zero-point INT8, NF4); llama.cpp's per-tensor rule (`policy`);
requantizing a whole GGUF file and comparing two (`requantize`); the
importance matrix (`imatrix`); and what quantization costs, as llama.cpp's
perplexity tool measures it (`quality`, running the model through `forward`).
"""

from course_lib.quant.formats import IMATRIX_TYPES, QTYPES, bits_per_weight, block_layout, dequantize, quantize
from course_lib.quant.policy import (FLOAT_TYPES, GGUF_PRESETS, K_FALLBACK, QK_K, SINGLE_TYPES, ModelShape,
                                     normalize_preset, tensor_type)
from course_lib.quant.imatrix import Imatrix, collect_imatrix, load_imatrix
from course_lib.quant.quality import (Estimate, Quality, compare_models, compare_to_base, error_stats,
                                      format_bits_per_weight, perplexity, perplexity_text, score_base, token_nll)
from course_lib.quant.reference import ggml_dequantize, ggml_quantize
from course_lib.quant.requantize import (FILE_TYPE, ROWS_PER_SLICE, TARGETS, TensorMatch, TensorPlan, compare_files,
                                         importance_weights, plan, requantize, target_type)
from course_lib.quant.teaching import (NF4_CODEBOOK, TEACHING_FORMATS, absmax_int8, absmax_int8_dequantize, nf4,
                                       nf4_dequantize, roundtrip, teaching_bits_per_weight, zeropoint_int8,
                                       zeropoint_int8_dequantize)

__all__ = [
    "ggml_quantize", "ggml_dequantize", "QTYPES", "IMATRIX_TYPES",
    "block_layout", "bits_per_weight", "quantize", "dequantize", "NF4_CODEBOOK", "absmax_int8",
    "absmax_int8_dequantize", "zeropoint_int8", "zeropoint_int8_dequantize", "nf4", "nf4_dequantize", "roundtrip",
    "teaching_bits_per_weight", "TEACHING_FORMATS", "GGUF_PRESETS", "SINGLE_TYPES", "FLOAT_TYPES", "QK_K",
    "K_FALLBACK", "ModelShape", "normalize_preset", "tensor_type", "perplexity_text", "token_nll", "perplexity",
    "format_bits_per_weight", "error_stats", "FILE_TYPE", "ROWS_PER_SLICE", "TensorPlan", "target_type", "plan",
    "requantize", "TARGETS", "TensorMatch", "compare_files", "importance_weights", "Imatrix", "collect_imatrix",
    "load_imatrix", "Estimate", "Quality", "compare_models", "compare_to_base", "score_base",
]
