"""What the cache did in a build, step by step, read from the builder's own log.

Each builder's launcher keeps its build output, every line stamped with the second it was written
(:data:`STAMP_AWK`), and turns it into a report after the build: for each step of the Dockerfile
(``FROM`` left out) whether it was ``cached`` (taken from a cache without fetching its layer),
``pulled`` (its layer fetched from the remote cache), ``built`` or ``failed``, and how long it took;
``CACHE_HITS`` is ``cached + pulled`` over the steps (``5/6``). The templates give both as results
(Tekton ``CACHE_HITS``, ``CACHE_REPORT``) and outputs (Argo ``cache-hits``, ``cache-report``).

The parsers exist twice, as everything a launcher runs: in Python (the local engine, the tests) and
in POSIX awk (busybox's in the kaniko and BuildKit images), and the tests hold both to the same
answers on real builders' logs. What each builder says:

* BuildKit (``--progress=plain``): ``#N [2/4] RUN ...`` names step N (``[internal]``, ``[auth]`` are
  not steps); ``#N CACHED`` a cache hit;
  ``#N extracting sha256:...`` or a ``sha256:... 1.0MB / 1.0MB`` download line a layer fetched from
  the remote cache (a step imported before a miss may say only that); ``#N 0.186 ...`` its own
  output: it ran; ``#N DONE 1.2s`` its time, ``#N ERROR: ...`` a failure.
* kaniko: ``Using caching version of cmd: RUN ...`` a layer taken from the cache repository, ``No
  cached layer found for cmd RUN ...`` a miss; then each instruction it runs, in order (``RUN``,
  ``COPY``, ``ADD``: the steps that make layers; ``COPY`` is taken from the cache only with
  ``--cache-copy-layers``). Its log has terminal colours; they are left out.
* buildah: ``STEP 2/4: RUN ...`` (``[1/2] STEP ...`` in a multi-stage build), then ``--> Cache pulled
  from remote ...`` (pulled) or ``--> Using cache ...`` (cached) for a hit; ``COMMIT`` ends the steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Outcome = str  # cached | pulled | built | failed
HITS_DESCRIPTION = "The build's steps taken from a cache over its steps (FROM left out), e.g. 5/6."
REPORT_DESCRIPTION = (
    'What the cache did per step, as JSON: {"builder", "hits", "steps": [{"step", "instruction", '
    '"outcome": cached, pulled, built or failed, "seconds"}]}.'
)
"""What the templates' CACHE_HITS / cache-hits and CACHE_REPORT / cache-report results hold."""
MAX_INSTRUCTION = 80
"""Instructions are cut to this many characters: Tekton's results share 4 KB."""
MAX_STEPS_BYTES = 2800
"""At most this many bytes of steps in the JSON report (the rest are counted in ``"more"``)."""


@dataclass(frozen=True)
class Step:
    step: str  # as the builder numbers it: "2/4", "linux/arm64 2/4", "[2/3] 1/2"
    instruction: str
    outcome: Outcome
    seconds: float


@dataclass(frozen=True)
class Report:
    builder: str
    steps: tuple[Step, ...]

    @property
    def hits(self) -> str:
        """``cached + pulled`` over the steps, e.g. ``5/6``."""
        return f"{sum(s.outcome in ('cached', 'pulled') for s in self.steps)}/{len(self.steps)}"

    def to_json(self) -> str:
        """The report as one line of JSON (what the results hold; the awk writes the same bytes).

        Steps past :data:`MAX_STEPS_BYTES` of them are left out and counted in ``"more"``: Tekton
        fails a TaskRun whose results pass 4 KB.
        """
        kept: list[str] = []
        size = 0
        for s in self.steps:
            item = (
                f'{{"step":{_json(s.step)},"instruction":{_json(s.instruction)},"outcome":"{s.outcome}",'
                f'"seconds":{_seconds(s.seconds)}}}'
            )
            if size + len(item.encode()) + 1 > MAX_STEPS_BYTES:
                break
            kept.append(item)
            size += len(item.encode()) + 1
        more = f',"more":{len(self.steps) - len(kept)}' if len(kept) < len(self.steps) else ""
        return f'{{"builder":"{self.builder}","hits":"{self.hits}","steps":[{",".join(kept)}]{more}}}'


