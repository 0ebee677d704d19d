"""deploy/k8s against augur itself: the ConfigMap's augur.yaml, with the environment the container
gives augur (POD_NAME from the downward API, AUGUR_ADMIN_TOKEN from the Secret), passes `augur
check-config`, and fails naming the variable when one is missing; the container ports, httpGet
probes and Services point at the listen and admin addresses of that config; the grace period
covers the drain; and against a live augur with that config the probes answer as the kubelet
needs (no token), /metrics still wants the Secret's token, and readiness fails while augur
drains. Needs PyYAML (python3-yaml)."""

import os
import re
import signal
import subprocess
import tempfile
import unittest

import yaml

from harness import AUGUR_BIN, Augur, IntegrationTest, request, wait_until

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
K8S = os.path.join(REPO, "deploy", "k8s")
PROBE = os.path.join(REPO, "deploy", "augur-probe")
POD = "augur-6d5f8c7b9-x2x4q"
# Characters YAML, a shell or a second expansion could treat specially: augur must take the
# Secret's bytes as they are (the variable's value is not expanded again).
TOKEN = "s3cr'et\"\\&$x%`y ${POD_NAME}"


def manifests():
    with open(os.path.join(K8S, "kustomization.yaml")) as f:
        resources = yaml.safe_load(f)["resources"]
    docs = []
    for name in resources:
        with open(os.path.join(K8S, name)) as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
    return docs


def find(docs, kind, name):
    for d in docs:
        if d["kind"] == kind and d["metadata"]["name"] == name:
            return d
    raise AssertionError(f"no {kind} {name} in deploy/k8s")


def seconds(duration):
    """augur's durations (README "Configuration"): 1m30s, 250ms, 90s; a bare number is ms."""
    if isinstance(duration, (int, float)):
        return duration / 1000
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}
    parts = re.findall(r"([0-9.]+)(h|ms|us|m|s)", duration)
    assert "".join(n + u for n, u in parts) == duration, f"not a duration: {duration}"
    return sum(float(n) * units[u] for n, u in parts)


def port_of(endpoint):
    return int(endpoint.rpartition(":")[2])


