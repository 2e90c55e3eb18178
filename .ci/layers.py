#!/usr/bin/env python3
"""(A copy of ../shared/tools/layers.py, so that CI runs it on a fresh clone.)

The house's import graph, read from the code with ast: file-level cycles, imports that run against the
layers, late (function-level) imports of the project's own modules, and who imports the Telegram library.

    python3 layers.py PROJECT_ROOT      exit 0 when every rule holds; prints the figures last

Layers, bottom up (a package not listed is a leaf when it imports no other package of the project, else it counts as
'services', between storage and the flows):
  leaves: health, locales, core        storage        services/other        conversations, scheduler, delivery
  handlers        bot, channels (the channels and the assembly, on top)
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

LEVEL = {"core": 0, "chat": 0, "health": 0, "locales": 0, "storage": 1, "services": 2, "conversations": 3,
         "scheduler": 3, "delivery": 3, "handlers": 4, "bot": 5, "channels": 5}
OTHER = 2
SKIP = {"tests", "bench", ".git", ".ci", "docs", "migrations"}
CHANNEL_LIBS = ("telegram", "zalo")
LATE_OK = {"bot/cli.py"}  # the CLI imports lazily for start-up speed


def modules(root: Path) -> dict[str, Path]:
    out = {}
    for p in root.rglob("*.py"):
        rel = p.relative_to(root)
        if rel.parts[0] in SKIP or any(part in SKIP for part in rel.parts[:-1]) or len(rel.parts) < 2:
            continue
        if not (root / rel.parts[0] / "__init__.py").exists() and not any((root / rel.parts[0]).glob("*.py")):
            continue
        name = ".".join(rel.with_suffix("").parts)
        out[name.removesuffix(".__init__")] = p
    return out


def resolve(name: str, mods: dict[str, Path]) -> str | None:
    while name:
        if name in mods:
            return name
        name = name.rpartition(".")[0]
    return None


def imports(path: Path, modname: str, mods: dict[str, Path]):
    """(target module, late?, line, names, is_type_checking) for each import of a project module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node, late, typing_only):
        for child in ast.iter_child_nodes(node):
            is_tc = typing_only
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                is_tc = True
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, True, is_tc)
                continue
            if isinstance(child, ast.Import):
                for a in child.names:
                    found.append((a.name, late, child.lineno, [], is_tc))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    pkg = modname.split(".")
                    if not path.name == "__init__.py":
                        pkg = pkg[:-1]
                    pkg = pkg[: len(pkg) - (child.level - 1)]
                    base = ".".join(pkg + ([base] if base else []))
                for a in child.names:
                    full = f"{base}.{a.name}" if base else a.name
                    target = full if resolve(full, mods) == full else base
                    found.append((target, late, child.lineno, [a.name], is_tc))
            visit(child, late, is_tc)

    visit(tree, False, False)
    return found


def sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
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
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            strong(v)
    return out


def main(root: Path) -> int:
    mods = modules(root)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    against, late, channel_users = [], [], []
    tops = {m.split(".")[0] for m in mods}
    for top in tops - set(LEVEL):  # an unlisted package: a leaf if it imports no other package of ours
        uses = {resolve(t, mods) for m, p in mods.items() if m.split(".")[0] == top for t, *_ in imports(p, m, mods)}
        LEVEL[top] = OTHER if any(u and u.split(".")[0] != top for u in uses) else 0
    for m, p in mods.items():
        top = m.split(".")[0]
        rel = str(p.relative_to(root))
        for target, is_late, line, _names, typing_only in imports(p, m, mods):
            if target.split(".")[0] in CHANNEL_LIBS and resolve(target, mods) is None:
                if LEVEL.get(top, OTHER) < 5:
                    channel_users.append(f"{rel}:{line} imports {target}")
                continue
            t = resolve(target, mods)
            if t is None or t == m:
                continue
            graph[m].add(t)  # a type-only import is still a tie between the two files
            ttop = t.split(".")[0]
            if ttop != top and LEVEL.get(ttop, OTHER) > LEVEL.get(top, OTHER):
                row = f"{rel}:{line} ({top}) imports {t} ({ttop})"
                if row not in against:
                    against.append(row)
            if is_late and not typing_only and rel not in LATE_OK:
                row = f"{rel}:{line} imports {t} inside a function"
                if row not in late:
                    late.append(row)
    circles = sccs(graph)
    ok = not circles and not against and not late and not channel_users
    for c in circles:
        print(f"circle of {len(c)} files: {', '.join(c[:8])}{' ...' if len(c) > 8 else ''}")
    for line in against[:25]:
        print("against the layers:", line)
    for line in late[:25]:
        print("late import:", line)
    for line in channel_users[:10]:
        print("channel library below the channels:", line)
    largest = max((len(c) for c in circles), default=0)
    print(f"modules {len(mods)}; circles {len(circles)} (largest {largest} files); "
          f"imports against the layers {len(against)}; late imports {len(late)}; "
          f"channel library below bot/ {len(channel_users)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()))
