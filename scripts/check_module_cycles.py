#!/usr/bin/env python3
"""Fails if two source files of one crate depend on each other, directly or through others.

A file depends on another when its code (not its doc comments) names a module path that
resolves to that file: `crate::a::b`, `super::x`, `self::y`. Each crate's `src/` is one module
tree: `foo.rs` or `foo/mod.rs` is module `foo`. A parent module (`mod.rs`, `lib.rs`) that only
declares and re-exports its children is not counted as depending on them (that is the tree
itself, not an import), and a child naming its parent is an edge to the parent.

Usage: python3 scripts/check_module_cycles.py [CRATE_SRC_DIR ...]  (default: crates/*/src)
"""

import re
import sys
from pathlib import Path

PATH_RE = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP_RE = re.compile(r"\buse\s+(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\};", re.S)


def module_of(src: Path, file: Path) -> tuple:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def is_dir_module(file: Path) -> bool:
    return file.name in ("mod.rs", "lib.rs", "main.rs")


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def resolve(modules: set, base: tuple, path: list) -> tuple:
    """The longest prefix of base+path that is a file's module."""
    full = list(base) + path
    for n in range(len(full), -1, -1):
        if tuple(full[:n]) in modules:
            return tuple(full[:n])
    return ()


def edges_of(src: Path) -> dict:
    files = {module_of(src, f): f for f in src.rglob("*.rs")}
    modules = set(files)
    edges = {m: set() for m in modules}
    for module, file in files.items():
        text = strip_comments(file.read_text())
        # Inline `mod tests { ... }` blocks use `super::` for their own file: drop them.
        text = re.split(r"#\[cfg\(test\)\]\s*mod\s+tests", text)[0]
        here = module if is_dir_module(file) else module
        parent = module[:-1] if not is_dir_module(file) else module[:-1]
        paths = []
        for m in USE_GROUP_RE.finditer(text):
            head, prefix, inner = m.group(1), m.group(2), m.group(3)
            for item in re.split(r",", inner):
                item = item.strip().split(" as ")[0].split("::{")[0]
                if item and item != "self":
                    paths.append((head, [p for p in prefix.split("::") if p] + item.split("::")))
                elif item == "self":
                    paths.append((head, [p for p in prefix.split("::") if p]))
        for m in PATH_RE.finditer(text):
            paths.append((m.group(1), [p for p in m.group(2).split("::") if p]))
        for head, path in paths:
            if head == "crate":
                base = ()
            elif head == "self":
                base = module if is_dir_module(file) else module
            else:  # super
                base = module[:-1] if is_dir_module(file) else parent
                base = base if is_dir_module(file) else module[:-1]
            target = resolve(modules, base, path)
            if target == module:
                continue
            # A module declaring or re-exporting its own children is the tree, not an import.
            if target[: len(module)] == module and is_dir_module(file):
                continue
            edges[module].add(target)
    return edges


def cycles(edges: dict) -> list:
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return out


def main() -> int:
    roots = [Path(a) for a in sys.argv[1:]] or sorted(Path("crates").glob("*/src"))
    failed = False
    for src in roots:
        for comp in cycles(edges_of(src)):
            failed = True
            names = sorted("::".join(m) or "lib" for m in comp)
            print(f"{src}: import circle between {', '.join(names)}")
    if not failed:
        print(f"no import circles in {len(roots)} crates")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
