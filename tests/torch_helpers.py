"""Shared helpers for the torch backend tests: hand-built IR trees, specs, fvcore, loading.

Hand-built trees cover IR shapes that no spec in specs/ produces (non-identifier names,
a nested group inside a block, a block type whose zero-init varies between instances),
so the emitter's general paths are tested too.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import warnings
from pathlib import Path
from typing import Any

from archspec import ir, ops

ROOT = Path(__file__).resolve().parent.parent
ALL_SPECS = sorted(
    p.relative_to(ROOT).as_posix()
    for pattern in ("*.yaml", "*.arch")
    for p in (ROOT / "specs").rglob(pattern)
)
"""Every spec, YAML and .arch, as paths relative to the repository root (tests run there)."""
TORCHVISION = {
    "specs/torchvision/resnet18.yaml": "resnet18",
    "specs/torchvision/resnet34.yaml": "resnet34",
    "specs/torchvision/resnet50.yaml": "resnet50",
    "specs/torchvision/resnet101.yaml": "resnet101",
    "specs/torchvision/resnet152.yaml": "resnet152",
    "specs/vgg16.yaml": "vgg16",
    "specs/vgg19.yaml": "vgg19",
}


def in_zoo(path: str) -> bool:
    """A spec of the networks after ResNet (tests/test_zoo_*.py check each against its
    reference, at a small input), rather than of the paper's home ground."""
    zoo_folder = path.startswith(("specs/timm/", "specs/preact/"))
    return zoo_folder or (path.startswith("specs/torchvision/") and path not in TORCHVISION)


HOME_SPECS = [path for path in ALL_SPECS if not in_zoo(path)]
"""The paper's networks and torchvision's ResNets and VGGs: the model-level tests of every
spec run on these (the zoo's own tests build each zoo spec against its reference)."""


MODEL_SPECS = [path for path in HOME_SPECS if path != "specs/cifar/resnet1202.yaml"]
"""The home specs built as models: ResNet-1202 is ResNet-110's blocks 600 times (its
counts are checked without torch, in test_counts)."""
REPRESENTATIVE = [
    "specs/cifar/resnet20.yaml",  # option A, basic blocks, CIFAR size
    "specs/cifar/plain20.yaml",  # no shortcuts
    "specs/resnet34.yaml",  # option A at ImageNet size
    "specs/resnet50.yaml",  # the paper's bottleneck: option B, stride on the first 1x1
    "specs/torchvision/resnet50.yaml",  # torchvision's layout: stride on the 3x3
    "specs/vgg11.yaml",  # no batch norm, dropout, a classifier sequence
    "specs/arch/resnet_d.arch",  # a user block and a user projection, .arch
]
"""One spec per kind of network at home: the tests that train or trace a model run on
these (every other home spec differs from one of them in depth only)."""


def spec_id(path: str) -> str:
    return path.removeprefix("specs/").removesuffix(".yaml")


def small_input(network: ir.Network) -> str | None:
    """A cheaper input for ImageNet-sized specs (64x64); None keeps the spec's own."""
    channels, height, _ = network.input
    return f"{channels}x64x64" if height > 64 else None


def load_small(path: str, **parameters: Any) -> Any:
    """``archspec.load`` at a small input where the spec's input is large."""
    import archspec

    arch = archspec.load(path, **parameters)
    smaller = small_input(arch.network)
    return archspec.load(path, input=smaller, **parameters) if smaller else arch


def spec_text(
    name: str,
    *lines: str,
    block: str = "basic",
    stem: str = "conv1=conv(16, 3) bn1=bn relu=relu",
    head: str = "avgpool=global_avgpool flatten fc=fc(10)",
) -> str:
    """A small two-stage CIFAR-style spec, for constructs no spec in specs/ uses."""
    return "\n".join(
        [
            f"name: {name}",
            *lines,
            f"stem: {stem}",
            "stages:",
            f"  layer1: {block}(16) x 2",
            f"  layer2: {block}(32) x 2 /2",
            f"head: {head}",
            "",
        ]
    )


def write_spec(directory: Path, name: str, *lines: str, **parts: str) -> str:
    path = directory / f"{name}.yaml"
    path.write_text(spec_text(name, *lines, **parts))
    return str(path)


