"""The names policy: which names a module, a network or a block argument may take.

One policy, static data (``check`` imports no framework), applied where the name is
written (lowering, with the spec's location) and again by the backends for hand-built IRs:

- a **module** (layer, group, stage) is an attribute of its parent in every backend, and a
  child of ``nn.Sequential`` / ``nnx.Dict``. It may not be a Python or archspec keyword,
  begin with ``_`` (dunders, and the private attributes frameworks add with each release:
  ``_modules``, ``_forward_hooks``, ``_pytree__state``), be a public attribute of those
  framework classes (``FRAMEWORK_ATTRIBUTES``; a test keeps the list equal to the installed
  torch and flax), or a method the emitted classes add (``reset_parameters``);
- a **network** names the emitted class, ``class_name(name)``: it may not be a keyword
  (``true`` would be ``True``) or a global name the emitted modules use (``f`` would be
  ``F``, torch.nn.functional). A block class that would take the network's class name is
  numbered instead (``BasicBlock2``);
- a **block argument** becomes a constructor parameter of its block class; one that would
  shadow a global or a local name of the emitted code gets a trailing ``_``
  (``block_resolve``).
"""

from __future__ import annotations

import keyword
import re

TORCH_ATTRIBUTES = frozenset(
    [
        "T_destination",
        "add_module",
        "append",
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
        "extend",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "insert",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "pop",
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
    ]
)
"""Public attributes of ``torch.nn.Module`` and ``nn.Sequential`` (torch 2.14), class and
instance (``training``)."""

FLAX_ATTRIBUTES = frozenset(
    [
        "clear",
        "eval",
        "get",
        "items",
        "iter_children",
        "iter_modules",
        "keys",
        "perturb",
        "pop",
        "popitem",
        "set_attributes",
        "setdefault",
        "sow",
        "train",
        "update",
        "values",
    ]
)
"""Public attributes of ``nnx.Module`` and ``nnx.Dict`` (flax 0.12), whose children are
attributes. ``nnx.Sequential`` adds ``layers``, the list that holds its children (numbered,
never attributes), so no child meets it: torchvision's ViT has a module ``encoder.layers``."""

EMITTED_METHODS = frozenset({"reset_parameters"})
"""Methods the emitted network classes define beyond their framework's."""

FRAMEWORK_ATTRIBUTES = TORCH_ATTRIBUTES | FLAX_ATTRIBUTES | EMITTED_METHODS

EMITTED_GLOBALS = {
    "torch": "the torch package",
    "nn": "torch.nn",
    "F": "torch.nn.functional",
    "OrderedDict": "collections.OrderedDict",
    "ZeroPadShortcut": "option A's shortcut module",
    "jax": "the jax package",
    "jnp": "jax.numpy",
    "nnx": "flax.nnx",
    "partial": "functools.partial",
    "Callable": "collections.abc.Callable",
    "BatchNorm2d": "torch's batch norm in the Flax module",
    "NamedSequential": "the Flax module's named sequence",
    "window_padding": "a pooling helper of the Flax module",
    "max_pool2d": "the Flax module's max pooling",
    "avg_pool2d": "the Flax module's average pooling",
    "adaptive_avg_pool2d": "the Flax module's adaptive pooling",
    "flatten": "the Flax module's flatten",
    "zero_pad_shortcut": "option A's shortcut in the Flax module",
    "init_as_he_et_al": "the PyTorch module's initialisation",
    "Chunk": "a channel slice module",
    "chunk": "the Flax module's channel slice",
    "channel_shuffle": "the Flax module's channel shuffle",
    "LayerNorm2d": "the PyTorch module's layer norm",
    "ChannelLinear": "the PyTorch module's per-pixel linear layer",
    "StochasticDepth": "a stochastic depth module",
    "scale_parameter": "a layer scale's tensor",
    "token_parameter": "a class token's tensor",
    "prepend_token": "a class token put first",
    "position_parameter": "a position embedding's tensor",
    "Tokens": "the PyTorch module making a map into tokens",
    "tokens": "the Flax module's map into tokens",
    "TokenPool": "the PyTorch module's token pooling",
    "token_pool": "the Flax module's token pooling",
    "attend": "the Flax module's attention",
    "Attention": "a self-attention module",
    "SelfAttention": "a self-attention module (nn.MultiheadAttention's tensors)",
    "check_depth": "the emitted check of a stage depth",
    "check_structure": "the emitted check of a comparison the structure was chosen by",
    "make_divisible": "torchvision's width rounding, copied from archspec.lower.functions",
    "math": "the standard library's math module",
    "ValueError": "a builtin",
    "bool": "a builtin",
    "dict": "a builtin",
    "float": "a builtin",
    "getattr": "a builtin",
    "int": "a builtin",
    "isinstance": "a builtin",
    "max": "a builtin",
    "range": "a builtin",
    "str": "a builtin",
    "super": "a builtin",
    "tuple": "a builtin",
    "zip": "a builtin",
}
"""Every global name an emitted module uses (imports, copied helpers, builtins), with
what it stands for; a test checks the emitted files of every spec against it."""

