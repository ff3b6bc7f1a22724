"""Names no module may take, because every backend makes each module an attribute.

Checked in the lowering, with the spec's location, so that no backend has to refuse a
network later. tests/test_lowering.py compares the list with torch's own nn.Module.
"""

from __future__ import annotations

import keyword

from archspec.frontend.dsl import KEYWORDS

TORCH_MODULE_ATTRIBUTES = frozenset(
    (
        "T_destination",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
    )
)
"""Public attributes of torch.nn.Module (torch 2.14), and its `training` flag."""

RESERVED_NAMES = frozenset(keyword.kwlist) | KEYWORDS | TORCH_MODULE_ATTRIBUTES
