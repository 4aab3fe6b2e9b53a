"""`make audit`: known vulnerabilities in the packages installed in .venv, by pip-audit.

    python3 scripts/audit.py PIP_AUDIT VENV_PYTHON

Exits 1 only on a finding: a known vulnerability in an installed version, printed with the
package, the advisory id and the version that fixes it. Everything the audit could not look at
is printed as a warning with its reason and never fails it, so the answer for a commit does not
change the day a dependency publishes a release.

pip-audit asks PyPI's JSON API about each pinned version (/pypi/<name>/<version>/json). The
package registry this project's machines reach serves the per-project document
(/pypi/<name>/json) but answers 404 for per-version ones; pip-audit then reports the package as
"not found", skips it and says "No known vulnerabilities found", a clean report that audited
nothing. So this script:

1. runs pip-audit on ``pip freeze`` of .venv (no resolving: the versions are exact), with the
   ignore list below;
2. for each package pip-audit skipped, reads the per-project document: its "vulnerabilities"
   are those of the latest release, so when that is the installed version they are exactly
   the installed version's;
3. warns about each package neither road could audit (a pin older than the registry's latest
   while per-version documents are missing, or a registry that could not be reached), and says
   how many were audited, so a report that audited little says so. `make upgrade` moves the pins
   to the latest releases, which this script can then audit.
"""

import json
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

#: Findings accepted for now, each with its reason: ID -> why it does not apply or how it is
#: pinned around. Empty: nothing is ignored.
IGNORE: dict[str, str] = {}
#: Pins knowingly held below the registry's latest release, with the reason; they are still
#: reported as not audited, with this reason instead of the generic one.
HELD_BACK: dict[str, str] = {
    "deprecated": "limits needs it; 1.3.x is the newest for Python 3.11 (2.x and 3.x need 3.12)",
    "redis": "limits[redis] requires redis<8",
}
PROJECT_URL = "https://pypi.org/pypi/{name}/json"
TIMEOUT = 60


def installed(python: str) -> dict[str, str]:
    """{canonical name: version} of what the venv has (the editable project excluded)."""
    frozen = subprocess.run(
        [python, "-m", "pip", "freeze", "--exclude-editable", "--all"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    found = {}
    for line in frozen.splitlines():
        name, sep, version = line.partition("==")
        if sep and name not in ("pip", "setuptools", "wheel"):  # the venv's own tools
            found[canonical(name)] = version.strip()
    return found


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def run_pip_audit(pip_audit: str, packages: dict[str, str]) -> dict | None:
    """pip-audit's JSON report, or None (with a warning printed) when pip-audit could not run."""
    with tempfile.TemporaryDirectory() as folder:
        requirements = Path(folder) / "requirements.txt"
        requirements.write_text("".join(f"{n}=={v}\n" for n, v in sorted(packages.items())))
        report = Path(folder) / "report.json"
        command = [
            pip_audit, "-r", str(requirements), "--no-deps", "--disable-pip",
            "--progress-spinner", "off", "--format", "json", "--output", str(report),
        ]  # fmt: skip
        for vuln_id in IGNORE:
            command += ["--ignore-vuln", vuln_id]
        done = subprocess.run(command, capture_output=True, text=True)
        if not report.exists():  # pip-audit itself failed (network, bad input)
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            print(f"  WARNING pip-audit could not run (exit {done.returncode}): {tail[0]}")
            return None
        return json.loads(report.read_text())


def latest_release_vulns(name: str, version: str) -> tuple[list[dict] | None, str]:
    """(vulnerabilities PyPI lists for ``name``, "") when ``version`` is its latest release;
    (None, why) when they cannot be known here."""
    try:
        with urllib.request.urlopen(PROJECT_URL.format(name=name), timeout=TIMEOUT) as answer:
            document = json.load(answer)
    except (OSError, ValueError) as error:  # URLError, timeouts, a page that is not JSON
        return None, f"the registry could not be read: {error}"
    latest = document["info"]["version"]
    if latest != version:
        why = HELD_BACK.get(name) or "`make upgrade` moves it"
        return None, f"not the latest ({latest}), and this registry audits only the latest; {why}"
    vulns = [v for v in document.get("vulnerabilities") or [] if not v.get("withdrawn")]
    return vulns, ""


def ignored(vuln: dict) -> bool:
    return any(i in IGNORE for i in [vuln.get("id"), *(vuln.get("aliases") or [])])


def main(pip_audit: str, python: str) -> int:
    packages = installed(python)
    report = run_pip_audit(pip_audit, packages) or {
        "dependencies": [
            {"name": n, "version": v, "skip_reason": "pip-audit did not run"}
            for n, v in packages.items()
        ]
    }
    findings, unaudited = [], []
    by_pip_audit = by_fallback = 0
    for dep in report["dependencies"]:
        name = canonical(dep["name"])
        version = dep.get("version") or packages.get(name, "?")
        if "skip_reason" not in dep:
            by_pip_audit += 1
            findings += [(name, version, v["id"], v.get("fix_versions")) for v in dep["vulns"]]
            continue
        vulns, why = latest_release_vulns(name, version)
        if vulns is None:
            unaudited.append(f"{name}=={version}: {why}")
            continue
        by_fallback += 1
        findings += [(name, version, v["id"], v.get("fixed_in")) for v in vulns if not ignored(v)]
    print(
        f"audit: {len(packages)} packages; {by_pip_audit} audited by pip-audit, "
        f"{by_fallback} through the registry's per-project document, "
        f"{len(unaudited)} not audited (warnings); {len(findings)} findings; "
        f"{len(IGNORE)} ignored by id"
    )
    for line in unaudited:
        print(f"  WARNING not audited {line}")
    for name, version, vuln_id, fixed in findings:
        fixed_text = ", ".join(fixed) if fixed else "no fixed version yet"
        print(f"  FINDING {name}=={version}: {vuln_id} (fixed in {fixed_text})")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
