"""The schema-compatibility check (`tools/buf_breaking.sh`, `python -m tools.contracts`) compares with the
published baseline whatever the git history looks like. Each test works in a temporary git repository made
from a copy of this checkout's contract files (never in the worktree itself), publishes a baseline there,
changes the contract, and runs the check the way CI does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
COPIED = ("proto", "third_party", "tools", "contracts", "gen/openapi", "buf.yaml", "buf.gen.yaml")
COMMAND_TIMEOUT_S = 300
BUF_FIELD_LINE = re.compile(r"^(  (?:string|uint64|int64|uint32|bool) )(\w+)( = \d+;)$", re.MULTILINE)
# The version this checkout's contracts/openapi.yaml declares: what each test's fresh baseline publishes.
_MAJOR, _MINOR, _PATCH = (int(part) for part in re.search(
    r'version: "(\d+)\.(\d+)\.(\d+)"', (REPO_ROOT / "contracts/openapi.yaml").read_text()).groups())  # type: ignore[union-attr]
BASE_VERSION, MINOR_UP, MAJOR_UP = f"{_MAJOR}.{_MINOR}.{_PATCH}", f"{_MAJOR}.{_MINOR + 1}.0", f"{_MAJOR + 1}.0.0"


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                          env={**environment, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})


def _git(repo: Path, *args: str) -> None:
    result = _run(["git", *args], repo)
    assert result.returncode == 0, result.stderr


def _commit_all(repo: Path, message: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)


def _check(repo: Path) -> subprocess.CompletedProcess[str]:
    return _run(["tools/buf_breaking.sh"], repo)


def _link_venv(repo: Path) -> None:
    (repo / ".venv").symlink_to(REPO_ROOT / ".venv")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding a copy of the contract files with a freshly published baseline (BASE_VERSION)."""
    root = tmp_path / "origin"
    for name in COPIED:
        source, target = REPO_ROOT / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(source, target)
    shutil.rmtree(root / "contracts/baseline", ignore_errors=True)
    (root / "contracts/CHANGELOG.md").unlink(missing_ok=True)
    (root / ".gitignore").write_text(".venv\n__pycache__/\n")
    _link_venv(root)
    _git(root, "init", "-q", "-b", "main")
    published = _run([".venv/bin/python", "-m", "tools.contracts", "publish", "--reason", "test baseline"], root)
    assert published.returncode == 0, published.stderr
    _commit_all(root, "published contract")
    return root


def _break_a_field(repo: Path) -> str:
    """Rename the first scalar field of trading_service.proto (its JSON name changes: a breaking change)."""
    path = repo / "proto/exchange/v1/trading_service.proto"
    text = path.read_text()
    match = BUF_FIELD_LINE.search(text)
    assert match is not None
    path.write_text(text[:match.start()] + f"{match.group(1)}{match.group(2)}_renamed{match.group(3)}"
                    + text[match.end():])
    return match.group(2)


def _shallow_clone(origin: Path, target: Path) -> Path:
    result = _run(["git", "clone", "-q", "--depth", "1", f"file://{origin}", str(target)], origin.parent)
    assert result.returncode == 0, result.stderr
    assert _run(["git", "rev-parse", "HEAD~1"], target).returncode != 0, "the clone must have no parent commit"
    _link_venv(target)
    return target


def test_unchanged_contract_passes_on_a_shallow_clone(repo: Path, tmp_path: Path) -> None:
    """Control for the tests below: the check itself passes when nothing changed, with one commit of history."""
    _commit_all_readme(repo)
    clone = _shallow_clone(repo, tmp_path / "clone")

    result = _check(clone)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"compatible with the published version {BASE_VERSION}" in result.stdout


def test_breaking_change_followed_by_another_commit_fails_on_a_shallow_clone(repo: Path, tmp_path: Path) -> None:
    field = _break_a_field(repo)
    _commit_all(repo, "rename a field (breaking)")
    _commit_all_readme(repo)
    clone = _shallow_clone(repo, tmp_path / "clone")

    result = _check(clone)

    assert result.returncode != 0
    assert f'"{field}"' in result.stderr, result.stderr
    assert f"not compatible with the published version {BASE_VERSION}" in result.stderr


def test_breaking_change_fails_in_the_full_history_too(repo: Path) -> None:
    _break_a_field(repo)
    _commit_all(repo, "rename a field (breaking)")
    _commit_all_readme(repo)

    assert _check(repo).returncode != 0