NESTED = """\
network nested
input 3x32x32
shortcut B
block inner(width, stride=1) =
    conv1=conv(width, 3, stride=stride) bn1=bn relu1=relu
    conv2=conv(width, 3) bn2=bn(zero_init=true)
    + shortcut -> relu=relu
block outer(width, stride=1) = a=inner(width, stride=stride) b=inner(width) + shortcut -> relu=relu
stem conv1=conv(16, 3) bn1=bn relu=relu
stage layer1 = outer(16) x 2
stage layer2 = outer(32) x 2 /2
head avgpool=global_avgpool flatten fc=fc(10)
"""
"""Blocks inside a block, each with its own projection where the shape changes."""


def write_nested(directory: Path) -> str:
    return write_extra(directory, "nested.arch")


EXTRA_SPECS = {
    "option_c.yaml": spec_text("option_c", "shortcut: C", "input: 3x32x32"),
    "preact.yaml": spec_text(
        "preact",
        "shortcut: B",
        "input: 3x32x32",
        block="preact_basic",
        stem="conv1=conv(16, 3)",
        head="bn=bn relu=relu avgpool=global_avgpool flatten fc=fc(10)",
    ),
    "nested.arch": NESTED,
    # unnamed layers whose arguments vary between calls, as torchvision's features.0.0
    "cbr.arch": "network cbr\ninput 3x32x32\nblock cbr(c, s=1) = conv(c, 3, stride=s) bn relu\n"
    "stem features=(cbr(16) cbr(16, 2) cbr(32, 2))\nhead global_avgpool flatten fc(10)\n",
    # a conditional dropout inside a block (test_frontend), a text spec with numbered items
    "custom.yaml": "name: custom\ninput: 3x16x16\nshortcut: B\ndefine: |\n"
    "  block mine(width, stride=1, k=2) =\n      let mid = width * k\n"
    "      conv1=conv(mid, 3, stride=stride) bn1=bn relu1=relu\n"
    "      drop=dropout(0.1) if k > 1\n      conv2=conv(width, 3) bn2=bn + shortcut -> relu\n"
    "stem: conv(8)\nstages:\n  layer1: mine(8) x 2\n  layer2: mine(16, k=1) x 1 /2\n",
    # block arguments named like the emitted code's globals, locals and members
    "shadow.arch": "network shadow\ninput 3x8x8\n"
    "block b(nn, F=1, rngs=1, self=1, zero_init=false) =\n"
    "    conv(nn, 3, stride=F, padding=rngs, dilation=self) bn(zero_init=zero_init)\n"
    "    zero_init=relu\n"
    "stem features=(b(8, zero_init=true) b(16, F=2, rngs=0, self=2))\n"
    "head global_avgpool flatten fc(2)\n",
    "tiny.yaml": "name: tiny\ninput: 3x8x8\nstem: conv(4, 3) bn relu\n"
    "head: global_avgpool flatten fc(2)\n",
    # grouped bottlenecks (test_lowering's ResNeXt) and a stage overriding the option
    "resnext.yaml": spec_text(
        "resnext",
        "input: 3x32x32",
        block="bottleneck",
        head="avgpool=global_avgpool flatten fc=fc(10)",
    )
    .replace("(16) x 2", "(16, groups=4, base_width=16) x 2")
    .replace("(32) x 2 /2", "(32, groups=4, base_width=16) x 2 /2 shortcut=C"),
}
"""Valid specs the tests write (constructs no spec in specs/ uses): every one is emitted
for both backends and compared with the in-memory model, as the specs in specs/ are."""


def write_extra(directory: Path, name: str) -> str:
    path = directory / name
    path.write_text(EXTRA_SPECS[name])
    return str(path)


def extra_specs(directory: Path) -> list[str]:
    return [write_extra(directory, name) for name in EXTRA_SPECS]


def import_file(path: Path, name: str | None = None) -> Any:
    """Import a Python file as a fresh module (unique name per path)."""
    module_name = name or f"emitted_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def built_with_cli(spec: Path) -> tuple[str, Any]:
    """``archspec build SPEC --backend torch -o FILE`` run as the command line runs it:
    the written file's text and its network class, imported."""
    from typer.testing import CliRunner

    from archspec.cli.app import app

    out = spec.with_name(f"{spec.stem}_torch.py")
    result = CliRunner().invoke(app, ["build", str(spec), "--backend", "torch", "-o", str(out)])
    assert result.exit_code == 0, result.output
    module = import_file(out)
    return out.read_text(), getattr(module, module.__all__[0])


def emitted_model(arch: Any, directory: Path) -> Any:
    """Write the torch source of ``arch`` under ``directory``, import it, instantiate."""
    path = directory / f"{arch.name}_torch.py"
    path.write_text(arch.source("torch"))
    module = import_file(path)
    return getattr(module, module.__all__[0])()


