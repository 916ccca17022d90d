"""The repository stands on its own: whoever clones it has every file it points to.

No tracked file may cite notes that live outside the repository (a clone does not
have them), and every relative link in README.md and docs/ must reach a file in
the repository (and, for a `#section` of a Markdown file, a heading that exists).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support import REPO

# Spelled in parts so that this file does not match itself.
OUTSIDE = [b"../" + b"shared", b"FIELD" + b"_NOTES", b"DESIGN" + b".md", b"/work/" + b"shared"]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
README_MAX_BYTES = 10_000


def tracked_files() -> list[Path]:
    """Files git tracks (what a clone gets); without git, every file but the venv and caches."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
        return [REPO / p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", ".git", "var", "demo-output", "__pycache__", ".pytest_cache"}
        return [p for p in REPO.rglob("*") if p.is_file() and not skip & set(p.relative_to(REPO).parts)]


def test_no_tracked_file_points_outside_the_repository() -> None:
    found = []
    for path in tracked_files():
        if not path.is_file():
            continue  # deleted in the work tree, not yet committed
        data = path.read_bytes()
        found += [f"{path.relative_to(REPO)}: {needle.decode()}" for needle in OUTSIDE if needle in data]
    assert not found, "files citing notes outside the repository:\n" + "\n".join(found)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(md: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", md.read_text(encoding="utf-8"), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", text, flags=re.M)}


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def test_every_relative_link_in_the_docs_reaches_a_file() -> None:
    broken = []
    for md in doc_files():
        text = re.sub(r"```.*?```", "", md.read_text(encoding="utf-8"), flags=re.S)
        for target in LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # https:, mailto:, file: ... are not files of the repository
            path_part, _, fragment = target.partition("#")
            dest = (md.parent / path_part).resolve() if path_part else md
            where = f"{md.relative_to(REPO)}: ({target})"
            if not dest.exists():
                broken.append(f"{where} -> no such file")
            elif REPO.resolve() not in dest.parents and dest != REPO.resolve():
                broken.append(f"{where} -> outside the repository")
            elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
                broken.append(f"{where} -> no heading #{fragment} in {dest.name}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_checks_above_can_fail(tmp_path: Path) -> None:
    """The link and heading checks see what they are meant to see."""
    assert LINK.findall("see [ops](docs/operations.md#logs) and ![img](x.png)") == ["docs/operations.md#logs"]
    md = tmp_path / "a.md"
    md.write_text("# Broker security (TLS)\n## Card terminal (ZVT)\n```\n# not a heading\n```\n")
    assert anchors(md) == {"broker-security-tls", "card-terminal-zvt"}


def test_readme_is_a_front_door() -> None:
    size = len((REPO / "README.md").read_bytes())
    assert size < README_MAX_BYTES, f"README.md is {size} bytes; details belong in docs/"
