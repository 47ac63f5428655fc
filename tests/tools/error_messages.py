#!/usr/bin/env python3
"""error_messages.py - the product's user-facing error messages, and a check
that docs/operator-guide.md's troubleshooting section names every one.

    python3 tests/tools/error_messages.py --list [AREA...]   # every message, file:line, its key
    python3 tests/tools/error_messages.py --check            # exit 1 naming each undocumented one

What counts as a message
    The format string (the first string literal argument, adjacent literals
    joined) of every call to one of the error reporters below, in the C files
    of the checked folders (cli/ and policy/: the messages the CLI prints
    itself and the configuration, TOML and profile loaders' messages, which
    reach the user verbatim).  Messages of engine/, audit/ and compliance/
    are listed by --list for the writer but not enforced: they reach the user
    through the generic "%s" pass-throughs of cli/ and many are internal
    (corruption detail, LMDB codes).

        cli/     errx_  verr  rerr  fprintf(stderr, ...)
        policy/  errf  fail  perr  perr_at  vfail
        (--list also: engine/ db_err sess_err errf; audit/ and compliance/ errf)

The matching rule (robust, not brittle)
    A message is split at its printf conversions (%s, %u, %04o, %.*s, and
    "%" PRIu64 ...) into literal fragments; each fragment is trimmed of the
    spaces, quotes and punctuation that glue it to a value (' " : ; , ( ) [ ]
    = .), and the "heliosdb-nano: " prefix every CLI message carries is
    dropped.  Its PHRASES are the fragments of two or more words (if there is
    none: the longest fragment, when it has 4 or more letters).  A message is
    documented when each of its phrases occurs somewhere in the
    troubleshooting section (from the heading "## Troubleshooting" to the
    next "## " heading), compared after collapsing runs of white space and
    dropping backquotes.  So changing a value's format, reordering the
    arguments or the phrases, or documenting the message with placeholders
    (`cannot read config 'FILE': REASON`) keeps the test green; rewording
    what a user would search for breaks it, and that is the point.
    Skipped: pure pass-throughs ("%s", "heliosdb-nano: %s: %s", whose text
    comes from the library and is listed under the library's areas) and
    progress lines (a "%%" or a leading carriage return).
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "operator-guide.md"

REPORTERS = {
    "cli": ["errx_", "verr", "rerr", "fprintf"],
    "policy": ["errf", "fail", "perr", "perr_at", "vfail"],
    "engine": ["db_err", "sess_err", "errf"],
    "audit": ["errf"],
    "compliance": ["errf"],
}
CHECKED = ("cli", "policy")

CONV = re.compile(r"%[-+ #0]*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?:hh|h|ll|l|z|j|t|L)?[diouxXeEfgGcsp%]")
LIT = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
EDGE = " \t'\":;,()[]=."
PREFIX = "heliosdb-nano: "


def strip_comments(src):
    # keep line numbers: replace comments by as many newlines
    def repl(m):
        return "\n" * m.group(0).count("\n")
    return re.sub(r"/\*.*?\*/|//[^\n]*", repl, src, flags=re.S)


def call_args(src, start):
    """text of the argument list of the call whose '(' is at start"""
    depth, i, instr = 0, start, False
    while i < len(src):
        c = src[i]
        if instr:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                instr = False
        elif c == '"':
            instr = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return src[start + 1:i]
        i += 1
    return ""


def first_literal(args):
    """the first string literal argument, with adjacent literals joined"""
    m = LIT.search(args)
    if not m:
        return None
    parts, pos = [], m.start()
    while True:
        m = LIT.match(args, pos)
        if not m:
            break
        parts.append(m.group(1))
        pos = m.end()
        pos += re.match(r"\s*", args[pos:]).end()
        pri = re.match(r"PRI[diouxX](?:8|16|32|64|MAX|PTR)\s*", args[pos:])
        if pri:                     # "... %" PRIu64 " ..."
            parts.append("llu")
            pos += pri.end()
    return "".join(parts)


def phrases(fmt):
    """the literal phrases a reader would search for; None: not checked"""
    if "%%" in fmt or fmt.startswith("\\r"):
        return None                 # a progress line, not an error
    fmt = fmt.replace("\\n", " ").replace("\\r", " ").replace('\\"', '"').replace("\\\\", "\\")
    if fmt.startswith(PREFIX):
        fmt = fmt[len(PREFIX):]
    frags = [re.sub(r"\s+", " ", f.strip(EDGE)) for f in CONV.split(fmt)]
    frags = [f for f in frags if f]
    many = [f for f in frags if len(f.split()) >= 2]
    if many:
        return tuple(many)
    best = max(frags, key=len, default="")
    return (best,) if sum(ch.isalpha() for ch in best) >= 4 else None


def messages(areas=CHECKED):
    out = []
    for area in areas:
        names = REPORTERS[area]
        call = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\s*\(")
        for path in sorted((ROOT / area).glob("*.c")):
            src = strip_comments(path.read_text(errors="replace"))
            for m in call.finditer(src):
                if src[:m.start()].rstrip().endswith(("int", "void", "*")) and \
                        re.search(r"\b(static|int|void)\s+\**\s*$", src[max(0, m.start() - 40):m.start()]):
                    continue            # the reporter's own definition
                args = call_args(src, m.end() - 1)
                if m.group(1) == "fprintf" and not args.lstrip().startswith("stderr"):
                    continue
                fmt = first_literal(args)
                if fmt is None:
                    continue
                line = src.count("\n", 0, m.start()) + 1
                out.append((f"{area}/{path.name}", line, fmt, phrases(fmt)))
    return out


def troubleshooting():
    text = GUIDE.read_text()
    m = re.search(r"^## Troubleshooting\b.*?(?=^## |\Z)", text, re.S | re.M)
    if not m:
        sys.exit(f"{GUIDE}: no '## Troubleshooting' section")
    return re.sub(r"\s+", " ", m.group(0).replace("`", ""))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--list":
        areas = sys.argv[2:] or list(REPORTERS)
        for f, line, fmt, ph in messages(areas):
            print(f"{f}:{line}: {fmt!r}  phrases={ph!r}")
        return 0
    if sys.argv[1:] != ["--check"]:
        sys.exit("usage: error_messages.py --check | --list [AREA...]")
    doc = troubleshooting()
    msgs = messages()
    missing, checked = [], 0
    for f, line, fmt, ph in msgs:
        if ph is None:
            continue
        checked += 1
        gone = [x for x in ph if x not in doc]
        if gone:
            missing.append((f, line, fmt, gone))
    for f, line, fmt, gone in missing:
        print(f"{f}:{line}: {fmt!r} is not in docs/operator-guide.md ## Troubleshooting "
              f"(missing: {'; '.join(repr(g) for g in gone)})")
    print(f"{len(msgs)} messages in {', '.join(CHECKED)}: {checked} checked, {len(missing)} undocumented")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
