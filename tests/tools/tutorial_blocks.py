#!/usr/bin/env python3
"""tutorial_blocks.py - run the runnable shell blocks of docs/tutorial.md.

    python3 tests/tools/tutorial_blocks.py --list  [DOC]      # line and first command of each block
    python3 tests/tools/tutorial_blocks.py --count [DOC]      # the number of runnable blocks
    python3 tests/tools/tutorial_blocks.py --lint  [DOC]      # fences that look runnable but are not
    python3 tests/tools/tutorial_blocks.py --run   [DOC] [--dir DIR] [--keep]

A runnable block is a fenced code block whose info string is exactly
"sh runnable" (```sh runnable).  Every other block is an illustration and is
never run.  --run executes the runnable blocks in document order, each in its
own `bash -euo pipefail`, all in one fresh temporary directory (or DIR, which
must be empty), with:

    PATH                  <repo> and <repo>/examples first (heliosdb-nano, quickstart)
    HELIOSDB_PROFILE_DIR  <repo>/profiles
    unset                 HELIOSDB_ENCRYPTION_KEY, HELIOSDB_PASSWORD, CREDENTIALS_DIRECTORY

so a block may use the files of earlier blocks but not their shell variables.
The first block that fails stops the run: exit 1 with
"FAILED: docs/tutorial.md:LINE (block N of M): exit S", LINE being the line of
the block's opening fence.  Each block has BLOCK_TIMEOUT seconds.
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "tutorial.md"
INFO = "sh runnable"
BLOCK_TIMEOUT = 300
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")


def blocks(path):
    """[(line of the opening fence, info string, body)] of every fenced block"""
    out, lines = [], pathlib.Path(path).read_text().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m.group(1), m.group(2), m.group(3).strip()
        start, body = i + 1, []
        i += 1
        while i < len(lines):
            c = FENCE.match(lines[i])
            if c and c.group(2)[0] == fence[0] and len(c.group(2)) >= len(fence) and not c.group(3).strip():
                break
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        out.append((start, info, "\n".join(body) + "\n"))
        i += 1
    return out


def runnable(path):
    return [(line, body) for line, info, body in blocks(path) if info == INFO]


def lint(path):
    """fences whose info string mentions 'runnable' but is not exactly INFO"""
    return [(line, info) for line, info, _ in blocks(path) if "runnable" in info and info != INFO]


def rel(path):
    try:
        return str(pathlib.Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def run(path, workdir, keep):
    bl = runnable(path)
    if not bl:
        print(f"{rel(path)}: no ```{INFO} block")
        return 1
    own = workdir is None
    d = pathlib.Path(workdir or tempfile.mkdtemp(prefix="heliosdb-tutorial."))
    d.mkdir(parents=True, exist_ok=True)
    if any(d.iterdir()):
        print(f"{d}: not empty")
        return 2
    env = dict(os.environ)
    for k in ("HELIOSDB_ENCRYPTION_KEY", "HELIOSDB_PASSWORD", "CREDENTIALS_DIRECTORY"):
        env.pop(k, None)
    env["PATH"] = f"{ROOT}{os.pathsep}{ROOT / 'examples'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env["HELIOSDB_PROFILE_DIR"] = str(ROOT / "profiles")
    status = 0
    try:
        for n, (line, body) in enumerate(bl, 1):
            where = f"{rel(path)}:{line} (block {n} of {len(bl)})"
            print(f"==> {where}", flush=True)
            try:
                p = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=d, env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=BLOCK_TIMEOUT)
                out, rc = p.stdout.decode(errors="replace"), p.returncode
            except subprocess.TimeoutExpired as e:
                out, rc = (e.stdout or b"").decode(errors="replace"), f"timeout after {BLOCK_TIMEOUT} s"
            sys.stdout.write(out)
            if rc != 0:
                print(f"FAILED: {where}: exit {rc}")
                print("--- the block:")
                sys.stdout.write(body)
                status = 1
                break
        else:
            print(f"all {len(bl)} runnable blocks of {rel(path)} passed (in {d})")
    finally:
        if own and not keep:
            shutil.rmtree(d, ignore_errors=True)
    return status


def main(argv):
    args = argv[1:]
    if not args or args[0] not in ("--list", "--count", "--lint", "--run"):
        sys.exit(__doc__)
    cmd, args = args[0], args[1:]
    workdir, keep, doc = None, False, DOC
    while args:
        a = args.pop(0)
        if a == "--dir" and args:
            workdir = args.pop(0)
        elif a == "--keep":
            keep = True
        else:
            doc = pathlib.Path(a)
    if cmd == "--count":
        print(len(runnable(doc)))
        return 0
    if cmd == "--list":
        for line, body in runnable(doc):
            first = next((l for l in body.splitlines() if l.strip()), "")
            print(f"{rel(doc)}:{line}: {first}")
        return 0
    if cmd == "--lint":
        bad = lint(doc)
        for line, info in bad:
            print(f"{rel(doc)}:{line}: info string '{info}' mentions 'runnable' but is not '{INFO}': it will not run")
        return 1 if bad else 0
    return run(doc, workdir, keep)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