def assert_same_model(emitted: Any, built: Any, shape: ir.Shape) -> None:
    """Same module paths, the same torch.nn layer at each, the same weights (one seed),
    the same outputs and gradients in training mode and outputs in eval mode."""
    import torch

    a, b = emitted.state_dict(), built.state_dict()
    assert list(a) == list(b)
    assert [a[k].shape for k in a] == [b[k].shape for k in b]
    assert all(torch.equal(a[k], b[k]) for k in a), "one seed must give the same weights"
    assert [n for n, _ in emitted.named_modules()] == [n for n, _ in built.named_modules()]
    assert [torch_layer(m) for _, m in emitted.named_modules()] == [
        torch_layer(m) for _, m in built.named_modules()
    ]
    x = torch.randn(2, *shape)
    outputs = []
    for model in (emitted, built):
        torch.manual_seed(2)  # the same dropout masks
        out = model.train()(x)
        out.square().mean().backward()
        outputs.append((out.detach(), [p.grad for p in model.parameters()]))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(emitted.eval()(x), built.eval()(x), rtol=0, atol=0)


def assert_same_network(emitted: Any, built: Any, shape: ir.Shape) -> None:
    """Two models of one network built apart (an emitted class with keywords, the spec
    compiled with them): the same state_dict layout, the same settings no tensor shows
    (``module_settings``), and, holding the same weights, equal outputs."""
    import torch

    layout = [(k, t.shape) for k, t in emitted.state_dict().items()]
    assert layout == [(k, t.shape) for k, t in built.state_dict().items()]
    assert module_settings(emitted) == module_settings(built) != []
    built.load_state_dict(emitted.state_dict(), strict=True)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        assert torch.equal(emitted.eval()(x), built.eval()(x))


SETTINGS = ("p", "groups", "kernel_size", "stride", "padding", "num_heads", "eps", "momentum")
"""Module attributes a state_dict does not show: rates, windows, head counts, norms'."""


def module_settings(model: Any) -> list[tuple[str, str, object]]:
    found = []
    for name, module in model.named_modules():
        for attribute in SETTINGS:
            if hasattr(module, attribute) and not callable(getattr(module, attribute)):
                found.append((name, attribute, getattr(module, attribute)))
    return found


def torch_layer(module: Any) -> str:
    """A layer's class and settings (``ReLU(inplace=True)``); containers give ''."""
    return "" if list(module.children()) else repr(module)


def fvcore_by_operator(model: Any, shape: tuple[int, ...]) -> dict[str, int]:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

        analysis = FlopCountAnalysis(model.eval(), torch.zeros(1, *shape))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return dict(analysis.by_operator())


def calibrate_batch_norms(model: Any, shape: tuple[int, ...]) -> Any:
    """``model`` in eval mode with per-channel batch norms as after training: weights in
    [0.2, 0.6], biases in [-0.2, 0.2], running statistics from one batch (momentum 1),
    variances at least 0.5. Logits are then of order 1 and float32 rounding, the same in
    both frameworks, stays below 1e-6. Without this, rounding alone breaks 1e-4: torch's
    fresh statistics (mean 0, variance 1) let a deep net's logits grow with depth (49 for
    ResNet-50, 6e8 for ResNet-110), and variances near 0 amplify it (torch's own float32
    plain-56 is 1.6e-4 from float64 with a floor of 0.05)."""
    import torch

    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for norm in norms:
            norm.weight.uniform_(0.2, 0.6)
            norm.bias.uniform_(-0.2, 0.2)
            norm.momentum = 1.0
        model.train()(torch.randn(16, *shape))
        for norm in norms:
            norm.momentum = 0.1
            norm.running_var.clamp_(min=0.5)
    return model.eval()


def eval_outputs(reference: Any, side: int) -> tuple[Any, Any]:
    """A batch of two random side x side images and the reference's eval-mode outputs."""
    import torch

    reference.eval()
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        return x, reference(x)


def relative(actual: Any, expected: Any) -> float:
    """The zoo's measure of equal outputs: the largest difference over the largest value."""
    return float(abs(actual - expected).max() / abs(expected).max())


def conv_linear_macs(network: ir.Network) -> tuple[int, int]:
    """archspec's mult-adds split into convolutions and fully connected layers."""
    conv = linear = 0
    for _, layer in ir.layers(network):
        macs = layer.op.cost(layer.input, layer.output).macs
        if isinstance(layer.op, ops.Conv2d):
            conv += macs
        elif isinstance(layer.op, ops.Linear | ops.ChannelLinear):
            linear += macs
    return conv, linear


