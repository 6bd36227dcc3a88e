#!/usr/bin/env python3
"""Helpers for tests/deploy/run.sh: read the Dockerfile, the compose file and the Helm chart.

Run with the venv's python (it needs PyYAML and helm-python-sdk). Subcommands:

  entrypoint DOCKERFILE              final stage's ENTRYPOINT (exec form) as a JSON array
  image-env DOCKERFILE               final stage's ENV as NAME=VALUE lines
  final-stage DOCKERFILE             final stage's instructions, one per line
  dep-layer REPO DOCKERFILE DIR      emulate the Dockerfile up to its first `cargo build` (stages
                                     in DIR/<n>: COPY from the .dockerignore-filtered context or an
                                     earlier stage, WORKDIR, ENV, RUN with relative paths) and
                                     print the directory where that `cargo build` would run
  copy-sources REPO DOCKERFILE       every COPY source of the build context exists, not ignored
  compose-env FILE SERVICE           a service's environment (${VAR:-default} interpolated from
                                     this process's environment) as NAME=VALUE lines
  compose-get FILE PATH              a value of the compose file (PATH: dot-separated)
  helm CHART OUTDIR KUBEVER [VALUES] helm lint --strict + render (like helm template) with
                                     the real Helm engine; writes OUTDIR/manifests.yaml
  helm-must-fail CHART KEY=JSON...   rendering with these values must fail (chart guards)
  values-doc CHART                   every value path of values.yaml appears in README.md
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml


def die(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


# ------------------------------------------------------------------------------------------
# Dockerfile
# ------------------------------------------------------------------------------------------


def parse_dockerfile(path: str) -> list[tuple[int, str, str]]:
    """(line, KEYWORD, arguments) per instruction; continuations joined the way Docker joins
    them (the escape character and the newline are removed), comment lines dropped."""
    out: list[tuple[int, str, str]] = []
    buf, start = "", 0
    for number, line in enumerate(Path(path).read_text().split("\n"), 1):
        stripped = line.strip()
        if stripped.startswith("#") or (not buf and not stripped):
            continue
        if not buf:
            start = number
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1]
            continue
        buf += line
        keyword, _, rest = buf.strip().partition(" ")
        out.append((start, keyword.upper(), rest.strip()))
        buf = ""
    if buf:
        die(f"{path}: dangling line continuation at line {start}")
    return out


def stages(path: str) -> list[dict]:
    """Stages with their substituted base image, name and instructions."""
    instructions = parse_dockerfile(path)
    global_args: dict[str, str] = {}
    result: list[dict] = []
    for line, keyword, rest in instructions:
        if keyword == "FROM":
            words = rest.split()
            words = [w for w in words if not w.startswith("--platform")]
            image = re.sub(
                r"\$\{(\w+)\}|\$(\w+)", lambda m: global_args.get(m.group(1) or m.group(2), ""), words[0]
            )
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            result.append({"line": line, "image": image, "name": name, "instructions": []})
        elif not result:
            if keyword != "ARG":
                die(f"{path}:{line}: {keyword} before the first FROM")
            key, _, value = rest.partition("=")
            global_args[key.strip()] = value.strip().strip('"')
        else:
            result[-1]["instructions"].append((line, keyword, rest))
    if not result:
        die(f"{path}: no FROM")
    return result


def exec_form(path: str, line: int, keyword: str, rest: str) -> list[str]:
    try:
        value = json.loads(rest)
    except json.JSONDecodeError:
        die(f"{path}:{line}: {keyword} must use the exec (JSON array) form")
    if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        die(f"{path}:{line}: {keyword} must be a non-empty JSON array of strings")
    return value


def cmd_entrypoint(dockerfile: str) -> None:
    final = stages(dockerfile)[-1]
    found = [i for i in final["instructions"] if i[1] == "ENTRYPOINT"]
    if not found:
        die(f"{dockerfile}: the final stage has no ENTRYPOINT")
    line, keyword, rest = found[-1]
    print(json.dumps(exec_form(dockerfile, line, keyword, rest)))


def cmd_final_stage(dockerfile: str) -> None:
    for _, keyword, rest in stages(dockerfile)[-1]["instructions"]:
        print(f"{keyword} {' '.join(rest.split())}")


def env_pairs(rest: str) -> list[tuple[str, str]]:
    words = shlex.split(rest)
    if words and "=" not in words[0]:  # legacy `ENV NAME value`
        return [(words[0], " ".join(words[1:]))]
    return [tuple(w.split("=", 1)) for w in words]  # type: ignore[misc]


def cmd_image_env(dockerfile: str) -> None:
    for _, keyword, rest in stages(dockerfile)[-1]["instructions"]:
        if keyword == "ENV":
            for name, value in env_pairs(rest):
                print(f"{name}={value}")


def copy_args(rest: str) -> tuple[dict[str, str], list[str], str]:
    words = shlex.split(rest)
    flags: dict[str, str] = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    if rest.lstrip().startswith("["):
        words = json.loads(rest[rest.index("[") :])
    if len(words) < 2:
        die(f"COPY needs a source and a destination: {rest}")
    return flags, words[:-1], words[-1]


def dockerignore_patterns(repo: Path) -> list[tuple[bool, str]]:
    path = repo / ".dockerignore"
    patterns: list[tuple[bool, str]] = []
    if path.exists():
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = line.lstrip("!").strip().lstrip("/")
            patterns.append((negate, os.path.normpath(line)))
    return patterns


def pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regular expression."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def ignored(rel: str, patterns: list[tuple[bool, str]]) -> bool:
    """Whether the build context leaves `rel` out: a pattern matches the path or one of its
    parent directories, and the last matching pattern wins (`!` re-includes)."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for negate, pattern in patterns:
        regex = pattern_regex(pattern)
        if any(regex.match(c) for c in candidates):
            result = not negate
    return result


