#!/usr/bin/env python3
"""compliance_doc.py - keeps docs/compliance.md's rule tables and
docs/configuration.md's profile-requirements table equal to profiles/*.toml.

    python3 tests/tools/compliance_doc.py --check   # exit 1 and a diff when they drift
    python3 tests/tools/compliance_doc.py --write   # regenerate the tables in place

In docs/compliance.md each table sits between "<!-- rules:NAME -->" and
"<!-- /rules:NAME -->".  In docs/configuration.md one table, between
"<!-- profile-requirements -->" and "<!-- /profile-requirements -->", has a
row per configuration key of policy/config_keys.def (plus the key source's
kind, `encryption.key_source`) and a column per profile: what each rule of
that profile requires of the key (named checks are shown on the key they
inspect; checks of the host and the schema are listed under the table).  A
rule naming a key that is not in the key table is an error.  The text around
the markers is written by hand.
"""
import difflib
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "compliance.md"
CONF_DOC = ROOT / "docs" / "configuration.md"
KEYS_DEF = ROOT / "policy" / "config_keys.def"
PROFILE_ORDER = ["hipaa", "pci-dss", "gdpr", "development"]   # then any other, by name
# the key each named check inspects; None: a check of the host or the schema
CHECK_KEY = {
    "key_file_location": "encryption.key_source.File",
    "key_file_filesystem": "encryption.key_source.File",
    "key_file_permissions": "encryption.key_source.File",
    "key_age": "encryption.key_rotation.interval_days",
    "data_dir_permissions": "storage.path",
    "audit_log_permissions": "audit.log_file",
    "tls_files": "server.ssl.key_file",
    "tls_certificate_expiry": "server.ssl.cert_file",
    "fips_provider": "encryption.fips",
    "not_root": None,
    "core_dumps": None,
    "clock_synchronized": None,
    "sensitive_columns": None,
}


def cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def check_text(r):
    if "key" in r:
        for k, word in (("equals", "="), ("min", ">="), ("max", "<="), ("one_of", "one of"),
                        ("not_one_of", "none of"), ("is_set", "set")):
            if k in r:
                v = r[k]
                if isinstance(v, bool):
                    v = "true" if v else "false"
                elif isinstance(v, list):
                    v = ", ".join(f'"{x}"' for x in v)
                elif isinstance(v, str):
                    v = f'"{v}"'
                text = f"`{r['key']}` {word} {v}" if k != "is_set" else f"`{r['key']}` is set"
                break
        if "unless_set" in r:
            text += f", unless `{r['unless_set']}` is set"
    else:
        text = f"check `{r['check']}`"
        if "words" in r:
            text += ": " + ", ".join(r["words"])
        if "grace_days" in r:
            text += f" (grace {r['grace_days']} days)"
        if "days" in r:
            text += f" ({r['days']} days)"
    if "when" in r:
        text += f"; only when `{r['when']}` = true"
    return text


def table(name):
    prof = tomllib.loads((ROOT / "profiles" / f"{name}.toml").read_text())
    out = [f"<!-- rules:{name} -->",
           "| Rule | Citation | Checks | Severity | Fix |",
           "|---|---|---|---|---|"]
    for r in prof["rule"]:
        out.append(f"| `{cell(r['id'])}` {cell(r['statement'])} | {cell(r['citation'])} | "
                   f"{cell(check_text(r))} | {r['severity']} | {cell(r['fix'])} |")
    out.append(f"<!-- /rules:{name} -->")
    return "\n".join(out)


def render(text):
    names = sorted(p.stem for p in (ROOT / "profiles").glob("*.toml"))
    for n in names:
        pat = re.compile(rf"<!-- rules:{re.escape(n)} -->.*?<!-- /rules:{re.escape(n)} -->", re.S)
        if not pat.search(text):
            sys.exit(f"{DOC}: no table markers for profile '{n}' (add <!-- rules:{n} --> <!-- /rules:{n} -->)")
        text = pat.sub(lambda m: table(n), text)
    for m in re.finditer(r"<!-- rules:([a-z0-9_-]+) -->", text):
        if m.group(1) not in names:
            sys.exit(f"{DOC}: a table for '{m.group(1)}' but no profiles/{m.group(1)}.toml")
    return text


