"""What a Dockerfile's ``FROM`` lines name, with the build args applied: in Python and in awk.

kaniko's warmer applies a Dockerfile's ``ARG`` defaults after the ``--build-arg`` values it is
given, so ``FROM ${BASE}`` warms the default instead of the image the build will use (upstream
``pkg/warmer/warm.go``). cachebuild resolves the base images itself and hands the warmer plain
``--image`` values. The rules are Docker's for ``FROM``
(https://docs.docker.com/reference/dockerfile/#understand-how-arg-and-from-interact): only ``ARG``
lines before the first ``FROM`` count, a build arg replaces the default of an ``ARG`` it names,
``$NAME``, ``${NAME}``, ``${NAME:-word}`` and ``${NAME:+word}`` are expanded, ``scratch`` and
earlier stages are not images. Anything else that cannot be resolved is an error that names the
line, never a guess.

The awk program (:data:`BASE_IMAGES_AWK`, POSIX awk, as busybox has it) follows the same rules and
prints the same messages; the tests run both on the same Dockerfiles.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


class DockerfileError(ValueError):
    """A ``FROM`` line that cannot be resolved to an image."""


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each instruction, continuation lines joined, comments dropped."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not pending and line.lstrip().startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        if pending.strip():
            out.append((start, pending.strip()))
        pending = ""
    if pending.strip():
        out.append((start, pending.strip()))
    return out


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def base_images(text: str, build_args: Mapping[str, str]) -> list[str]:
    """The images the ``FROM`` lines of ``text`` pull, in order, each once."""
    declared: dict[str, str] = {}
    stages: set[str] = set()
    images: list[str] = []
    seen_from = False
    for number, line in _logical_lines(text):
        words = line.split()
        keyword = words[0].upper()
        if keyword == "ARG" and not seen_from:
            for word in words[1:]:
                name, eq, default = word.partition("=")
                declared[name] = build_args.get(name, _unquote(default) if eq else "")
        elif keyword == "FROM":
            seen_from = True
            rest = [w for w in words[1:] if not w.startswith("--")]
            if not rest:
                raise DockerfileError(f"line {number}: FROM names no image")
            image = _expand(rest[0], declared, number)
            stage = rest[2].lower() if len(rest) >= 3 and rest[1].upper() == "AS" else ""
            if image == "":
                raise DockerfileError(f"line {number}: FROM {rest[0]} is empty: give its ARG a value with a build arg")
            if image.lower() != "scratch" and image.lower() not in stages and image not in images:
                images.append(image)
            if stage:
                stages.add(stage)
    return images


def args_in_stages(text: str) -> list[tuple[int, str]]:
    """(line number, instruction) of each ``ARG`` after a ``FROM``: declared inside a build stage.

    buildah 1.28 gives such a step a new cache key on every build, so every step after it misses the
    remote cache (the local engine warns about them).
    """
    found = []
    seen_from = False
    for number, line in _logical_lines(text):
        keyword = line.split()[0].upper()
        if keyword == "FROM":
            seen_from = True
        elif keyword == "ARG" and seen_from:
            found.append((number, line))
    return found


def _expand(word: str, declared: Mapping[str, str], number: int) -> str:
    def one(m: re.Match[str]) -> str:
        name = m[1] or m[4]
        if name not in declared:
            raise DockerfileError(f"line {number}: FROM uses ${name}, which no ARG before the first FROM declares")
        value = declared[name]
        if m[2] == ":-":
            return value or m[3]
        if m[2] == ":+":
            return m[3] if value else ""
        return value

    expanded = _VAR.sub(one, word)
    if "$" in expanded:
        raise DockerfileError(f"line {number}: FROM {word}: cannot expand it (use $NAME, ${{NAME}} or ${{NAME:-default}})")
    return expanded


# What both awk programs share, _logical_lines in awk: each instruction, continuation lines joined and
# comments dropped, goes to the program's instruction(first line number, text); END calls last_instruction().
_INSTRUCTIONS_AWK = r"""
{
  line = $0; sub(/\r$/, "", line)
  if (pending == "" && line ~ /^[ \t]*#/) next
  if (pending == "") start = NR
  if (line ~ /\\$/) { pending = pending substr(line, 1, length(line) - 1) " "; next }
  line = pending line; pending = ""
  gsub(/^[ \t]+|[ \t]+$/, "", line)
  if (line != "") instruction(start, line)
}
function last_instruction() {
  gsub(/^[ \t]+|[ \t]+$/, "", pending)
  if (pending != "") instruction(start, pending)
}
"""

# The same rules in POSIX awk (busybox's awk runs it). It reads the Dockerfile and, from the
# environment, CB_BUILD_ARGS (KEY=VALUE, one a line); prints one image a line, or the message
# ``prefix`` (an awk variable) "line N: ..." on stderr and exits 2. No single quote inside: it is shipped in single quotes.
BASE_IMAGES_AWK = (
    r"""
function fail(msg) { print prefix msg > "/dev/stderr"; failed = 1; exit 2 }
function cannot(word, num) { fail("line " num ": FROM " word ": cannot expand it (use $NAME, ${NAME} or ${NAME:-default})") }
function unquote(s) {
  if (length(s) >= 2 && (substr(s, 1, 1) == "\"" || substr(s, 1, 1) == q) && substr(s, length(s), 1) == substr(s, 1, 1))
    return substr(s, 2, length(s) - 2)
  return s
}
function expand(word, num,   out, rest, name, op, alt, val, m, inner) {
  out = ""; rest = word
  while ((m = index(rest, "$")) > 0) {
    out = out substr(rest, 1, m - 1); rest = substr(rest, m + 1)
    op = ""; alt = ""
    if (substr(rest, 1, 1) == "{") {
      if (index(rest, "}") == 0) cannot(word, num)
      inner = substr(rest, 2, index(rest, "}") - 2); rest = substr(rest, index(rest, "}") + 1)
      if (match(inner, /^[A-Za-z_][A-Za-z0-9_]*/) == 0) cannot(word, num)
      name = substr(inner, 1, RLENGTH); inner = substr(inner, RLENGTH + 1)
      if (inner != "") {
        op = substr(inner, 1, 2); alt = substr(inner, 3)
        if (op != ":-" && op != ":+") cannot(word, num)
      }
    } else {
      if (match(rest, /^[A-Za-z_][A-Za-z0-9_]*/) == 0) cannot(word, num)
      name = substr(rest, 1, RLENGTH); rest = substr(rest, RLENGTH + 1)
    }
    if (!(name in declared)) fail("line " num ": FROM uses $" name ", which no ARG before the first FROM declares")
    val = declared[name]
    if (op == ":-") { if (val == "") val = alt }
    else if (op == ":+") { val = (val == "") ? "" : alt }
    out = out val
  }
  return out rest
}
function instruction(num, line,   n, w, i, k, eq, name, cnt, img, stage, lower) {
  n = split(line, w, /[ \t]+/)
  k = toupper(w[1])
  if (k == "ARG" && !seen_from) {
    for (i = 2; i <= n; i++) {
      eq = index(w[i], "=")
      name = eq ? substr(w[i], 1, eq - 1) : w[i]
      if (name in given) declared[name] = given[name]
      else declared[name] = eq ? unquote(substr(w[i], eq + 1)) : ""
    }
  } else if (k == "FROM") {
    seen_from = 1; cnt = 0
    for (i = 2; i <= n; i++) if (substr(w[i], 1, 2) != "--") rest[++cnt] = w[i]
    if (cnt == 0) fail("line " num ": FROM names no image")
    img = expand(rest[1], num)
    stage = (cnt >= 3 && toupper(rest[2]) == "AS") ? tolower(rest[3]) : ""
    if (img == "") fail("line " num ": FROM " rest[1] " is empty: give its ARG a value with a build arg")
    lower = tolower(img)
    if (lower != "scratch" && !(lower in stages) && !(img in found)) { found[img] = 1; images[++count] = img }
    if (stage != "") stages[stage] = 1
  }
}
BEGIN {
  q = sprintf("%c", 39)
  n = split(ENVIRON["CB_BUILD_ARGS"], a, "\n")
  for (i = 1; i <= n; i++) if ((eq = index(a[i], "=")) > 0) given[substr(a[i], 1, eq - 1)] = substr(a[i], eq + 1)
}
END {
  if (failed) exit 2
  last_instruction()
  if (failed) exit 2
  for (i = 1; i <= count; i++) print images[i]
}
"""
    + _INSTRUCTIONS_AWK
)


# -- cache-busters ------------------------------------------------------------------------------
# What in a Dockerfile makes the steps after it miss the cache on builds that should hit it. The
# same rules in Python (the local engine) and awk (every build template's launcher warns with them).
INSTALL_COMMANDS = (
    "(pip3? install|pipenv install|poetry install|uv sync|uv pip install|npm ci|npm install|yarn install|"
    "pnpm install|go mod download|bundle install|composer install|cargo fetch|mvn dependency:|gradle dependencies)"
)
"""Commands that install a project's dependencies (an ERE both Python and awk read the same way)."""
_INSTALL = re.compile(f"(^|[^a-z0-9_-]){INSTALL_COMMANDS}")
ADD_URL = (
    "downloaded on every build; when the file changes, this step and every later one miss the cache: "
    "give ADD --checksum=sha256:..., or download a fixed version in a RUN step"
)
COPY_BEFORE_INSTALL = (
    "a change to any file of the context re-runs it and every later step; copy the dependency files "
    "(requirements.txt, package*.json, go.mod, Gemfile ...) first, install, then copy the rest"
)


def cache_busters(text: str) -> list[tuple[int, str]]:
    """(line number, ``line N: ...``) for each ``ADD`` of a URL (without ``--checksum``) and, at the
    install, each ``COPY .`` that comes before a dependency install in its stage; in the order found."""
    found: list[tuple[int, str]] = []
    whole: list[tuple[int, str]] = []  # COPY/ADD of the whole context in this stage, before any install
    for number, line in _logical_lines(text):
        words = line.split()
        keyword = words[0].upper()
        if keyword == "FROM":
            whole = []
        elif keyword in ("ADD", "COPY"):
            flags = [w for w in words[1:] if w.startswith("--")]
            sources = [w for w in words[1:] if not w.startswith("--")][:-1]
            if any(f.startswith("--from=") for f in flags):
                continue
            if keyword == "ADD" and not any(f.startswith("--checksum=") for f in flags):
                urls = [s for s in sources if s.lower().startswith(("http://", "https://"))]
                if urls:
                    found.append((number, f"line {number}: ADD {urls[0]}: {ADD_URL}"))
            if any(s in (".", "./") for s in sources):
                whole.append((number, keyword))
        elif keyword == "RUN" and whole and _INSTALL.search(line.lower()):
            found += [
                (n, f"line {n}: {k} . before the dependency install on line {number}: {COPY_BEFORE_INSTALL}") for n, k in whole
            ]
            whole = []
    return found


# The same in POSIX awk, for the launchers: prints "prefix" (an awk variable) and each message a line.
CACHE_BUSTERS_AWK = (
    r"""
function instruction(num, line,   n, w, i, k, cnt, src, from, checksum, url, j) {
  n = split(line, w, /[ \t]+/)
  k = toupper(w[1])
  if (k == "FROM") { nwhole = 0; return }
  if (k == "ADD" || k == "COPY") {
    cnt = 0; from = 0; checksum = 0
    for (i = 2; i <= n; i++) {
      if (substr(w[i], 1, 2) == "--") {
        if (substr(w[i], 1, 7) == "--from=") from = 1
        if (substr(w[i], 1, 11) == "--checksum=") checksum = 1
      } else src[++cnt] = w[i]
    }
    if (from) return
    cnt--  # the last word is the destination
    if (k == "ADD" && !checksum) {
      url = ""
      for (i = 1; i <= cnt; i++) if (url == "" && tolower(src[i]) ~ /^https?:\/\//) url = src[i]
      if (url != "") print prefix "line " num ": ADD " url ": " add_url
    }
    for (i = 1; i <= cnt; i++) if (src[i] == "." || src[i] == "./") { wnum[++nwhole] = num; wkey[nwhole] = k; break }
    return
  }
  if (k == "RUN" && nwhole > 0 && tolower(line) ~ install) {
    for (j = 1; j <= nwhole; j++)
      print prefix "line " wnum[j] ": " wkey[j] " . before the dependency install on line " num ": " copy_first
    nwhole = 0
  }
}
END { last_instruction() }
"""
    + _INSTRUCTIONS_AWK
)


def cache_busters_awk_args() -> list[str]:
    """The ``-v`` assignments :data:`CACHE_BUSTERS_AWK` reads (the messages and the install pattern)."""
    return [
        "-v",
        f"install=(^|[^a-z0-9_-]){INSTALL_COMMANDS}",
        "-v",
        f"add_url={ADD_URL}",
        "-v",
        f"copy_first={COPY_BEFORE_INSTALL}",
    ]