def context_files(repo: Path, source: str, patterns: list[tuple[bool, str]]) -> list[Path]:
    """Files a COPY of `source` takes from the build context (.dockerignore applied)."""
    base = (repo / source).resolve()
    if not base.exists():
        die(f"COPY source {source} does not exist in the build context")
    if base.is_file():
        files = [base]
    else:
        prune = not any(negate for negate, _ in patterns)  # no `!` rule can re-include below
        files = []
        for directory, subdirs, names in os.walk(base):
            rel_dir = os.path.relpath(directory, repo)
            if prune:
                subdirs[:] = [
                    d for d in subdirs if not ignored(os.path.normpath(os.path.join(rel_dir, d)), patterns)
                ]
            files += [Path(directory) / n for n in names]
    kept = [f for f in sorted(files) if not ignored(os.path.relpath(f, repo), patterns)]
    if not kept:
        die(f"COPY source {source} is excluded by .dockerignore")
    return kept


def cmd_copy_sources(repo: str, dockerfile: str) -> None:
    root = Path(repo)
    patterns = dockerignore_patterns(root)
    count = 0
    for stage in stages(dockerfile):
        for _, keyword, rest in stage["instructions"]:
            if keyword in ("COPY", "ADD"):
                flags, sources, _ = copy_args(rest)
                if "from" in flags:
                    continue
                for source in sources:
                    context_files(root, source, patterns)
                    count += 1
    print(f"{count} COPY sources exist in the build context and are not .dockerignore'd")


def copy_into(files: list[Path], base: Path, dest: Path, single: bool) -> None:
    """Docker COPY: a directory source copies its contents; a file goes to dest (or into it)."""
    for file in files:
        if base.is_dir():
            target = dest / file.relative_to(base)
        elif single and not str(dest).endswith("/") and not dest.is_dir():
            target = dest
        else:
            target = dest / file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)