EMITTED_LOCALS = frozenset(
    {"self", "x", "out", "identity", "m", "rngs", "downsample", "in_channels", "out_channels"}
)
"""Parameters and locals of the emitted methods, which a block argument may not shadow."""


MODULE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*\Z")
"""Letters, digits, ``_`` and ``-`` (torchvision's ``block1-0``): a state_dict key's part.
A name that is a keyword of the language is written in quotes (``"stem"=conv(...)``)."""


def refused_module_name(name: str) -> str:
    """Why ``name`` cannot name a module in a spec, or '' when it can."""
    if not MODULE_NAME.match(name):
        return "a module name has letters, digits, '_' and '-' only"
    return refused_attribute(name)


def refused_attribute(name: str) -> str:
    """Why a backend cannot make ``name`` a module attribute, or '' when it can."""
    if keyword.iskeyword(name):
        return "it is a Python keyword"
    if name.startswith("_"):
        return "names beginning with '_' belong to the frameworks (private attributes)"
    if name in FRAMEWORK_ATTRIBUTES:
        return "it is an attribute or method of the framework modules"
    return ""


def class_name(name: str, fallback: str = "Net") -> str:
    """The emitted class for a network or block name: ``resnet18`` -> ``Resnet18``,
    ``preact_basic`` -> ``PreactBasic``, ``ResNeXt-50 32x4d`` -> ``ResNeXt50_32x4d`` (an
    underscore keeps two numbers apart)."""
    words = "".join(c if c.isalnum() else " " for c in name).split()
    text = ""
    for word in words:
        text += "_" if text[-1:].isdigit() and word[:1].isdigit() else ""
        text += word[:1].upper() + word[1:]
    return text if text[:1].isalpha() else fallback + text


def refused_network_name(name: str) -> str:
    """Why ``name`` cannot name a network (its class), or '' when it can."""
    cls = class_name(name)
    if keyword.iskeyword(cls):
        return f"its class would be {cls}, a Python keyword"
    if cls in EMITTED_GLOBALS:
        return f"its class would be {cls}, which the emitted module uses for {EMITTED_GLOBALS[cls]}"
    return ""


NETWORK_CONSTRUCTOR_LOCALS = frozenset({"self", "rngs", "_", "module", "i"})
"""The names the network class's constructor uses besides the globals (``_`` counts a
repeat, ``module`` runs over a copy of several members, ``i`` over named copies): its
keywords may be anything else, ``in_channels`` included, which only the block classes'
methods use."""


def shadows_emitted_code(name: str, local_names: frozenset[str] = EMITTED_LOCALS) -> bool:
    """True when a constructor parameter ``name`` would hide a name the emitted code uses:
    a keyword, a global, or one of ``local_names`` (a block class's by default)."""
    return keyword.iskeyword(name) or name in EMITTED_GLOBALS or name in local_names
