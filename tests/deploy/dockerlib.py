"""Just enough of Docker's build semantics to test the Dockerfile without a Docker engine.

- :func:`parse_dockerfile` splits a Dockerfile into stages of instructions (line continuations
  joined, comments dropped, ``ARG`` defaults substituted into later ``${VAR}``/``$VAR``).
- :class:`DockerIgnore` applies ``.dockerignore`` the way BuildKit does for the patterns we use:
  the last matching pattern wins, ``!`` re-includes, and a pattern that matches a parent
  directory matches everything below it.
- :func:`build_context` copies what ``docker build .`` would send; :func:`apply_copies` replays
  a stage's ``COPY`` instructions from that context into a directory standing in for the
  stage's filesystem.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: upper-case keyword and its argument text."""

    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction (ENTRYPOINT/CMD/...), else ``None``."""
        text = self.args.strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
            raise ValueError(f"line {self.line}: {self.keyword} is not a JSON list of strings")
        return value

    def flags_and_words(self) -> tuple[dict[str, str], list[str]]:
        """Split shell-form args into leading ``--flag=value`` options and the other words."""
        flags: dict[str, str] = {}
        words = shlex.split(self.args)
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0)[2:].partition("=")
            flags[name] = value
        return flags, words


@dataclass
class Stage:
    """A build stage: its base image, optional name and instructions."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """Every instruction with this keyword, in order."""
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        """The instruction that takes effect (Docker keeps the last one)."""
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        """The stage's ``ENV`` variables (``KEY=VALUE`` form)."""
        result: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for word in shlex.split(instruction.args):
                key, sep, value = word.partition("=")
                if not sep:
                    raise ValueError(f"line {instruction.line}: use ENV KEY=VALUE")
                result[key] = value
        return result


_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def _substitute(text: str, args: dict[str, str]) -> str:
    """Expand ``${NAME}``/``$NAME`` for known build args; leave others (``${PATH}``) alone."""

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return args.get(name, match.group(0))

    return _VAR.sub(repl, text)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join ``\\`` continuations; drop comments and blank lines; keep the first line number."""
    result: list[tuple[int, str]] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buffer):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1].strip())
            continue
        buffer.append(stripped)
        result.append((start, " ".join(part for part in buffer if part)))
        buffer = []
    if buffer:
        result.append((start, " ".join(buffer)))
    return result


def parse_dockerfile(text: str) -> list[Stage]:
    """Parse a Dockerfile into stages, substituting ARG defaults as Docker does."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    scope: dict[str, str] = global_args
    for number, line in _logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            words = _substitute(args, global_args).split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
            # Inside a stage only re-declared global ARGs are visible.
            scope = {}
            continue
        if keyword == "ARG":
            name, sep, default = args.partition("=")
            if sep:
                scope[name] = _substitute(default.strip('"'), scope)
            elif stages and name in global_args:
                scope[name] = global_args[name]
            if not stages:
                continue
        if not stages:
            raise ValueError(f"line {number}: {keyword} before the first FROM")
        stages[-1].instructions.append(Instruction(keyword, _substitute(args, scope), number))
    return stages


# ------------------------------------------------------------------ .dockerignore


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Translate a cleaned .dockerignore pattern (Go filepath.Match plus ``**``) to a regex."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out.append(pattern[i : end + 1])
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


@dataclass(frozen=True)
class DockerIgnore:
    """Parsed ``.dockerignore``: ordered (negated, pattern text, regex) rules."""

    rules: tuple[tuple[bool, str, re.Pattern[str]], ...]

    @classmethod
    def parse(cls, text: str) -> DockerIgnore:
        """Parse the file's text (comments and blank lines ignored)."""
        rules = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
            rules.append((negated, pattern, _pattern_regex(pattern)))
        return cls(tuple(rules))

    def excluded(self, relpath: str) -> bool:
        """Whether ``relpath`` (posix, relative to the context) stays out of the context."""
        parts = relpath.split("/")
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        excluded = False
        for negated, _, regex in self.rules:
            if any(regex.match(candidate) for candidate in candidates):
                excluded = not negated
        return excluded

    def may_reinclude_below(self, reldir: str) -> bool:
        """Whether a ``!`` rule could bring back something inside the excluded ``reldir``."""
        prefix = reldir + "/"
        return any(
            negated and (pattern == reldir or pattern.startswith(prefix) or "*" in pattern)
            for negated, pattern, _ in self.rules
        )


def build_context(repo: Path, dest: Path) -> list[str]:
    """Copy the files ``docker build repo`` would send into ``dest``; return their paths."""
    ignore = DockerIgnore.parse((repo / ".dockerignore").read_text(encoding="utf-8"))
    sent: list[str] = []
    for dirpath, dirnames, filenames in os.walk(repo):
        reldir = Path(dirpath).relative_to(repo).as_posix()
        reldir = "" if reldir == "." else reldir
        keep = []
        for name in dirnames:
            rel = f"{reldir}/{name}" if reldir else name
            if not ignore.excluded(rel) or ignore.may_reinclude_below(rel):
                keep.append(name)
        dirnames[:] = keep
        for name in filenames:
            rel = f"{reldir}/{name}" if reldir else name
            if ignore.excluded(rel):
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(dirpath) / name, target)
            sent.append(rel)
    return sorted(sent)


def copy_sources(instruction: Instruction) -> tuple[dict[str, str], list[str], str]:
    """Flags, source paths and destination of a ``COPY`` (shell or exec form)."""
    exec_form = instruction.exec_form()
    if exec_form is not None:
        flags: dict[str, str] = {}
        words = exec_form
    else:
        flags, words = instruction.flags_and_words()
    if len(words) < 2:
        raise ValueError(f"line {instruction.line}: COPY needs a source and a destination")
    return flags, words[:-1], words[-1]


def apply_copies(stage: Stage, context: Path, root: Path) -> None:
    """Replay the stage's context ``COPY`` instructions into ``root`` (the stage filesystem)."""
    workdir = "/"
    for instruction in stage.instructions:
        if instruction.keyword == "WORKDIR":
            workdir = os.path.join(workdir, instruction.args)
            continue
        if instruction.keyword != "COPY":
            continue
        flags, sources, dest = copy_sources(instruction)
        if "from" in flags:
            continue
        target = Path(os.path.join(workdir, dest))
        for source in sources:
            path = context / source
            if not path.exists():
                raise FileNotFoundError(f"line {instruction.line}: COPY {source}: not in context")
            if path.is_dir():
                # A directory source copies its contents, not the directory itself.
                shutil.copytree(path, root / target.relative_to("/"), dirs_exist_ok=True)
            else:
                into = target / path.name if dest.endswith("/") else target
                (root / into.relative_to("/")).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, root / into.relative_to("/"))