def cmd_dep_layer(repo: str, dockerfile: str, target: str) -> None:
    context, out = Path(repo).resolve(), Path(target).resolve()
    patterns = dockerignore_patterns(context)
    roots: dict[str, Path] = {}
    for index, stage in enumerate(stages(dockerfile)):
        root = out / str(index)
        root.mkdir(parents=True, exist_ok=True)
        roots[str(index)] = root
        if stage["name"]:
            roots[stage["name"]] = root
        cwd = root
        env = dict(os.environ)

        def at(path: str) -> Path:
            return root / path.lstrip("/") if path.startswith("/") else cwd / path

        for line, keyword, rest in stage["instructions"]:
            if keyword == "WORKDIR":
                cwd = at(rest)
                cwd.mkdir(parents=True, exist_ok=True)
            elif keyword == "ENV":
                env.update(env_pairs(rest))
            elif keyword == "COPY":
                flags, sources, dest = copy_args(rest)
                destination = at(dest)
                single = len(sources) == 1 and not dest.endswith("/")
                for source in sources:
                    if "from" in flags:
                        if flags["from"] not in roots:
                            die(f"{dockerfile}:{line}: COPY --from={flags['from']}: no such earlier stage")
                        base = roots[flags["from"]] / source.lstrip("/")
                        if not base.exists():
                            die(f"{dockerfile}:{line}: {source} does not exist in stage {flags['from']}")
                        files = sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else [base]
                    else:
                        base = (context / source).resolve()
                        files = context_files(context, source, patterns)
                    copy_into(files, base, destination, single)
            elif keyword == "RUN":
                if "cargo build" in rest:
                    print(cwd)
                    return
                if rest.lstrip().startswith("["):
                    die(f"{dockerfile}:{line}: exec-form RUN is not emulated")
                if re.search(r"(^|\s)/(?!dev/null)", rest):
                    die(f"{dockerfile}:{line}: RUN before the dependency build must use relative paths")
                done = subprocess.run(["sh", "-c", rest], cwd=cwd, env=env, stdout=sys.stderr)
                if done.returncode != 0:
                    die(f"{dockerfile}:{line}: RUN failed with status {done.returncode}")
            elif keyword in ("ARG", "LABEL", "SHELL"):
                continue
            else:
                die(f"{dockerfile}:{line}: {keyword} before the dependency build is not emulated")
    die(f"{dockerfile}: no stage runs `cargo build`")


# ------------------------------------------------------------------------------------------
# Compose
# ------------------------------------------------------------------------------------------


def interpolate(value: str) -> str:
    def repl(match: re.Match) -> str:
        name, op, default = match.group(1), match.group(2), match.group(3) or ""
        current = os.environ.get(name)
        if op == ":-":
            return current if current else default
        if op == "-":
            return current if current is not None else default
        return current or ""

    value = re.sub(r"\$\{(\w+)(?:(:?-)([^}]*))?\}", repl, value)
    return value.replace("$$", "$")


def cmd_compose_env(file: str, service: str) -> None:
    doc = yaml.safe_load(Path(file).read_text())
    environment = doc["services"][service].get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    for name, value in environment.items():
        print(f"{name}={interpolate('' if value is None else str(value))}")


def cmd_compose_get(file: str, path: str) -> None:
    node = yaml.safe_load(Path(file).read_text())
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    print(json.dumps(node) if isinstance(node, (list, dict)) else interpolate(str(node)))


# ------------------------------------------------------------------------------------------
# Helm
# ------------------------------------------------------------------------------------------


def load_values(files: list[str]) -> dict:
    merged: dict = {}

    def merge(into: dict, new: dict) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    for file in files:
        merge(merged, yaml.safe_load(Path(file).read_text()) or {})
    return merged


