#!/usr/bin/env python3
"""Checks that every project #include goes down the layers of docs/architecture.md.

Each C++ file belongs to a component (its directory: common, config, learning/trie, proxy/http,
...). A component may include its own headers and those of the components ALLOWED lists for it;
anything else is a layering error, printed as file:line with the rule it breaks. Unit tests
(*_test.cpp) may also include the shared test support in tests/. Run by CTest (lint.layering);
exits 1 on any error.

Usage: scripts/check_layering.py [REPO_ROOT]
"""
import pathlib
import re
import subprocess
import sys

# Component -> the components it may include, lowest layers first. Keep in step with
# docs/architecture.md ("Components and what each may include").
ALLOWED = {
    "common": set(),
    "config": {"common"},
    "learning": {"common"},  # learning/bounded_queue.hpp, shared by sona and engine
    "learning/trie": {"common"},
    "learning/store": {"common"},
    "learning/sona": {"common", "learning"},
    "learning/engine": {"common", "learning", "learning/trie", "learning/sona", "learning/store"},
    "proxy/net": {"common"},
    "proxy/http": {"common", "proxy/net"},
    "proxy/context": {"common", "proxy/net", "proxy/http"},
    "proxy/hints": {"common", "config", "learning/trie", "learning/sona", "proxy/net",
                    "proxy/http", "proxy/context"},
    "proxy/observe": {"common", "learning", "learning/trie", "learning/sona", "learning/engine",
                      "proxy/net", "proxy/http"},
    "proxy/server": {"common", "config", "learning", "learning/trie", "learning/sona",
                     "learning/store", "learning/engine", "proxy/net", "proxy/http",
                     "proxy/context", "proxy/hints", "proxy/observe"},
    # The mock upstream and benchmarks: tools beside the proxy, never part of it.
    "loadtest": {"common", "config", "learning", "learning/trie", "learning/sona", "proxy/net",
                 "proxy/http", "proxy/context"},
    # The executable: the only component that sees everything (and the only one that links the
    # bundled mock upstream, for the demo).
    "app": {"common", "config", "learning", "learning/trie", "learning/sona", "learning/store",
            "learning/engine", "proxy/net", "proxy/http", "proxy/context", "proxy/hints",
            "proxy/observe", "proxy/server", "loadtest"},
    # Fuzz targets drive the parsers directly.
    "fuzz": {"common", "config", "learning/trie", "proxy/net", "proxy/http", "proxy/context",
             "proxy/hints", "proxy/observe"},
}
# Shared test support (tests/) may reach anything a test needs; tests include it.
TEST_SUPPORT = "tests"
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def component(path):
    """The component a repository path (file or include) belongs to."""
    parts = path.split("/")
    if parts[0] in ("learning", "proxy") and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0] if len(parts) > 1 else None


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    files = subprocess.run(["git", "-C", str(root), "ls-files", "*.cpp", "*.hpp"],
                           capture_output=True, text=True, check=True).stdout.split()
    errors = []
    checked = 0
    for name in files:
        own = component(name)
        if own == TEST_SUPPORT:
            continue
        if own not in ALLOWED:
            errors.append(f"{name}: in no component of scripts/check_layering.py; add it there "
                          "and to docs/architecture.md")
            continue
        text = (root / name).read_text(encoding="utf-8")
        for match in INCLUDE.finditer(text):
            checked += 1
            included = match.group(1)
            other = component(included)
            if other is None or other == own or other in ALLOWED[own]:
                continue
            if other == TEST_SUPPORT and name.endswith("_test.cpp"):
                continue
            line = text.count("\n", 0, match.start()) + 1
            errors.append(f"{name}:{line}: {own} may not include {included} ({other}); "
                          f"{own} may include: {', '.join(sorted(ALLOWED[own])) or 'nothing'}")
    for e in errors:
        print(e)
    print(f"layering: {checked} includes in {len(files)} files, {len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