# ---- hand-built IR


def layer(name: str, op: Any) -> tuple[str, Any]:
    return ("layer", name, op)  # type: ignore[return-value]


def group(name: str, *children: Any, stage: bool = False) -> tuple[Any, ...]:
    return ("sequence", name, children, stage)


def block(
    name: str,
    kind: str,
    body: list[Any],
    shortcut: str = "identity",
    downsample: Any = None,
    after: list[Any] | None = None,
    arguments: dict[str, ir.Scalar] | None = None,
) -> tuple[Any, ...]:
    return ("block", name, kind, body, shortcut, downsample, after or [], arguments or {})


def realise(item: Any, shape: ir.Shape) -> ir.Member:
    """Give a sketch from the helpers above its shapes."""
    kind, name = item[0], item[1]
    if kind == "layer":
        return ir.Member(name, ir.Layer(item[2], shape, item[2].shape(shape)))
    if kind == "sequence":
        members = realise_all(item[2], shape)
        out = members[-1].node.output if members else shape
        return ir.Member(name, ir.Group(ir.Chain(members), shape, out, stage=item[3]))
    _, _, block_kind, body, shortcut, downsample, after, arguments = item
    body_members = realise_all(body, shape)
    middle = body_members[-1].node.output
    steps: tuple[ir.Step, ...] = body_members
    if shortcut != "none":
        short = (realise(downsample, shape),) if downsample else ()
        branches = (ir.Chain(body_members), ir.Chain(short))
        steps = (ir.Parallel(branches, "add", shape, middle, shortcut=shortcut),)
    after_members = realise_all(after, middle)
    group = ir.Group(
        ir.Chain(steps + after_members),
        shape,
        after_members[-1].node.output if after_members else middle,
        definition=block_kind,
        arguments=tuple(arguments.items()),
    )
    return ir.Member(name, group)


def realise_all(items: list[Any], shape: ir.Shape) -> tuple[ir.Member, ...]:
    members = []
    for item in items:
        member = realise(item, shape)
        members.append(member)
        shape = member.node.output
    return tuple(members)


def network(
    name: str, input: ir.Shape, items: list[Any], shortcut: str = "B", **parameters: ir.Scalar
) -> ir.Network:
    members = realise_all(items, input)
    return ir.Network(
        name=name,
        input=input,
        output=members[-1].node.output,
        flow=ir.Chain(members),
        shortcut=shortcut,
        parameters=tuple(parameters.items()),
        file="hand.yaml",
    )


def conv(cin: int, cout: int, k: int, s: int = 1, p: int | None = None, **kw: Any) -> ops.Conv2d:
    return ops.Conv2d(
        in_channels=cin,
        out_channels=cout,
        kernel=k,
        stride=s,
        padding=k // 2 if p is None else p,
        **kw,
    )


def bn(c: int, zero: bool = False) -> ops.BatchNorm2d:
    return ops.BatchNorm2d(channels=c, zero_init=zero)


def basic(name: str, cin: int, width: int, stride: int, option: str = "B") -> tuple[Any, ...]:
    body = [
        layer("conv1", conv(cin, width, 3, stride)),
        layer("bn1", bn(width)),
        layer("relu", ops.ReLU()),
        layer("conv2", conv(width, width, 3)),
        layer("bn2", bn(width)),
    ]
    downsample, shortcut = None, "identity"
    if (stride != 1 or cin != width) and option == "B":
        shortcut = "projection"
        downsample = group(
            "downsample", layer("0", conv(cin, width, 1, stride, 0)), layer("1", bn(width))
        )
    elif stride != 1 or cin != width:
        shortcut = "zero_pad"
        downsample = layer(
            "downsample", ops.ZeroPadShortcut(stride=stride, in_channels=cin, out_channels=width)
        )
    return block(
        name,
        "basic",
        body,
        shortcut,
        downsample,
        [layer("relu2", ops.ReLU())],
        {"width": width, "stride": stride},
    )


