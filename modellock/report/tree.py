"""`tree` and `why` as text: uv's box-drawing tree, one model per line."""

from __future__ import annotations

from modellock.ops.tree import TreeNode, TreeResult


def _label(node: TreeNode) -> str:
    text = f"{node.name} {node.repo}@{node.commit[:7]}"
    if node.relation:
        text += f" ({node.relation})"
    if node.stale:
        text += " [stale edge]"
    if node.repeated:
        text += " (*)"
    return text


def tree_lines(result: TreeResult) -> list[str]:
    lines: list[str] = []

    def walk(node: TreeNode, prefix: str) -> None:
        for i, child in enumerate(node.children):
            last = i == len(node.children) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{_label(child)}")
            walk(child, prefix + ("    " if last else "│   "))

    for root in result.roots:
        lines.append(_label(root))
        walk(root, "")
    if any(n.repeated for n in _all(result.roots)):
        lines.append("(*) shown above")
    return lines


def _all(nodes: tuple[TreeNode, ...]) -> list[TreeNode]:
    found: list[TreeNode] = []
    for n in nodes:
        found.append(n)
        found += _all(n.children)
    return found


def why_lines(result: TreeResult, name: str) -> list[str]:
    [root] = result.roots
    if not root.children:
        return [f"{name} is not a base of any locked model"]
    return tree_lines(result)