def _json(text: str) -> str:
    """A JSON string as the awk writes it: backslash and double quote escaped (tabs are gone already)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _seconds(value: float) -> str:
    return f"{value:.1f}"


def cut(instruction: str) -> str:
    return instruction if len(instruction) <= MAX_INSTRUCTION else instruction[: MAX_INSTRUCTION - 3] + "..."


def _stamped(log: str) -> list[tuple[int, str]]:
    """``EPOCH LINE`` lines (:data:`STAMP_AWK`) → (second, line); terminal colours removed."""
    out = []
    for raw in log.splitlines():
        stamp, _, line = raw.partition(" ")
        if stamp.isdigit():
            out.append((int(stamp), _ANSI.sub("", line).rstrip("\r").replace("\t", " ")))
    return out


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


# -- BuildKit -----------------------------------------------------------------------------------
_BK_STEP = re.compile(r"^#(\d+) \[([^\]]+)\] (.*)$")
_BK_NUMBERED = re.compile(r"(^| )\d+/\d+$")
_BK_STATUS = re.compile(
    r"^#(\d+) (CACHED|DONE ([0-9.]+)s|ERROR.*|extracting sha256:.*|sha256:[0-9a-f]+ .* / .*|[0-9]+\.[0-9]+ .*)$"
)


def parse_buildkit(log: str) -> Report:
    order: list[str] = []
    info: dict[str, dict[str, str]] = {}
    for _, line in _stamped(log):
        if m := _BK_STEP.match(line):
            number, step, instruction = m[1], m[2], m[3]
            if not _BK_NUMBERED.search(step) or instruction.upper().startswith("FROM "):  # [internal], [auth] ...
                continue
            if number not in info:
                order.append(number)
                info[number] = {"step": step, "instruction": instruction, "state": "built", "seconds": "0"}
        elif (m := _BK_STATUS.match(line)) and m[1] in info:
            entry, status = info[m[1]], m[2]
            if status == "CACHED":
                entry["cached"] = "1"
            elif status.startswith("DONE"):
                entry["seconds"] = m[3]
            elif status.startswith("ERROR"):
                entry["error"] = "1"
            elif status.startswith(("extracting", "sha256:")):
                entry["pulled"] = "1"
            else:
                entry["ran"] = "1"
    steps = []
    for number in sorted(order, key=lambda n: _step_key(info[n]["step"])):
        e = info[number]
        outcome = next((o for flag, o in _BK_OUTCOMES if flag in e), "built")
        steps.append(Step(e["step"], cut(e["instruction"]), outcome, float(e["seconds"])))
    return Report("buildkit", tuple(steps))


_BK_OUTCOMES = (("error", "failed"), ("ran", "built"), ("pulled", "pulled"), ("cached", "cached"))
"""The first flag a step has decides (the awk's order too); none: built."""


def _step_key(step: str) -> tuple[str, int]:
    """``linux/arm64 2/4`` → (``linux/arm64``, 2): steps in Dockerfile order, each platform (stage) apart."""
    prefix, _, index = step.rpartition(" ")
    return prefix, int(index.split("/")[0])


# -- kaniko -------------------------------------------------------------------------------------
_KANIKO = re.compile(r"^(?:INFO|WARN|ERRO)\[\d+\] (.*?)\s*$")
_KANIKO_LAYER = re.compile(r"^(RUN|COPY|ADD) ")


def parse_kaniko(log: str) -> Report:
    from_cache: set[str] = set()
    started: list[tuple[int, str]] = []
    pushes: list[int] = []  # the last push (the image's, after the cache layers') ends the last step
    failed = False
    last = 0
    for second, line in _stamped(log):
        last = second
        m = _KANIKO.match(line)
        if not m:
            if line.startswith("error building image"):
                failed = True
            continue
        message = m[1]
        if message.startswith("Using caching version of cmd: "):
            from_cache.add(message.removeprefix("Using caching version of cmd: "))
        elif _KANIKO_LAYER.match(message):
            started.append((second, message))
        elif message.startswith(("Pushing image to ", "Skipping push")):
            pushes.append(second)
    steps = []
    for i, (second, instruction) in enumerate(started):
        until = started[i + 1][0] if i + 1 < len(started) else (pushes[-1] if pushes else last)
        final = i == len(started) - 1
        outcome = "failed" if failed and final else "pulled" if instruction in from_cache else "built"
        steps.append(Step(str(i + 1), cut(instruction), outcome, float(until - second)))
    return Report("kaniko", tuple(steps))


# -- buildah ------------------------------------------------------------------------------------
_BUILDAH_STEP = re.compile(r"^((?:\[\d+/\d+\] )?)STEP (\d+/\d+): (.*)$")


def parse_buildah(log: str) -> Report:
    steps: list[dict[str, object]] = []
    end = None
    for second, line in _stamped(log):
        if m := _BUILDAH_STEP.match(line):
            steps.append({"step": (m[1] + m[2]).strip(), "instruction": m[3], "at": second, "outcome": "built"})
        elif steps and line.startswith("--> Cache pulled from remote "):
            steps[-1]["outcome"] = "pulled"
        elif steps and line.startswith("--> Using cache ") and steps[-1]["outcome"] != "pulled":
            steps[-1]["outcome"] = "cached"
        elif line.startswith("COMMIT") and end is None:
            end = second
        elif steps and line.startswith("Error: ") and end is None:
            steps[-1]["outcome"] = "failed"
            end = second
    out = []
    for i, s in enumerate(steps):
        at = int(str(s["at"]))
        until = int(str(steps[i + 1]["at"])) if i + 1 < len(steps) else (end if end is not None else at)
        if not str(s["instruction"]).upper().startswith("FROM "):
            out.append(Step(str(s["step"]), cut(str(s["instruction"])), str(s["outcome"]), float(until - at)))
    return Report("buildah", tuple(out))


PARSERS: dict[str, Callable[[str], Report]] = {"buildkit": parse_buildkit, "kaniko": parse_kaniko, "buildah": parse_buildah}


# -- the awk renderings -------------------------------------------------------------------------
# Every line of the builder's output, stamped with the second it was written (POSIX awk's srand()
# returns the previous seed, which srand() itself set from the time of day).
STAMP_AWK = r"""{ srand(); t = srand(); print $0; fflush(); print t " " $0 > file; fflush(file) }"""

# Each parser prints one row a step, TAB-separated: step, instruction, outcome, seconds.
_AWK_COMMON = r"""
function clean(s) { gsub(/\033\[[0-9;]*m/, "", s); sub(/\r$/, "", s); gsub(/\t/, " ", s); return s }
function cut(s) { return length(s) <= 80 ? s : substr(s, 1, 77) "..." }
{ t = $1; line = clean(substr($0, length($1) + 2)) }
"""

BUILDKIT_AWK = (
    _AWK_COMMON
    + r"""
match(line, /^#[0-9]+ \[[^]]+\] /) {
  n = substr(line, 2, index(line, " ") - 2)
  rest = substr(line, index(line, "[") + 1)
  step = substr(rest, 1, index(rest, "]") - 1)
  instr = substr(rest, index(rest, "]") + 2)
  if (step !~ /(^| )[0-9]+\/[0-9]+$/ || toupper(substr(instr, 1, 5)) == "FROM ") next
  if (!(n in seen)) { seen[n] = 1; order[++count] = n; st[n] = step; ins[n] = instr; sec[n] = "0" }
  next
}
match(line, /^#[0-9]+ /) {
  n = substr(line, 2, index(line, " ") - 2)
  if (!(n in seen)) next
  s = substr(line, index(line, " ") + 1)
  if (s == "CACHED") cached[n] = 1
  else if (s ~ /^DONE [0-9.]+s$/) { sub(/^DONE /, "", s); sub(/s$/, "", s); sec[n] = s }
  else if (s ~ /^ERROR/) err[n] = 1
  else if (s ~ /^extracting sha256:/ || s ~ /^sha256:[0-9a-f]+ .* \/ /) pulled[n] = 1
  else if (s ~ /^[0-9]+\.[0-9]+ /) ran[n] = 1
}
function pre(step) { return (index(step, " ") ? substr(step, 1, match(step, / [^ ]*$/) - 1) : "") }
function idx(step) { sub(/.* /, "", step); sub(/\/.*/, "", step); return step + 0 }
function after(a, b) { return pre(st[a]) > pre(st[b]) || (pre(st[a]) == pre(st[b]) && idx(st[a]) > idx(st[b])) }
END {
  for (i = 2; i <= count; i++) {  # in Dockerfile order, each platform (stage) apart: an insertion sort
    n = order[i]
    for (j = i - 1; j >= 1 && after(order[j], n); j--) order[j + 1] = order[j]
    order[j + 1] = n
  }
  for (i = 1; i <= count; i++) {
    n = order[i]
    o = (n in err) ? "failed" : (n in ran) ? "built" : (n in pulled) ? "pulled" : (n in cached) ? "cached" : "built"
    printf "%s\t%s\t%s\t%s\n", st[n], cut(ins[n]), o, sec[n]
  }
}
"""
)

KANIKO_AWK = (
    _AWK_COMMON
    + r"""
line ~ /^error building image/ { failed = 1; next }
!match(line, /^(INFO|WARN|ERRO)\[[0-9]+\] /) { next }
{
  m = substr(line, RLENGTH + 1); sub(/[ \t]+$/, "", m)
  if (index(m, "Using caching version of cmd: ") == 1) { cache[substr(m, 31)] = 1 }
  else if (m ~ /^(RUN|COPY|ADD) /) { at[++count] = t; ins[count] = m }
  else if (index(m, "Pushing image to ") == 1 || index(m, "Skipping push") == 1) end = t
}
END {
  for (i = 1; i <= count; i++) {
    until = (i < count) ? at[i + 1] : (end != "" ? end : t)
    o = (failed && i == count) ? "failed" : (ins[i] in cache) ? "pulled" : "built"
    printf "%d\t%s\t%s\t%d.0\n", i, cut(ins[i]), o, until - at[i]
  }
}
"""
)

BUILDAH_AWK = (
    _AWK_COMMON
    + r"""
match(line, /^(\[[0-9]+\/[0-9]+\] )?STEP [0-9]+\/[0-9]+: /) {
  head = substr(line, 1, RLENGTH - 2); sub(/STEP /, "", head)
  count++; st[count] = head; ins[count] = substr(line, RLENGTH + 1); at[count] = t; o[count] = "built"; next
}
count && index(line, "--> Cache pulled from remote ") == 1 { o[count] = "pulled"; next }
count && index(line, "--> Using cache ") == 1 { if (o[count] != "pulled") o[count] = "cached"; next }
index(line, "COMMIT") == 1 && end == "" { end = t; next }
count && index(line, "Error: ") == 1 && end == "" { o[count] = "failed"; end = t }
END {
  for (i = 1; i <= count; i++) {
    if (toupper(substr(ins[i], 1, 5)) == "FROM ") continue
    until = (i < count) ? at[i + 1] : (end != "" ? end : at[i])
    printf "%s\t%s\t%s\t%d.0\n", st[i], cut(ins[i]), o[i], until - at[i]
  }
}
"""
)
AWK_PARSERS = {"buildkit": BUILDKIT_AWK, "kaniko": KANIKO_AWK, "buildah": BUILDAH_AWK}

# The rows (above) into the hits and the JSON report, as Report does; -v builder= hits= json= (files).
RENDER_AWK = r"""
BEGIN { FS = "\t" }
function esc(s,   out, i, c) {
  # char by char: awks disagree on backslashes in a gsub replacement
  out = ""
  for (i = 1; i <= length(s); i++) { c = substr(s, i, 1); out = out ((c == "\\" || c == "\"") ? "\\" c : c) }
  return out
}
{
  total++; if ($3 == "cached" || $3 == "pulled") hit++
  item = "{\"step\":\"" esc($1) "\",\"instruction\":\"" esc($2) "\",\"outcome\":\"" $3 "\","
  item = item "\"seconds\":" sprintf("%.1f", $4 + 0) "}"
  if (!full && size + length(item) + 1 <= 2800) { steps = steps (kept ? "," : "") item; kept++; size += length(item) + 1 }
  else full = 1
}
END {
  h = (hit + 0) "/" (total + 0)
  printf "%s", h > hits
  more = (kept < total) ? ",\"more\":" (total - kept) : ""
  printf "{\"builder\":\"%s\",\"hits\":\"%s\",\"steps\":[%s]%s}", builder, h, steps, more > json
}
"""