def bottleneck(name: str, cin: int, width: int, stride: int, zero: bool = False) -> Any:
    out = width * 4
    body = [
        layer("conv1", conv(cin, width, 1, p=0)),
        layer("bn1", bn(width)),
        layer("relu1", ops.ReLU()),
        layer("conv2", conv(width, width, 3, stride)),
        layer("bn2", bn(width)),
        layer("relu2", ops.ReLU()),
        layer("conv3", conv(width, out, 1, p=0)),
        layer("bn3", bn(out, zero)),
    ]
    downsample, shortcut = None, "identity"
    if stride != 1 or cin != out:
        shortcut = "projection"
        downsample = group(
            "downsample", layer("0", conv(cin, out, 1, stride, 0)), layer("1", bn(out))
        )
    return block(
        name,
        "bottleneck",
        body,
        shortcut,
        downsample,
        [layer("relu", ops.ReLU())],
        {"width": width, "stride": stride, "zero_init": zero},
    )


def stem(width: int = 64) -> list[Any]:
    return [
        layer("conv1", conv(3, width, 7, 2, 3)),
        layer("bn1", bn(width)),
        layer("relu", ops.ReLU()),
        layer("maxpool", ops.MaxPool2d(kernel=3, stride=2, padding=1)),
    ]


def head(features: int, classes: int = 1000) -> list[Any]:
    return [
        layer("avgpool", ops.AdaptiveAvgPool2d(size=1)),
        layer("flatten", ops.Flatten()),
        layer("fc", ops.Linear(in_features=features, out_features=classes)),
    ]


def hand_resnet(depth: int = 18, size: int = 224, zero: bool = False) -> ir.Network:
    """torchvision's ResNet-18 or -50, by hand."""
    blocks = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3]}[depth]
    items: list[Any] = stem()
    cin = 64
    for index, (count, width) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True)):
        stage = []
        for position in range(count):
            stride = 2 if position == 0 and index > 0 else 1
            if depth < 50:
                stage.append(basic(str(position), cin, width, stride))
                cin = width
            else:
                stage.append(bottleneck(str(position), cin, width, stride, zero))
                cin = width * 4
        items.append(group(f"layer{index + 1}", *stage, stage=True))
    return network(f"resnet{depth}", (3, size, size), items + head(cin))


def hand_cifar(n: int = 3) -> ir.Network:
    """The paper's CIFAR ResNet-(6n+2) with option A shortcuts."""
    items: list[Any] = [
        layer("conv1", conv(3, 16, 3)),
        layer("bn1", bn(16)),
        layer("relu", ops.ReLU()),
    ]
    cin = 16
    for index, width in enumerate((16, 32, 64)):
        stage = [
            basic(str(p), cin if p == 0 else width, width, 2 if p == 0 and index else 1, "A")
            for p in range(n)
        ]
        cin = width
        items.append(group(f"layer{index + 1}", *stage, stage=True))
    return network(f"cifar_resnet{6 * n + 2}", (3, 32, 32), items + head(64, 10), "A", n=n)


def hand_odd() -> ir.Network:
    """Awkward names and structures: numbered layers in a block, a group inside a block,
    zero-init on some instances only, a plain block, a non-numbered sequence, VGG-ish head."""

    def mine(name: str, cin: int, width: int, zero: bool, plain: bool = False) -> Any:
        body = [
            layer("0", conv(cin, width, 3, bias=True)),
            layer("1", ops.ReLU()),
            group("inner", layer("conv", conv(width, width, 3, p=1)), layer("bn", bn(width, zero))),
        ]
        return block(
            name,
            "mine",
            body,
            "none" if plain else "identity",
            after=[layer("act", ops.ReLU())],
            arguments={"width": width},
        )

    items: list[Any] = [
        group(
            "features",
            layer("0", conv(3, 8, 3, bias=True)),
            layer("1", ops.ReLU()),
            layer("2", ops.MaxPool2d(kernel=2, stride=2)),
        ),
        group(
            "stage",
            mine("0", 8, 8, True),
            mine("1", 8, 8, False),
            mine("2", 8, 8, True),
            stage=True,
        ),
        mine("solo", 8, 8, False, plain=True),
        layer("pool", ops.AvgPool2d(kernel=2, stride=2, ceil_mode=True, count_include_pad=False)),
        layer("3", ops.Flatten()),
        group(
            "classifier",
            layer("fc1", ops.Linear(in_features=8 * 4 * 4, out_features=32)),
            layer("relu", ops.ReLU()),
            layer("drop", ops.Dropout(p=0.5)),
            layer("fc2", ops.Linear(in_features=32, out_features=10)),
        ),
    ]
    return network("odd", (3, 16, 16), items, "B")


def parameter_count(model: Any) -> int:
    return sum(math.prod(p.shape) for p in model.parameters())
