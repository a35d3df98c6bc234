"""The environment is pinned exactly, and requirements.txt and environment.yml agree."""

import re

import yaml

from mbcrt import paths

PIN = re.compile(r"^[A-Za-z0-9_.\-\[\]]+==[^=\s]+$")


def _requirements():
    lines = (paths.PROJECT_ROOT / "requirements.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def test_every_requirement_is_pinned_exactly():
    reqs = _requirements()
    assert reqs, "requirements.txt is empty"
    loose = [r for r in reqs if not PIN.match(r)]
    assert loose == []


def test_environment_yml_carries_the_same_pins():
    env = yaml.safe_load((paths.PROJECT_ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    pins = sorted(p for p in pip if not p.startswith("-e"))
    assert pins == sorted(_requirements())


def test_direct_dependencies_are_pinned():
    import tomllib

    project = tomllib.loads((paths.PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    pinned = {r.split("==")[0].lower().replace("_", "-") for r in _requirements()}
    missing = [d for d in project["dependencies"] if d.lower() not in pinned]
    assert missing == []
