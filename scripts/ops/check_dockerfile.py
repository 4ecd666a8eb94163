#!/usr/bin/env python3
"""Static checks of deploy/Dockerfile against Cargo.toml (CI has no Docker daemon to build it).

The shared libraries the binary links depend on the features the crates are built with; this
checks that the image provides them:

- rdkafka with `ssl` (not `ssl-vendored`) links the system OpenSSL: the builder must have its
  headers and pkg-config (rust:1-<debian release> does: its buildpack-deps base has
  libssl-dev; else the builder stage must apt-get install libssl-dev), and the runtime stage
  must apt-get install libssl3, from the same Debian release as the builder (the soname differs
  between releases: trixie ships libssl3t64);
- rdkafka with `gssapi` links Cyrus SASL: libsasl2-dev to build, libsasl2-2 at runtime;
- any TLS at all (rdkafka `ssl`/`ssl-vendored`, redis `tls-*`): ca-certificates at runtime;
- the runtime stage runs `outcry --version` (a missing shared library fails the build), runs as
  a non-root USER.

Usage: check_dockerfile.py [deploy/Dockerfile]. Exit code 1 with every problem listed.
"""
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def stages(text):
    """[(base image, body)] per FROM, with line continuations joined."""
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        m = re.match(r"\s*FROM\s+(\S+)", line, re.I)
        if m:
            out.append([m.group(1), ""])
        elif out and not line.lstrip().startswith("#"):
            out[-1][1] += line + "\n"
    return out


def apt_installs(body):
    pkgs = set()
    for m in re.finditer(r"apt-get\s+install\s+([^&;|]*)", body):
        pkgs |= {w for w in m.group(1).split() if not w.startswith("-")}
    return pkgs


def release(image):
    m = re.search(r"(bookworm|bullseye|trixie|buster)", image)
    return m.group(1) if m else None


def main():
    dockerfile = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT / "deploy/Dockerfile"
    shown = dockerfile.relative_to(ROOT) if dockerfile.is_relative_to(ROOT) else dockerfile
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    deps = cargo.get("dependencies", {})

    def features(name):
        d = deps.get(name, {})
        return set(d.get("features", [])) if isinstance(d, dict) else set()

    rdkafka, redis = features("rdkafka"), features("redis")
    st = stages(dockerfile.read_text())
    problems = []
    if len(st) < 2:
        sys.exit(f"FAIL {dockerfile}: expected a builder and a runtime stage")
    (build_img, build), (run_img, run) = st[0], st[-1]
    build_pkgs, run_pkgs = apt_installs(build), apt_installs(run)
    needs = []
    if "ssl" in rdkafka and "ssl-vendored" not in rdkafka:
        needs.append("OpenSSL (rdkafka `ssl`)")
        if not (build_img.startswith("rust:") and release(build_img)) and "libssl-dev" not in build_pkgs:
            problems.append(f"builder {build_img}: install libssl-dev and pkg-config for rdkafka's `ssl`")
        if "libssl3" not in run_pkgs:
            problems.append("runtime stage: apt-get install libssl3 (rdkafka `ssl` links the system OpenSSL)")
        if release(build_img) != release(run_img):
            problems.append(f"builder {build_img} and runtime {run_img} are different Debian releases: "
                            "OpenSSL's soname differs")
    if "gssapi" in rdkafka:
        needs.append("Cyrus SASL (rdkafka `gssapi`)")
        if "libsasl2-2" not in run_pkgs:
            problems.append("runtime stage: apt-get install libsasl2-2 (rdkafka `gssapi`)")
        if "libsasl2-dev" not in build_pkgs:
            problems.append("builder: apt-get install libsasl2-dev (rdkafka `gssapi`)")
    if rdkafka & {"ssl", "ssl-vendored"} or any(f.startswith("tls") for f in redis):
        needs.append("a CA bundle (TLS)")
        if "ca-certificates" not in run_pkgs:
            problems.append("runtime stage: apt-get install ca-certificates (TLS is built in)")
    if not re.search(r"^RUN\b.*\boutcry --version", run, re.M):
        problems.append("runtime stage: RUN outcry --version, so a missing shared library fails the build")
    users = re.findall(r"^USER\s+(\S+)", run, re.M)
    if not users or users[-1].split(":")[0] in ("0", "root"):
        problems.append("runtime stage: end with a non-root USER")
    for p in problems:
        print(f"  - {p}")
    if problems:
        print(f"FAIL {shown}")
        return 1
    print(f"ok   {shown}: {build_img} -> {run_img}, runtime has "
          f"{', '.join(sorted(run_pkgs))} for {'; '.join(needs) or 'no extra library'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
