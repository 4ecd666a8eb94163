#!/usr/bin/env python3
"""Offline checks of the Kubernetes manifests in deploy/kubernetes.

Renders with `kubectl kustomize`: the base, the base with each component, and each overlay.
Then, for every rendering:

1. every object is validated against a schema, strictly (unknown fields are errors): built-in
   kinds with the PyPI package kubernetes-validate (bundled Kubernetes OpenAPI schemas), the
   custom resources with the JSON schemas vendored in deploy/schemas/. An object of a kind with
   no schema fails; nothing is skipped.
2. the facts deploy/README.md promises are checked: probes on the daemon's /healthz and /readyz
   on the metrics port (the one in the config's http.listen), a termination grace period longer
   than kafka.drain_timeout plus the producer flush, resource requests on every container, the
   `check` init container mirroring the worker, the credentials Secret mounted, a PDB, Service
   and ServiceMonitor that select the workers, one namespace, at most one autoscaler and one
   that agrees with the config (group, topic, target), and so on.
3. the rendered config (the ConfigMap's outcry.toml and its other files) passes `outcry check`
   of this build, with the image paths /etc/outcry/... mapped to the repository's config/ and
   every path under the credentials mount (/var/run/secrets/outcry/: `*_file` keys,
   `kafka.ssl_*_location`) mapped, through `OUTCRY__…` environment overrides, to a temporary
   file with a dummy value. Only the Secret's documented keys (CREDENTIAL_KEYS) get a file, so a
   config naming any other file fails as the init container would; `outcry check` reads each
   file, so the credential keys are really exercised.

Usage: check_manifests.py [--outcry target/debug/outcry] [--k8s-version 1.30]
Exit code 1 with every problem listed.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/kubernetes"
SCHEMAS = ROOT / "deploy/schemas"
RULES = ROOT / "deploy/prometheus/outcry.rules.yml"

CUSTOM = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_v1_servicemonitor.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_v1_prometheusrule.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_v1alpha1_scaledobject.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda.sh_v1alpha1_triggerauthentication.json",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
CREDENTIALS_SECRET = "outcry-credentials"
CREDENTIALS_DIR = "/var/run/secrets/outcry"
CREDENTIAL_KEYS = {"kafka-username", "kafka-password", "kafka-ca.crt", "kafka-certificate.crt",
                   "kafka-key.pem", "kafka-key-password", "redis-username", "redis-password"}
# The KEDA Kafka scaler's `sasl` for each kafka.sasl_mechanism.
KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}
PRODUCER_FLUSH_S = 5  # outcry flushes the producer for up to 5s after the drain

DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|msec|s|sec|secs|m|min|mins|h|hr|hrs|d|day|days)")
UNIT_S = {"ms": 0.001, "msec": 0.001, "s": 1, "sec": 1, "secs": 1, "m": 60, "min": 60,
          "mins": 60, "h": 3600, "hr": 3600, "hrs": 3600, "d": 86400, "day": 86400,
          "days": 86400}


def seconds(text):
    """A humantime duration ("20s", "1m 30s", "500ms") in seconds."""
    total, rest = 0.0, text.strip()
    for m in DURATION.finditer(rest):
        total += float(m.group(1)) * UNIT_S[m.group(2)]
    if not DURATION.search(rest):
        raise ValueError(f"not a duration: {text!r}")
    return total


def targets(workdir):
    """(name, kustomization directory) for every rendering to check."""
    out = [("base", K8S / "base")]
    for comp in sorted(p for p in (K8S / "components").iterdir() if p.is_dir()):
        d = Path(workdir) / f"with-{comp.name}"
        d.mkdir()
        rel = os.path.relpath(K8S, d)
        (d / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "namespace: outcry\n"
            f"resources:\n  - {rel}/base\ncomponents:\n  - {rel}/components/{comp.name}\n"
        )
        out.append((f"base + components/{comp.name}", d))
    for ov in sorted(p for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").exists()):
        out.append((f"overlays/{ov.name}", ov))
    return out


class Check:
    def __init__(self, name):
        self.name = name
        self.problems = []

    def expect(self, cond, msg):
        if not cond:
            self.problems.append(msg)
        return cond


def validate_schema(chk, docs, k8s_version, custom_schemas):
    for d in docs:
        kind, api = d.get("kind"), d.get("apiVersion")
        label = f"{kind}/{d.get('metadata', {}).get('name')}"
        key = (api, kind)
        if key in custom_schemas:
            v = jsonschema.Draft7Validator(custom_schemas[key])
            for e in sorted(v.iter_errors(d), key=lambda e: list(e.absolute_path)):
                path = ".".join(str(p) for p in e.absolute_path)
                chk.problems.append(f"{label}: {path}: {e.message}")
            continue
        try:
            kubernetes_validate.validate(d, k8s_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            chk.problems.append(
                f"{label}: no schema for {api} {kind} (neither Kubernetes {k8s_version} nor "
                "deploy/schemas/): add one, objects are never skipped"
            )
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            chk.problems.append(f"{label}: {path}: {e.message}")


def subset(small, big):
    return bool(small) and all(big.get(k) == v for k, v in small.items())


def env_values(container):
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def check_facts(chk, docs, is_overlay):
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    deps = by_kind.get("Deployment", [])
    if not chk.expect(len(deps) == 1, f"expected one Deployment, found {len(deps)}"):
        return None
    dep = deps[0]
    name = dep["metadata"]["name"]
    pod = dep["spec"]["template"]
    pod_labels = pod["metadata"].get("labels", {})
    spec = pod["spec"]
    containers = {c["name"]: c for c in spec.get("containers", [])}
    inits = {c["name"]: c for c in spec.get("initContainers", [])}
    worker = containers.get("outcry")
    if not chk.expect(worker is not None, "Deployment has no container named outcry"):
        return None

    # namespaces
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] not in CLUSTER_SCOPED}
    chk.expect(len(namespaces) == 1 and None not in namespaces,
               f"namespaced objects must share one namespace, found {sorted(map(str, namespaces))}")
    ns_objs = [d["metadata"]["name"] for d in by_kind.get("Namespace", [])]
    chk.expect(not ns_objs or namespaces <= set(ns_objs),
               f"objects are in {sorted(map(str, namespaces))} but the Namespace is {ns_objs}")

    # the config the worker reads
    args = worker.get("args", [])
    chk.expect(args[:1] == ["run"], f"worker args should start with run: {args}")
    cfg_path = args[args.index("--config") + 1] if "--config" in args else None
    mounts = {m["name"]: m for m in worker.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    config = files = None
    for vname, m in mounts.items():
        if cfg_path and cfg_path.startswith(m["mountPath"].rstrip("/") + "/"):
            vol = volumes.get(vname, {})
            cm_name = vol.get("configMap", {}).get("name")
            cms = [c for c in by_kind.get("ConfigMap", []) if c["metadata"]["name"] == cm_name]
            key = cfg_path[len(m["mountPath"].rstrip("/")) + 1:]
            if chk.expect(cms and key in cms[0].get("data", {}),
                          f"--config {cfg_path}: no ConfigMap {cm_name} with key {key} in the rendering"):
                files = cms[0]["data"]
                try:
                    config = tomllib.loads(files[key])
                except tomllib.TOMLDecodeError as e:
                    chk.problems.append(f"ConfigMap {cm_name}/{key}: not TOML: {e}")
    chk.expect(config is not None, f"the worker's --config {cfg_path} is not in a mounted ConfigMap")
    config = config or {}
    env = env_values(worker)

    def setting(section_key, env_name, default):
        if env_name in env:
            return env[env_name]
        node = config
        for part in section_key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    listen = setting("http.listen", "OUTCRY__HTTP__LISTEN", "0.0.0.0:9464")
    drain = setting("kafka.drain_timeout", "OUTCRY__KAFKA__DRAIN_TIMEOUT", "20s")
    group = setting("kafka.group_id", "OUTCRY__KAFKA__GROUP_ID", "outcry")
    raw_topic = setting("kafka.topics.raw", "OUTCRY__KAFKA__TOPICS__RAW", "social.raw")
    brokers = setting("kafka.brokers", "OUTCRY__KAFKA__BROKERS", "localhost:9092")
    protocol = str(setting("kafka.security_protocol", "OUTCRY__KAFKA__SECURITY_PROTOCOL", "plaintext"))
    mechanism = setting("kafka.sasl_mechanism", "OUTCRY__KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    ca_location = setting("kafka.ssl_ca_location", "OUTCRY__KAFKA__SSL_CA_LOCATION", "")

    # probes on the metrics port of http.listen
    ports = {p.get("name"): p["containerPort"] for p in worker.get("ports", [])}
    listen_port = int(str(listen).rsplit(":", 1)[1]) if listen else None
    chk.expect(listen_port is not None, "http.listen is empty: no probes or metrics")
    chk.expect(ports.get("metrics") == listen_port,
               f"container port `metrics` is {ports.get('metrics')}, http.listen is {listen}")

    def probe(kind, path):
        p = worker.get(kind)
        if not chk.expect(p is not None, f"worker has no {kind}"):
            return
        get = p.get("httpGet", {})
        port = get.get("port")
        port = ports.get(port) if isinstance(port, str) else port
        chk.expect(get.get("path") == path and port == listen_port,
                   f"{kind} should GET {path} on {listen_port}, has {get.get('path')} on {get.get('port')}")

    probe("livenessProbe", "/healthz")
    probe("readinessProbe", "/readyz")
    if "startupProbe" in worker:
        probe("startupProbe", "/readyz")

    # shutdown
    grace = spec.get("terminationGracePeriodSeconds", 30)
    need = seconds(str(drain)) + PRODUCER_FLUSH_S
    chk.expect(grace > need,
               f"terminationGracePeriodSeconds {grace} must exceed kafka.drain_timeout {drain} "
               f"+ {PRODUCER_FLUSH_S}s producer flush")

    # resources and security
    for c in list(containers.values()) + list(inits.values()):
        req = c.get("resources", {}).get("requests", {})
        chk.expect("cpu" in req and "memory" in req, f"container {c['name']}: set cpu and memory requests")
        chk.expect("memory" in c.get("resources", {}).get("limits", {}),
                   f"container {c['name']}: set a memory limit")
        sc = c.get("securityContext", {})
        chk.expect(sc.get("allowPrivilegeEscalation") is False and sc.get("readOnlyRootFilesystem") is True,
                   f"container {c['name']}: allowPrivilegeEscalation false and readOnlyRootFilesystem true")
    psc = spec.get("securityContext", {})
    chk.expect(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0,
               "pod must run as non-root (runAsNonRoot, runAsUser != 0)")

    # the check init container mirrors the worker
    chk_c = inits.get("check")
    if chk.expect(chk_c is not None, "no `check` init container"):
        for field in ("image", "env", "envFrom", "volumeMounts"):
            chk.expect(chk_c.get(field) == worker.get(field),
                       f"init container check: {field} differs from the worker's")
        chk.expect(chk_c.get("args") == ["check", "--config", cfg_path],
                   f"init container check should run `check --config {cfg_path}`: {chk_c.get('args')}")

    # credentials
    cred = [v for v in volumes.values() if v.get("secret", {}).get("secretName") == CREDENTIALS_SECRET]
    if chk.expect(len(cred) == 1, f"no volume from the Secret {CREDENTIALS_SECRET}"):
        chk.expect(mounts.get(cred[0]["name"], {}).get("mountPath") == CREDENTIALS_DIR,
                   f"the Secret {CREDENTIALS_SECRET} must be mounted at {CREDENTIALS_DIR}")
    for e in worker.get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref and ref.get("name") == CREDENTIALS_SECRET:
            chk.expect(ref.get("key") in CREDENTIAL_KEYS, f"env {e['name']}: unknown key {ref.get('key')}")

    # rollout
    strat = dep["spec"].get("strategy", {}).get("rollingUpdate", {})
    chk.expect(str(strat.get("maxUnavailable")) == "0", "rollingUpdate.maxUnavailable should be 0")
    chk.expect(subset(dep["spec"]["selector"].get("matchLabels", {}), pod_labels),
               "Deployment selector does not match its pod labels")

    # PDB, Service, ServiceMonitor
    pdbs = by_kind.get("PodDisruptionBudget", [])
    if chk.expect(len(pdbs) == 1, f"expected one PodDisruptionBudget, found {len(pdbs)}"):
        s = pdbs[0]["spec"]
        chk.expect(subset(s.get("selector", {}).get("matchLabels", {}), pod_labels),
                   "the PodDisruptionBudget does not select the workers")
        chk.expect("maxUnavailable" in s or "minAvailable" in s, "the PDB sets neither maxUnavailable nor minAvailable")
    svcs = [s for s in by_kind.get("Service", []) if subset(s["spec"].get("selector", {}), pod_labels)]
    if chk.expect(len(svcs) == 1, "expected one Service selecting the workers"):
        svc = svcs[0]
        sports = {p.get("name"): p for p in svc["spec"].get("ports", [])}
        chk.expect(any(p.get("targetPort") in ("metrics", listen_port) for p in sports.values()),
                   "the Service has no port targeting the metrics port")
        sms = by_kind.get("ServiceMonitor", [])
        if chk.expect(len(sms) == 1, f"expected one ServiceMonitor, found {len(sms)}"):
            sm = sms[0]["spec"]
            chk.expect(subset(sm["selector"].get("matchLabels", {}), svc["metadata"].get("labels", {})),
                       "the ServiceMonitor does not select the Service")
            for ep in sm.get("endpoints", []):
                chk.expect(ep.get("port") in sports, f"ServiceMonitor endpoint port {ep.get('port')} is not a Service port")
                chk.expect(ep.get("path", "/metrics") == "/metrics", "ServiceMonitor path should be /metrics")
    rules = by_kind.get("PrometheusRule", [])
    if chk.expect(len(rules) == 1, f"expected one PrometheusRule, found {len(rules)}"):
        chk.expect(rules[0]["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"],
                   "the PrometheusRule's groups differ from deploy/prometheus/outcry.rules.yml "
                   "(python3 scripts/ops/prometheusrule.py --write)")

    # autoscaling
    sos, hpas = by_kind.get("ScaledObject", []), by_kind.get("HorizontalPodAutoscaler", [])
    chk.expect(len(sos) + len(hpas) <= 1, "at most one autoscaler: a ScaledObject or an HPA, not both")
    if is_overlay:
        chk.expect(sos or hpas, "the overlay should pick an autoscaler (components/keda or components/hpa)")
        chk.expect(worker["image"] != "outcry" and ":" in worker["image"],
                   f"the overlay should set the image (images:), it is {worker['image']}")
    replicas = dep["spec"].get("replicas", 1)
    for so in sos:
        s = so["spec"]
        ref = s["scaleTargetRef"]
        chk.expect(ref["name"] == name and ref.get("kind", "Deployment") == "Deployment",
                   f"ScaledObject scales {ref}, not Deployment {name}")
        lo, hi = s.get("minReplicaCount", 0), s.get("maxReplicaCount", 100)
        chk.expect(lo >= 1, "ScaledObject minReplicaCount should be at least 1")
        chk.expect(hi >= lo, "ScaledObject maxReplicaCount < minReplicaCount")
        if is_overlay:
            chk.expect(replicas == lo, f"Deployment replicas {replicas} should equal minReplicaCount {lo}")
        kafka = [t for t in s["triggers"] if t["type"] == "kafka"]
        if chk.expect(len(kafka) == 1, "ScaledObject needs one kafka trigger"):
            m = kafka[0]["metadata"]
            chk.expect(m.get("consumerGroup") == group,
                       f"kafka trigger consumerGroup {m.get('consumerGroup')} != kafka.group_id {group}")
            chk.expect(m.get("topic") == raw_topic,
                       f"kafka trigger topic {m.get('topic')} != kafka.topics.raw {raw_topic}")
            chk.expect(str(m.get("lagThreshold", "")).isdigit() and int(m["lagThreshold"]) > 0,
                       "kafka trigger needs a positive lagThreshold")
            # The scaler must connect as the workers do: same SASL mechanism, TLS on or off.
            auth = kafka[0].get("authenticationRef")
            tas = [t for t in by_kind.get("TriggerAuthentication", [])
                   if auth and t["metadata"]["name"] == auth["name"]]
            params = dict(m)
            for ref in (tas[0]["spec"].get("secretTargetRef", []) if tas else []):
                params.setdefault(ref["parameter"], f"<secret {ref['key']}>")
            sasl_want = KEDA_SASL.get(str(mechanism), f"? ({mechanism})") if protocol.startswith("sasl_") else "none"
            chk.expect(params.get("sasl", "none") == sasl_want,
                       f"kafka trigger sasl {params.get('sasl', 'none')!r} but the workers use "
                       f"kafka.security_protocol {protocol!r}, sasl_mechanism {mechanism!r}: want {sasl_want!r}")
            tls_want = "enable" if protocol in ("ssl", "sasl_ssl") else "disable"
            chk.expect(params.get("tls", "disable") == tls_want,
                       f"kafka trigger tls {params.get('tls', 'disable')!r} but kafka.security_protocol is {protocol!r}")
            if ca_location and tls_want == "enable":
                chk.expect("ca" in params, "the workers trust kafka.ssl_ca_location, but the kafka "
                           "trigger has no `ca` (TriggerAuthentication parameter)")
            if is_overlay:
                chk.expect(m.get("bootstrapServers") == brokers,
                           f"kafka trigger bootstrapServers {m.get('bootstrapServers')} != the workers' brokers {brokers}")
            auth = kafka[0].get("authenticationRef")
            if auth:
                tas = [t for t in by_kind.get("TriggerAuthentication", []) if t["metadata"]["name"] == auth["name"]]
                if chk.expect(tas, f"authenticationRef {auth['name']}: no TriggerAuthentication"):
                    for ref in tas[0]["spec"].get("secretTargetRef", []):
                        chk.expect(ref["name"] == CREDENTIALS_SECRET and ref["key"] in CREDENTIAL_KEYS,
                                   f"TriggerAuthentication reads {ref['name']}/{ref['key']}, not {CREDENTIALS_SECRET}")
    for hpa in hpas:
        s = hpa["spec"]
        chk.expect(s["scaleTargetRef"]["name"] == name and s["scaleTargetRef"]["kind"] == "Deployment",
                   f"HPA scales {s['scaleTargetRef']}, not Deployment {name}")
        chk.expect(s.get("minReplicas", 1) >= 1 and s["maxReplicas"] >= s.get("minReplicas", 1),
                   "HPA replica bounds")
        ext = [m for m in s.get("metrics", []) if m["type"] == "External"]
        if chk.expect(ext, "the HPA should scale on an External metric (consumer lag)"):
            sel = ext[0]["external"]["metric"].get("selector", {}).get("matchLabels", {})
            chk.expect(sel.get("consumergroup") == group and sel.get("topic") == raw_topic,
                       f"HPA metric selector {sel} should name group {group} and topic {raw_topic}")
    return files, cfg_path, env


def outcry_check(chk, outcry, files, cfg_path, env):
    """`outcry check` on the rendered ConfigMap, the image's /etc/outcry/ mapped to config/."""
    key = Path(cfg_path).name
    with tempfile.TemporaryDirectory() as d:
        for k, v in files.items():
            (Path(d) / k).write_text(v)
        cfg = tomllib.loads(files[key])
        run_env = {k: v for k, v in os.environ.items() if not k.startswith("OUTCRY__")}
        run_env.update(env)
        packs = cfg.get("rules", {}).get("packs")
        if packs:
            def where(p):
                # The ConfigMap's own files (mounted at /etc/outcry/site/) are in d; the rest of
                # /etc/outcry/ is the image's copy of config/.
                if p.startswith("/etc/outcry/site/"):
                    return str(Path(d) / p[len("/etc/outcry/site/"):])
                if p.startswith("/etc/outcry/"):
                    return str(ROOT / "config" / p[len("/etc/outcry/"):])
                return p
            mapped = [where(p) for p in packs]
            run_env["OUTCRY__RULES__PACKS"] = json.dumps(mapped)
        snap = cfg.get("crm", {}).get("snapshot")
        if isinstance(snap, str) and snap.startswith("/etc/outcry/"):
            run_env["OUTCRY__CRM__SNAPSHOT"] = str(ROOT / "config" / snap[len("/etc/outcry/"):])
        # The Secret outcry-credentials, as the pod would see it: one dummy file per key.
        secrets = Path(d) / "credentials"
        secrets.mkdir()
        for k in CREDENTIAL_KEYS:
            (secrets / k).write_text(f"dummy-{k}\n")
        prefix = CREDENTIALS_DIR + "/"
        overrides = {}

        def walk(node, path):
            for k, v in node.items():
                if isinstance(v, dict):
                    walk(v, path + [k])
                elif isinstance(v, str) and v.startswith(prefix):
                    overrides["OUTCRY__" + "__".join(p.upper() for p in path + [k])] = v
        walk(cfg, [])
        overrides.update({k: v for k, v in env.items() if k.startswith("OUTCRY__") and v.startswith(prefix)})
        for var, path in sorted(overrides.items()):
            name = path[len(prefix):]
            chk.expect(name in CREDENTIAL_KEYS,
                       f"{var[len('OUTCRY__'):].lower().replace('__', '.')} = {path!r}: the Secret "
                       f"{CREDENTIALS_SECRET} has no key {name!r} (its keys: {', '.join(sorted(CREDENTIAL_KEYS))})")
            run_env[var] = str(secrets / name)
        r = subprocess.run([outcry, "check", "--config", str(Path(d) / key)], env=run_env,
                           capture_output=True, text=True)
        chk.expect(r.returncode == 0, f"outcry check refuses the rendered {key}:\n{r.stdout}{r.stderr}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outcry", default=str(ROOT / "target/debug/outcry"))
    ap.add_argument("--k8s-version", default="1.30")
    a = ap.parse_args()
    custom = {k: json.loads((SCHEMAS / f).read_text()) for k, f in CUSTOM.items()}
    failed = False
    with tempfile.TemporaryDirectory() as work:
        for name, path in targets(work):
            chk = Check(name)
            r = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL {name}: kubectl kustomize: {r.stderr.strip()}")
                failed = True
                continue
            docs = [d for d in yaml.safe_load_all(r.stdout) if d]
            validate_schema(chk, docs, a.k8s_version, custom)
            facts = check_facts(chk, docs, name.startswith("overlays/"))
            if facts and facts[0] is not None and os.path.exists(a.outcry):
                outcry_check(chk, a.outcry, *facts)
            elif not os.path.exists(a.outcry):
                chk.problems.append(f"{a.outcry} not found: build it first (cargo build)")
            kinds = ", ".join(sorted({d["kind"] for d in docs}))
            if chk.problems:
                failed = True
                print(f"FAIL {name} ({len(docs)} objects)")
                for p in chk.problems:
                    print(f"  - {p}")
            else:
                print(f"ok   {name}: {len(docs)} objects valid (Kubernetes {a.k8s_version}, strict; {kinds})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