def profile_names():
    names = sorted(p.stem for p in (ROOT / "profiles").glob("*.toml"))
    return [n for n in PROFILE_ORDER if n in names] + [n for n in names if n not in PROFILE_ORDER]


def config_keys():
    rows = []
    for m in re.finditer(r'^CFG_(KEY|KEYSRC)\("([^"]+)"', KEYS_DEF.read_text(), re.M):
        if m.group(1) == "KEYSRC" and "encryption.key_source" not in rows:
            rows.append("encryption.key_source")
        rows.append(m.group(2))
    return rows


def requirement(r):
    """one rule as a table cell: what it asks, its severity and id"""
    if "key" in r:
        text = check_text(r).split("`", 2)[2].strip()      # drop the key itself
        if text.startswith(", unless"):
            text = text[2:]
    else:
        text = check_text(r)
        if "words" in r:
            text = f"check `{r['check']}`"
    return f"{text} ({r['severity']}, `{r['id']}`)"


def requirements_table():
    names = profile_names()
    rows = config_keys()
    cells = {k: {n: [] for n in names} for k in rows}
    other = {n: [] for n in names}
    for n in names:
        prof = tomllib.loads((ROOT / "profiles" / f"{n}.toml").read_text())
        for r in prof["rule"]:
            k = r.get("key") if "key" in r else CHECK_KEY.get(r["check"], "?")
            if k == "?":
                sys.exit(f"profiles/{n}.toml: rule {r['id']}: check '{r['check']}' is not in "
                         "CHECK_KEY of tests/tools/compliance_doc.py: say which key it inspects")
            if k is None:
                other[n].append(r)
                continue
            if k not in cells:
                sys.exit(f"profiles/{n}.toml: rule {r['id']}: key '{k}' is not in policy/config_keys.def")
            cells[k][n].append(requirement(r))
    out = ["<!-- profile-requirements -->",
           "| Key | " + " | ".join(names) + " |",
           "|---|" + "---|" * len(names)]
    for k in rows:
        out.append(f"| `{k}` | " + " | ".join(cell("<br>".join(cells[k][n])) if cells[k][n] else "—"
                                             for n in names) + " |")
    out.append("")
    out.append("Checks of the host and the schema, not of a key:")
    out.append("")
    for n in names:
        if other[n]:
            out.append(f"- {n}: " + "; ".join(cell(requirement(r)) for r in other[n]))
    out.append("<!-- /profile-requirements -->")
    return "\n".join(out)


def render_conf(text):
    pat = re.compile(r"<!-- profile-requirements -->.*?<!-- /profile-requirements -->", re.S)
    if not pat.search(text):
        sys.exit(f"{CONF_DOC}: no <!-- profile-requirements --> <!-- /profile-requirements --> markers")
    return pat.sub(lambda m: requirements_table(), text)


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("--check", "--write"):
        sys.exit("usage: compliance_doc.py --check | --write")
    docs = [(DOC, render, "docs/compliance.md")]
    if CONF_DOC.exists() or sys.argv[1] == "--check":
        docs.append((CONF_DOC, render_conf, "docs/configuration.md"))
    status = 0
    for path, fn, name in docs:
        if not path.exists():
            print(f"{name}: missing")
            status = 1
            continue
        old = path.read_text()
        new = fn(old)
        if sys.argv[1] == "--write":
            if new != old:
                path.write_text(new)
            continue
        if old != new:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                       name, "from profiles/*.toml"))
            print(f"{name} differs from profiles/*.toml: run python3 tests/tools/compliance_doc.py --write")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
