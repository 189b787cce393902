"""Choosing a setup: engine, GPU, offload, cost, fine-tuning memory and a class's capacity (notebook 07).
"""

from course_lib.choose.capacity import (CLASS_ENGINE, JUPYTER_SERVER_BYTES, OUTPUT_TOKENS, PROMPT_TOKENS, ClassLoad,
                                        ClassPlan, LearnerResources, Latency, NotebookPeak, Option, buy_or_rent,
                                        calibrated_device, class_device, class_latency, gpu_prices, learner_resources,
                                        notebook_peaks, plan_class, policy_of)
from course_lib.choose.cost import (DAYS_PER_MONTH, HOURS_PER_MONTH, ApiPrice, SelfHosted, Workload, api_usd_per_month,
                                    api_usd_per_request, break_even_requests_per_day, capacity_requests_per_day,
                                    self_hosted_usd_per_month)
from course_lib.choose.gpu import DeviceChoice, rank_devices
from course_lib.choose.lora import (ACTIVATION_FACTOR, ADAMW_BYTES_PER_TRAINABLE, BF16, FULL_BYTES_PER_PARAM, MATRICES,
                                    NF4_BITS_PER_WEIGHT, FinetuneMemory, activation_bytes, finetune_memory, lora_params,
                                    matrix_shapes)
from course_lib.choose.offload import (INTERACTIVE_TOK_S, PCIE4_X16_BYTES_PER_S, OffloadSpeed, batch_job_hours,
                                       offload_curve, offload_speed)
from course_lib.choose.tree import (ENGINES, FORMATS, GOALS, HARDWARE, MANY_USERS, TREE, Decision, Leaf, Node,
                                    Situation, decide, leaves, tree_text)

__all__ = [
    "GOALS", "HARDWARE", "FORMATS", "MANY_USERS", "Situation", "Leaf", "Node", "ENGINES", "TREE", "Decision",
    "decide", "leaves", "tree_text", "DeviceChoice", "rank_devices", "INTERACTIVE_TOK_S", "PCIE4_X16_BYTES_PER_S",
    "OffloadSpeed", "offload_speed", "offload_curve", "batch_job_hours", "DAYS_PER_MONTH", "HOURS_PER_MONTH",
    "ApiPrice", "Workload", "SelfHosted", "api_usd_per_request", "api_usd_per_month", "self_hosted_usd_per_month",
    "break_even_requests_per_day", "capacity_requests_per_day", "BF16", "ADAMW_BYTES_PER_TRAINABLE",
    "FULL_BYTES_PER_PARAM", "NF4_BITS_PER_WEIGHT", "ACTIVATION_FACTOR", "MATRICES", "matrix_shapes", "lora_params",
    "activation_bytes", "FinetuneMemory", "finetune_memory", "CLASS_ENGINE", "JUPYTER_SERVER_BYTES", "PROMPT_TOKENS",
    "OUTPUT_TOKENS", "NotebookPeak", "notebook_peaks", "LearnerResources", "learner_resources", "ClassLoad",
    "class_device", "calibrated_device", "policy_of", "Latency", "class_latency", "gpu_prices", "Option",
    "buy_or_rent", "ClassPlan", "plan_class",
]
