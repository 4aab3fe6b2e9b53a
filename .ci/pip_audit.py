"""CI: known vulnerabilities in the packages installed in .venv, by pip-audit.

    python3 .ci/pip_audit.py PIP_AUDIT VENV_PYTHON

pip-audit asks PyPI's JSON API about each pinned version (/pypi/<name>/<version>/json). The
package registry this project's machines reach serves the per-project document
(/pypi/<name>/json) but answers 404 for per-version ones, and pip-audit then reports each
package as "not found on PyPI", skips it, prints "No known vulnerabilities found" and exits 0:
a clean report that audited nothing. So this script:

1. runs pip-audit on ``pip freeze`` of .venv (no resolving: the versions are exact), with the
   ignore list below;
2. for each package pip-audit skipped, reads the per-project document: its "vulnerabilities"
   are those of the latest release, so when that is the installed version they are exactly
   the installed version's;
3. fails on any finding not ignored, on any package that neither road could audit (a pin
   older than the registry's latest, while per-version documents are missing) unless that
   exact pin is listed in UNAUDITABLE with its reason, and when the registry cannot be
   reached. It never passes silently having audited nothing.
"""

import json
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

#: Findings accepted for now, each with its reason: ID -> why it does not apply or how it is
#: pinned around. Empty: nothing is ignored.
IGNORE: dict[str, str] = {}
#: Pins below the registry's latest release, which neither road can audit here (the registry
#: has no per-version documents), accepted one exact version at a time with the reason it is
#: held back; a new pin fails the audit until it is looked at and listed (or audited).
UNAUDITABLE: dict[str, str] = {
    "deprecated==1.3.1": "limits needs it; 1.3.1 is the newest for Python 3.11 (2.x and 3.x "
    "need 3.12); a decorator that only emits warnings",
    "redis==7.4.1": "limits[redis] requires redis<8; the newest 7.x release",
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


def run_pip_audit(pip_audit: str, packages: dict[str, str]) -> dict:
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
            sys.exit(f"pip-audit failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        return json.loads(report.read_text())


def latest_release_vulns(name: str, version: str) -> list[dict] | None:
    """The vulnerabilities PyPI lists for ``name`` when ``version`` is its latest release;
    None when it is not (the document does not speak about ``version``)."""
    with urllib.request.urlopen(PROJECT_URL.format(name=name), timeout=TIMEOUT) as answer:
        document = json.load(answer)
    if document["info"]["version"] != version:
        return None
    return [v for v in document.get("vulnerabilities") or [] if not v.get("withdrawn")]


def ignored(vuln: dict) -> bool:
    return any(i in IGNORE for i in [vuln.get("id"), *(vuln.get("aliases") or [])])


def main(pip_audit: str, python: str) -> int:
    packages = installed(python)
    report = run_pip_audit(pip_audit, packages)
    findings, unaudited = [], []
    by_pip_audit = by_fallback = accepted = 0
    for dep in report["dependencies"]:
        name = canonical(dep["name"])
        version = dep.get("version") or packages.get(name, "?")
        if "skip_reason" not in dep:
            by_pip_audit += 1
            findings += [(name, version, v["id"], v.get("fix_versions")) for v in dep["vulns"]]
            continue
        vulns = latest_release_vulns(name, version)
        if vulns is None:
            if f"{name}=={version}" in UNAUDITABLE:
                accepted += 1
                continue
            unaudited.append(f"{name}=={version} ({dep['skip_reason']}; not the latest either)")
            continue
        by_fallback += 1
        findings += [(name, version, v["id"], v.get("fixed_in")) for v in vulns if not ignored(v)]
    print(
        f"pip-audit: {len(packages)} packages; {by_pip_audit} audited by pip-audit, "
        f"{by_fallback} through PyPI's per-project document, {accepted} listed as unauditable, "
        f"{len(unaudited)} not audited; "
        f"{len(findings)} findings; {len(IGNORE)} ignored by id"
    )
    for name, version, vuln_id, fixed in findings:
        print(f"  FINDING {name}=={version}: {vuln_id} (fixed in {fixed})")
    for line in unaudited:
        print(f"  NOT AUDITED {line}")
    return 1 if findings or unaudited else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