def test_removed_rest_binding_fails(repo: Path) -> None:
    """Moving a path in its google.api.http annotation is invisible to buf; the binding check catches it."""
    binding = json.loads((repo / "contracts/baseline/rest_bindings.json").read_text())["bindings"][0]
    proto_files = sorted((repo / "proto/exchange/v1").glob("*.proto"))
    quoted_path = f'"{binding["path"]}"'
    owner = next(path for path in proto_files if quoted_path in path.read_text())
    owner.write_text(owner.read_text().replace(quoted_path, f'"{binding["path"]}/moved"', 1))

    result = _check(repo)

    assert result.returncode != 0
    assert f"REST binding {binding['method']} {binding['path']} ({binding['rpc']}) was removed or moved" \
        in result.stderr, result.stderr


def test_removed_openapi_path_fails(repo: Path) -> None:
    document_path = repo / "gen/openapi/exchange.swagger.json"
    document = json.loads(document_path.read_text())
    removed = "/v1/orders/cancel"
    del document["paths"][removed]
    document_path.write_text(json.dumps(document))

    result = _check(repo)

    assert result.returncode != 0
    assert f"OpenAPI POST {removed} is missing" in result.stderr, result.stderr


def test_missing_baseline_fails_loudly(repo: Path) -> None:
    shutil.rmtree(repo / "contracts/baseline")

    result = _check(repo)

    assert result.returncode != 0
    assert "no published contract" in result.stderr


def test_publishing_a_break_needs_breaking_flag_and_new_major_version(repo: Path) -> None:
    """The baseline only moves past a break deliberately: --breaking, a major bump, and a changelog entry."""
    _break_a_field(repo)
    config = repo / "contracts/openapi.yaml"
    publish = [".venv/bin/python", "-m", "tools.contracts", "publish", "--reason", "rename for clarity"]

    config.write_text(config.read_text().replace(f'version: "{BASE_VERSION}"', f'version: "{MINOR_UP}"'))
    _regenerate_openapi_version(repo, MINOR_UP)
    refused = _run(publish, repo)
    minor_break = _run([*publish, "--breaking"], repo)
    config.write_text(config.read_text().replace(f'version: "{MINOR_UP}"', f'version: "{MAJOR_UP}"'))
    _regenerate_openapi_version(repo, MAJOR_UP)
    accepted = _run([*publish, "--breaking"], repo)

    assert refused.returncode != 0
    assert "declare the break with --breaking" in refused.stderr
    assert minor_break.returncode != 0
    assert "needs a new major version" in minor_break.stderr
    assert accepted.returncode == 0, accepted.stderr
    changelog = (repo / "contracts/CHANGELOG.md").read_text()
    assert changelog.index(f"## {MAJOR_UP}") < changelog.index(f"## {BASE_VERSION}")
    assert "- Reason: rename for clarity\n- Breaking: yes, declared" in changelog
    assert _check(repo).returncode == 0, "the new baseline is what the check compares with from now on"


def _commit_all_readme(repo: Path) -> None:
    """An unrelated later commit (the old check compared with HEAD~1 only)."""
    readme = repo / "README.md"
    readme.write_text(readme.read_text() + "more\n" if readme.exists() else "notes\n")
    _commit_all(repo, "unrelated change")


def _regenerate_openapi_version(repo: Path, version: str) -> None:
    """Stand-in for `make gen` after a version bump (only info.version of the document changes)."""
    document_path = repo / "gen/openapi/exchange.swagger.json"
    document = json.loads(document_path.read_text())
    document["info"]["version"] = version
    document_path.write_text(json.dumps(document, indent=2))


def test_republishing_needs_a_new_version_or_replace(repo: Path) -> None:
    """The same version cannot be published twice, except by redoing the latest entry with --replace."""
    publish = [".venv/bin/python", "-m", "tools.contracts", "publish", "--reason", "again"]

    again = _run(publish, repo)
    replaced = _run([*publish, "--replace"], repo)

    assert again.returncode != 0
    assert f"is not above the published {BASE_VERSION}" in again.stderr
    assert replaced.returncode == 0, replaced.stderr
    changelog = (repo / "contracts/CHANGELOG.md").read_text()
    assert changelog.count("\n## ") == 1
    assert "- Reason: again\n" in changelog
