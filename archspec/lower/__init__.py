"""Spec -> IR: sequences, blocks, branches, stages, and the paper's shortcut rules.

``lower_network`` is the entry point; ``shortcuts.decide`` is the one place where the
paper's rules are decided. Everything after lowering reads the IR and never decides again.
"""

from archspec.lower.network import lower_network

__all__ = ["lower_network"]