def cmd_helm(chart: str, outdir: str, kube_version: str, *value_files: str) -> None:
    import helm_python as helm

    values = load_values(list(value_files))
    report = helm.lint(chart, values or None, strict=True, kube_version=kube_version)
    problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    for message in report.get("messages", []):
        level = {1: "INFO", 2: "WARNING", 3: "ERROR"}.get(message.get("severity"), "?")
        print(f"  lint [{level}] {message.get('path')}: {message.get('error')}")
    if problems or report.get("errors"):
        die(f"helm lint --strict failed: {report.get('errors') or problems}")
    with helm.Chart.load(chart) as loaded:
        loaded.validate_schema(values or None)
        rendered = loaded.render(values or None, name="st", namespace="auth", is_install=True)
    Path(outdir).mkdir(parents=True, exist_ok=True)
    documents = []
    with open(Path(outdir) / "manifests.yaml", "w") as out:
        for name in sorted(rendered):
            if not name.endswith((".yaml", ".yml")):
                continue  # NOTES.txt (helm template does not print it either)
            docs = [d for d in yaml.safe_load_all(rendered[name]) if d]
            if not docs:
                continue
            documents += [(name, d) for d in docs]
            out.write(f"---\n# Source: {name}\n{rendered[name].strip()}\n")
    if "supertokens/templates/NOTES.txt" not in rendered:
        die("NOTES.txt did not render")
    for _, doc in documents:
        if doc.get("kind") == "ConfigMap" and "config.yaml" in doc.get("data", {}):
            (Path(outdir) / "config.yaml").write_text(doc["data"]["config.yaml"])
        if doc.get("kind") == "ConfigMap" and doc["metadata"]["name"].endswith("-env"):
            env_lines = [f"{k}={v}" for k, v in (doc.get("data") or {}).items()]
            (Path(outdir) / "env.txt").write_text("".join(f"{line}\n" for line in env_lines))
    kinds = [f"{d['kind']}/{d['metadata']['name']}" for _, d in documents]
    print(f"  rendered {len(documents)} objects: {', '.join(kinds)}")
    (Path(outdir) / "kinds.txt").write_text("\n".join(kinds) + "\n")
    (Path(outdir) / "NOTES.txt").write_text(rendered["supertokens/templates/NOTES.txt"])


def cmd_helm_must_fail(chart: str, *assignments: str) -> None:
    import helm_python as helm

    values: dict = {}
    for assignment in assignments:
        path, _, raw = assignment.partition("=")
        node = values
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = json.loads(raw)
    try:
        with helm.Chart.load(chart) as loaded:
            loaded.validate_schema(values)
            loaded.render(values, name="st", namespace="auth", is_install=True)
    except Exception as exc:  # noqa: BLE001 - any Helm error is the expected outcome
        reason = " ".join(str(exc).split()) or type(exc).__name__
        print(f"  rejected as expected ({' '.join(assignments)}): {reason[:200]}")
        return
    die(f"the chart accepted values it must reject: {' '.join(assignments)}")


def leaf_paths(node, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node:
        paths: list[str] = []
        for key, value in node.items():
            paths += leaf_paths(value, f"{prefix}.{key}" if prefix else key)
        return paths
    return [prefix]


def cmd_values_doc(chart: str) -> None:
    values = yaml.safe_load((Path(chart) / "values.yaml").read_text())
    readme = (Path(chart) / "README.md").read_text()
    documented = set(re.findall(r"^\|\s*`([^`]+)`\s*\|", readme, re.M))
    # Free-form maps (config, resources, security contexts, ...) are documented as a whole.
    free_form = {k for k in documented if isinstance(_lookup(values, k), dict)}
    missing = []
    for path in leaf_paths(values):
        if path in documented or any(path.startswith(f"{f}.") for f in free_form):
            continue
        missing.append(path)
    unknown = [d for d in documented if _lookup(values, d, missing_ok=True) is _MISSING]
    if missing:
        die("values.yaml paths missing from the README's value table: " + ", ".join(missing))
    if unknown:
        die("the README documents values that values.yaml does not have: " + ", ".join(sorted(unknown)))
    print(f"  all {len(leaf_paths(values))} value paths are documented in README.md")


_MISSING = object()


def _lookup(values, path: str, missing_ok: bool = False):
    node = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING if missing_ok else None
        node = node[part]
    return node


COMMANDS = {
    "entrypoint": cmd_entrypoint,
    "image-env": cmd_image_env,
    "final-stage": cmd_final_stage,
    "dep-layer": cmd_dep_layer,
    "copy-sources": cmd_copy_sources,
    "compose-env": cmd_compose_env,
    "compose-get": cmd_compose_get,
    "helm": cmd_helm,
    "helm-must-fail": cmd_helm_must_fail,
    "values-doc": cmd_values_doc,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        sys.exit(2)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
