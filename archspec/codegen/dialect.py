"""What a framework must say for the one emitter to write its source.

The emitter (``archspec.codegen.emitter``) writes every file the same way: a class per
block type with a constructor and a call method, a network class, the flow as plain
statements. A ``Dialect`` supplies the words that differ: how each op is constructed
(``Lowering``, one per op in the backend's own package), the container types, how
branches combine, the imports, the pieces of runtime code to copy in, and the few
framework habits (PyTorch's in-place additions and its initialisation method).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from archspec import ir
from archspec.codegen import pysource as py
from archspec.ops.base import Bare

if TYPE_CHECKING:
    from archspec.codegen.classes import BlockClass
    from archspec.codegen.emitter import Emitter


@dataclass(frozen=True)
class Arg:
    """One argument of a framework call, read from one field of the op."""

    keyword: str
    field: str
    default: ir.Scalar | None = None  # the framework's default: left out when equal
    positional: bool = False
    pair: bool = False  # written (v, v): one size per spatial axis
    spelled: tuple[tuple[ir.Scalar, ir.Scalar], ...] = ()
    """How the framework spells some of the field's values (PyTorch's GELU takes
    ``approximate="tanh"`` for the field's ``True``); others are written as they are."""

    def value(self, field_value: ir.Scalar) -> ir.Scalar:
        return dict(self.spelled).get(field_value, field_value)


@dataclass(frozen=True)
class Lowering:
    """How one op becomes a framework object.

    ``callee`` as written in emitted code (``nn.Conv2d``, or a runtime helper's name);
    ``module``: a module constructed with its arguments, else a function whose arguments
    are bound with ``functools.partial``; ``rngs``: the constructor takes ``rngs=``;
    ``helpers``: runtime pieces the emitted file must carry for it; ``fixed``: keywords
    given whatever the op's fields; ``by_rank``: another lowering where the input has
    that rank, the batch axis left out (PyTorch's layer norm: a helper on C x H x W maps,
    ``nn.LayerNorm`` on tokens and flat features).
    """

    callee: str
    arguments: tuple[Arg, ...] = ()
    module: bool = True
    rngs: bool = False
    helpers: tuple[str, ...] = ()
    fixed: tuple[tuple[str, ir.Scalar], ...] = ()
    by_rank: tuple[tuple[int, Lowering], ...] = ()


def lowering_for(lowerings: Mapping[str, Lowering], layer: ir.Layer) -> Lowering:
    """How ``layer`` is built: its op's entry, or that entry's choice for its input's rank."""
    entry = lowerings[layer.op.NAME]
    return dict(entry.by_rank).get(len(layer.input), entry)


class Dialect(ABC):
    """A framework's words; see the module docstring."""

    name: str  # the backend's name: "torch", "flax"
    framework: str  # as prose says it: "PyTorch", "Flax NNX"
    lowerings: dict[str, Lowering]
    base_class: str
    call_method: str
    array_type: str
    shortcut_type: str

    @abstractmethod
    def imports(self, network: ir.Network, helpers: list[str], uses: set[str]) -> list[str]:
        """The import lines; ``uses`` holds names the emitted text calls (``partial``...)."""

    @abstractmethod
    def helper_sources(self, helpers: list[str]) -> list[str]:
        """The source of each runtime helper the file carries, in a fixed order."""

    @abstractmethod
    def attribute(self, name: str) -> str:
        """The attribute that holds member ``name`` (a number or keyword needs care)."""

    @abstractmethod
    def assign(self, name: str, value: py.Expr, depth: int) -> list[str]:
        """``self.<member> = value`` inside ``__init__``."""

    @abstractmethod
    def member(self, name: str) -> str:
        """The expression that reads member ``name`` of ``self``."""

    @abstractmethod
    def sequential(
        self,
        items: list[tuple[str, py.Expr]],
        numbered: bool,
        copies: py.NamedCopies | None = None,
    ) -> py.Expr:
        """A container applying ``items`` in order, then ``copies``; ``numbered``: named
        0 .. n-1."""

    @abstractmethod
    def combine(self, parallel: ir.Parallel, values: list[str]) -> str:
        """The expression combining branch results."""

    def bare(self, how: Bare, name: str, value: str) -> str:
        """``value`` met by the bare tensor ``name`` of ``self`` as ``how`` says
        (``Op.BARE``): multiplied, added, or put before the first token."""
        tensor = self.tensor(name)
        if how == "multiply":
            return f"{value} * {tensor}"
        if how == "add":
            return f"{value} + {tensor}"
        return f"prepend_token({tensor}, {value})"  # a runtime helper of every backend

    def tensor(self, name: str) -> str:
        """The expression that reads the bare tensor ``name`` of ``self`` as an array."""
        return self.member(name)

    def layer_keywords(self, member: ir.Member) -> dict[str, str]:
        """Extra keyword arguments for one layer (PyTorch: ``inplace``)."""
        return {}

    def take_in(self, copy: ir.Chain, optional: frozenset[str] = frozenset()) -> None:
        """Members written that the network does not hold: the copy a depth knob repeats
        where the network has one (``Knob.later``), to be decided like the network's; a
        class's flow where a switch may leave ``optional`` members out."""
        return None

    def add_in_place(self, parallel: ir.Parallel) -> bool:
        """Whether a two-branch addition may overwrite its first branch's result."""
        return False

    init_prologue: tuple[str, ...] = ()
    init_extras: tuple[str, ...] = ()
    """Trailing parameters of every ``__init__`` (Flax: ``*, rngs: nnx.Rngs``)."""
    call_extras: tuple[tuple[str, str], ...] = ()
    """Keywords of every class call (Flax: ``rngs=rngs``)."""

    def class_init_lines(self, cls: BlockClass) -> list[str]:
        """Lines that end a block class's ``__init__`` (PyTorch: zero-init flags)."""
        return []

    def network_methods(self, emitter: Emitter) -> list[str]:
        """Methods that end the network class (PyTorch: ``reset_parameters``)."""
        return []

    def network_init_end(self) -> list[str]:
        """Lines that end the network's ``__init__`` (PyTorch: ``self.reset_parameters()``)."""
        return []

    named_sequential_helpers: tuple[str, ...] = ()
    """Runtime helpers a sequential with named members needs (Flax: NamedSequential)."""

    @abstractmethod
    def reserved_globals(self) -> set[str]:
        """Global names the emitted file uses, which no generated class may take."""

    @abstractmethod
    def helper_order(self, needed: set[str]) -> list[str]:
        """The helpers among ``needed``, in the order the file carries them."""

    @abstractmethod
    def module_note(self, class_name: str) -> str:
        """A paragraph for the module docstring on how to use the file."""