class K8sConfig(IntegrationTest):
    @classmethod
    def setUpClass(cls):
        cls.docs = manifests()
        cls.deployment = find(cls.docs, "Deployment", "augur")
        pod = cls.deployment["spec"]["template"]["spec"]
        cls.pod = pod
        cls.container = next(c for c in pod["containers"] if c["name"] == "augur")
        cls.configmap = find(cls.docs, "ConfigMap", "augur-config")
        cls.text = cls.configmap["data"]["augur.yaml"]

    def container_env(self, token=TOKEN):
        """The environment the kubelet gives augur: each `env` entry resolved from the downward
        API (the pod's name) or the Secret augur-admin (token). None leaves the token out, as a
        Secret without the key would if the reference were optional."""
        env = {"PATH": os.environ["PATH"]}
        for var in self.container["env"]:
            source = var.get("valueFrom", {})
            if "fieldRef" in source:
                self.assertEqual(source["fieldRef"]["fieldPath"], "metadata.name", var["name"])
                env[var["name"]] = POD
            elif "secretKeyRef" in source:
                self.assertEqual(source["secretKeyRef"], {"name": "augur-admin", "key": "token"})
                if token is not None:
                    env[var["name"]] = token
            else:
                env[var["name"]] = var["value"]
        return env

    def config_file(self, tmp, text=None):
        """The ConfigMap's augur.yaml where the configMap volume puts it for augur's --config."""
        args = self.container["args"]
        config_path = args[args.index("--config") + 1]
        mounts = {m["mountPath"]: m["name"] for m in self.container["volumeMounts"]}
        mount = next(m for m in mounts if config_path.startswith(m + "/"))
        volume = next(v for v in self.pod["volumes"] if v["name"] == mounts[mount])
        self.assertEqual(volume["configMap"]["name"], self.configmap["metadata"]["name"])
        key = config_path[len(mount) + 1:]
        self.assertIn(key, self.configmap["data"])
        path = os.path.join(tmp, key)
        with open(path, "w") as f:
            f.write(self.configmap["data"][key] if text is None else text)
        return path

    def check_config(self, env, text=None):
        with tempfile.TemporaryDirectory() as tmp:
            path = self.config_file(tmp, text)
            got = subprocess.run([AUGUR_BIN, "check-config", path], env=env, capture_output=True,
                                 text=True, timeout=30)
            return got, path

    def test_configmap_passes_check_config_with_the_containers_environment(self):
        got, _ = self.check_config(self.container_env())
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertIn(": ok (1 upstream(s)", got.stdout)
        # The secret and the pod name come from the environment: the ConfigMap holds neither,
        # and every variable it names is one the container sets.
        cfg = yaml.safe_load(self.text)
        self.assertEqual(cfg["admin"]["token"], "${AUGUR_ADMIN_TOKEN}")
        self.assertEqual(cfg["store"]["replica"], "${POD_NAME}")
        self.assertEqual(cfg["store"]["kind"], "redis")
        named = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", self.text))
        self.assertEqual(named, {v["name"] for v in self.container["env"]})

    def test_check_config_fails_naming_a_missing_variable(self):
        got, path = self.check_config(self.container_env(token=None))
        self.assertEqual(got.returncode, 2, got.stdout)
        line = next(i for i, l in enumerate(self.text.splitlines(), 1)
                    if "${AUGUR_ADMIN_TOKEN}" in l)
        self.assertIn(f"{path}:{line}: admin.token: environment variable AUGUR_ADMIN_TOKEN is not "
                      "set", got.stderr)
        # Without the downward API: store.replica.
        env = self.container_env()
        del env["POD_NAME"]
        got, _ = self.check_config(env)
        self.assertEqual(got.returncode, 2)
        self.assertIn("store.replica: environment variable POD_NAME is not set", got.stderr)
        # `echo TOKEN | kubectl create secret --from-file` leaves a newline in the token, which no
        # Authorization header can carry: refused at start rather than a 401 forever.
        got, _ = self.check_config(self.container_env(token="abc\n"))
        self.assertEqual(got.returncode, 2)
        self.assertIn("admin.token", got.stderr)
        self.assertIn("line break", got.stderr)

    def test_no_init_container_and_nothing_writable(self):
        self.assertNotIn("initContainers", self.pod)
        self.assertTrue(self.container["securityContext"]["readOnlyRootFilesystem"])
        # augur writes nothing (access log to stdout, learning to Redis): its only volume is the
        # ConfigMap, read-only.
        for m in self.container["volumeMounts"]:
            self.assertTrue(m.get("readOnly"), m)
        self.assertEqual([list(set(v) - {"name"}) for v in self.pod["volumes"]], [["configMap"]])
        cfg = yaml.safe_load(self.text)
        self.assertEqual(cfg["access_log"], "stdout")
        self.assertNotIn("snapshot_file", cfg["store"])

    def test_ports_probes_and_services_match_the_config(self):
        cfg = yaml.safe_load(self.text)
        listen, admin = cfg["listen"], cfg["admin"]["listen"]
        # Services and the kubelet reach the pod's IP, not its loopback.
        for endpoint in (listen, admin):
            self.assertTrue(endpoint.startswith(("0.0.0.0:", "[::]:", ":")), endpoint)
        ports = {p["name"]: p["containerPort"] for p in self.container["ports"]}
        self.assertEqual(ports, {"http": port_of(listen), "admin": port_of(admin)})

        def container_port(port):
            return ports[port] if isinstance(port, str) else port

        # httpGet probes on the admin listener, no headers (nothing from a Secret).
        expected = {"startupProbe": "/readyz", "readinessProbe": "/readyz",
                    "livenessProbe": "/healthz"}
        for probe, path in expected.items():
            self.assertEqual(set(self.container[probe]) & {"exec", "tcpSocket", "grpc"}, set(),
                             probe)
            get = self.container[probe]["httpGet"]
            self.assertEqual(get["path"], path, probe)
            self.assertEqual(container_port(get["port"]), port_of(admin), probe)
            self.assertEqual(get.get("scheme", "HTTP"), "HTTP", probe)
            self.assertNotIn("httpHeaders", get, probe)

        # Each Service's targetPort resolves to the container port of the listener it is for.
        def target(svc_name):
            svc = find(self.docs, "Service", svc_name)
            labels = self.deployment["spec"]["template"]["metadata"]["labels"]
            self.assertTrue(all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()))
            (port,) = svc["spec"]["ports"]
            return container_port(port["targetPort"])

        self.assertEqual(target("augur"), port_of(listen))
        self.assertEqual(target("augur-admin"), port_of(admin))

        # The optional ServiceMonitor scrapes /metrics on the admin Service's port, with the
        # token (augur still asks for it there).
        with open(os.path.join(K8S, "monitoring", "servicemonitor.yaml")) as f:
            monitor = yaml.safe_load(f)
        admin_svc = find(self.docs, "Service", "augur-admin")
        (endpoint,) = monitor["spec"]["endpoints"]
        self.assertEqual(endpoint["path"], "/metrics")
        self.assertEqual(endpoint["port"], admin_svc["spec"]["ports"][0]["name"])
        self.assertEqual(endpoint["authorization"]["credentials"],
                         {"name": "augur-admin", "key": "token"})

    def test_grace_period_covers_prestop_delay_and_drain(self):
        cfg = yaml.safe_load(self.text)
        command = self.container["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(command[0], "sleep")
        pause = float(command[1])
        self.assertGreater(pause, 0)
        drain = seconds(cfg.get("shutdown_delay", "0s")) + seconds(cfg.get("shutdown_timeout", "30s"))
        self.assertGreater(self.pod["terminationGracePeriodSeconds"], pause + drain)

    def test_dockerfile_healthcheck_asks_the_admin_port_of_its_command(self):
        with open(os.path.join(REPO, "Dockerfile")) as f:
            dockerfile = f.read()
        self.assertIn("COPY deploy/augur-probe /usr/local/bin/augur-probe", dockerfile)
        check = re.search(r'^HEALTHCHECK .*\\\n\s*CMD \["augur-probe", "/healthz", "([^"]+)"\]',
                          dockerfile, re.M)
        self.assertIsNotNone(check, "no HEALTHCHECK running augur-probe /healthz")
        cmd = re.search(r'^CMD \[(.*)\]$', dockerfile, re.M).group(1)
        admin_listen = re.search(r'"--admin-listen", "([^"]+)"', cmd).group(1)
        self.assertEqual(port_of(check.group(1)), port_of(admin_listen))

    def http_probe(self, probe, admin_port):
        """The kubelet's httpGet probe: GET path on the admin port, no Authorization header (the
        pod IP becomes loopback, the port augur's ephemeral one). Returns the status."""
        return request(admin_port, "GET", self.container[probe]["httpGet"]["path"],
                       timeout=5).status

    def augur_probe(self, admin_port, path="/healthz"):
        """The Dockerfile's HEALTHCHECK, with no token in its environment."""
        return subprocess.run([PROBE, path, f"127.0.0.1:{admin_port}"],
                              env={"PATH": os.environ["PATH"]}, capture_output=True, text=True,
                              timeout=30)

    def test_probes_against_a_live_augur_with_this_config(self):
        # The ConfigMap's config with ephemeral loopback ports and a drain long enough to watch
        # readiness fail while augur still serves.
        text = re.sub(r"(?m)^shutdown_delay: .*$", "shutdown_delay: 3s", self.text)
        # The cluster's Redis name does not resolve here; a refused loopback port is quicker than
        # a resolver timeout (augur serves without Redis either way).
        text = text.replace("redis://augur-redis:6379", "redis://127.0.0.1:1")
        self.assertIn("redis://127.0.0.1:1", text)
        self.assertIn("shutdown_delay: 3s", text)
        augur = self.own(Augur(text, extra_args=["--listen", "127.0.0.1:0",
                                                 "--admin-listen", "127.0.0.1:0"],
                               env=self.container_env()))
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            self.assertEqual(self.http_probe(probe, augur.admin_port), 200, probe)
        got = self.augur_probe(augur.admin_port)
        self.assertEqual(got.returncode, 0, got.stderr)
        # Everything else on the admin port still wants the Secret's token, byte for byte.
        for headers in ({}, {"Authorization": "Bearer wrong"},
                        {"Authorization": "Bearer ${AUGUR_ADMIN_TOKEN}"}):
            self.assertEqual(request(augur.admin_port, "GET", "/metrics", headers=headers).status,
                             401, headers)
        resp = request(augur.admin_port, "GET", "/metrics",
                       headers={"Authorization": f"Bearer {TOKEN}"})
        self.assertEqual(resp.status, 200)
        self.assertIn(b"augur_requests_total", resp.body)
        # augur-probe reports what a 401 looks like, so a HEALTHCHECK on a guarded path fails.
        got = self.augur_probe(augur.admin_port, "/metrics")
        self.assertEqual(got.returncode, 1)
        self.assertIn("401", got.stderr)

        # SIGTERM with shutdown_delay: readiness fails (the endpoint leaves the Service) while
        # liveness still passes (the kubelet must not restart a draining pod).
        augur.signal(signal.SIGTERM)
        wait_until("the readiness probe to fail",
                   lambda: self.http_probe("readinessProbe", augur.admin_port) == 503,
                   deadline=10)
        self.assertEqual(self.http_probe("livenessProbe", augur.admin_port), 200)
        self.assertEqual(augur.wait(timeout=30), 0)
        got = self.augur_probe(augur.admin_port)
        self.assertEqual(got.returncode, 1)
        self.assertIn("cannot connect", got.stderr)


if __name__ == "__main__":
    unittest.main()
