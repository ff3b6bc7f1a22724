"""The paper's shortcut rules, as one pure function (He et al. 2015, section 3.3).

A residual branch F(x) is added to a shortcut of x. Which shortcut depends on the option
in force (the stage's, else the network's) and on whether F changes the shape:

  option   shape unchanged   shape changed
  A        identity          subsample by the stride, zero-pad the channels
  B        identity          projection (1x1 conv with the stride, then BN)
  C        projection        projection
  NAME     identity          the user's projection NAME(channels, stride)
  same     identity          none (MobileNetV2's inverted residual: only where it fits)
  none     no shortcut: the block is plain (the baselines of section 4.1)

``+ identity`` always adds x itself and needs equal shapes (option ``none`` drops it too).
Lowering calls ``decide`` and builds what it says; nothing else decides a shortcut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from archspec import symbolic
from archspec.ops.base import Shape, describe

OPTIONS = ("A", "B", "C", "same", "none")
BUILTIN_PROJECTION = "conv1x1"
"""The standard library's projection for options B and C."""


@dataclass(frozen=True)
class Decision:
    """What the shortcut is: ``none``, ``identity``, ``zero_pad`` or ``projection``
    (``projection`` names the projection to call, with ``stride``); or ``error`` with
    a diagnostic code, message and hint."""

    kind: Literal["none", "identity", "zero_pad", "projection", "error"]
    stride: int = 1
    projection: str = ""
    code: str = ""
    message: str = ""
    help: str = ""
    label: str = ""


def decide(
    option: str, addition: str, input: Shape, branch: Shape, stride: int, where: str
) -> Decision:
    """The shortcut for a branch that maps ``input`` to ``branch`` under ``option``.

    ``addition`` is ``shortcut`` (the option decides) or ``identity`` (always x itself);
    ``stride`` is the branch's own (the product of its layers' strides): a shortcut
    subsamples by it and no more. ``where`` names the block in messages.
    """
    same = symbolic.equal(input, branch)
    if option == "none" or (option == "same" and not same):
        return Decision("none")
    if addition == "identity" or (same and option != "C"):
        if same:
            return Decision("identity")
        return _mismatch(input, branch, where, "an identity shortcut")
    if len(input) != 3 or len(branch) != 3 or branch[1:] != subsampled(input, stride):
        return _mismatch(
            input,
            branch,
            where,
            f"a shortcut subsampling by the body's stride ({stride})",
            "a shortcut subsamples only by the strides of the body's layers; "
            "pool globally after the blocks, in the head",
        )
    if option == "A":
        if branch[0] < input[0]:
            return Decision(
                "error",
                code="E305",
                message=f"shortcut A cannot reduce channels ({input[0]} -> {branch[0]}) at {where}",
                help="use shortcut B (a 1x1 projection) for this stage",
                label=f"the block's input has {input[0]} channels",
            )
        return Decision("zero_pad", stride=stride)
    projection = BUILTIN_PROJECTION if option in ("B", "C") else option
    return Decision("projection", stride=stride, projection=projection)


def subsampled(input: Shape, stride: int) -> Shape:
    """Height and width after taking every ``stride``-th pixel (a strided 1x1 conv)."""
    return (-(-input[1] // stride), -(-input[2] // stride))


def _mismatch(
    input: Shape,
    branch: Shape,
    where: str,
    what: str,
    help: str = "let the shortcut option decide: `+ shortcut` with shortcut A, B or C",
) -> Decision:
    channels_only = input[0] != branch[0] and input[1:] == branch[1:]
    detail = "channels" if channels_only else "sizes"
    return Decision(
        "error",
        code="E306" if channels_only else "E307",
        message=f"{detail} differ at the addition in {where}: input {describe(input)}, "
        f"branch {describe(branch)}, and {what} cannot match them",
        help=help,
    )
