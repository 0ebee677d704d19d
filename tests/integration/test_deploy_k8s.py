"""deploy/k8s against augur itself: the ConfigMap's template, rendered by the init container's own
command, passes `augur check-config`; the container ports, probes and Services point at the
listen and admin addresses of that config; the grace period covers the drain; and the probe
commands, run against a live augur with that config, pass with the Secret's token, fail without
it, and the readiness probe fails while augur drains. Needs PyYAML (python3-yaml)."""

import os
import re
import signal
import subprocess
import tempfile
import unittest

import yaml

from harness import AUGUR_BIN, Augur, IntegrationTest, wait_until

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
K8S = os.path.join(REPO, "deploy", "k8s")
PROBE = os.path.join(REPO, "deploy", "augur-probe")
POD = "augur-6d5f8c7b9-x2x4q"
# Every character single-quoted YAML, the shell or awk could treat specially.
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
        cls.init = next(c for c in pod["initContainers"] if c["name"] == "render-config")
        cls.container = next(c for c in pod["containers"] if c["name"] == "augur")
        cls.configmap = find(cls.docs, "ConfigMap", "augur-config")

    def render(self, env, tmp):
        """Runs the init container's command with its volumes at folders under tmp: the
        ConfigMap's keys as files (a configMap volume), an empty folder for the emptyDir.
        Returns (completed process, {mountPath: folder}, the main container's config path)."""
        volumes = {v["name"]: v for v in self.pod["volumes"]}
        mounts = {}
        for m in self.init["volumeMounts"]:
            folder = os.path.join(tmp, m["name"])
            os.makedirs(folder, exist_ok=True)
            volume = volumes[m["name"]]
            if "configMap" in volume:
                self.assertEqual(volume["configMap"]["name"], self.configmap["metadata"]["name"])
                for key, text in self.configmap["data"].items():
                    with open(os.path.join(folder, key), "w") as f:
                        f.write(text)
            else:
                self.assertIn("emptyDir", volume)
            mounts[m["mountPath"]] = folder

        def local(arg):
            for mount, folder in mounts.items():
                if arg.startswith(mount + "/"):
                    return folder + arg[len(mount):]
            return arg

        argv = [local(a) for a in self.init["command"] + self.init.get("args", [])]
        proc = subprocess.run(argv, env={"PATH": os.environ["PATH"], **env},
                              capture_output=True, text=True, timeout=30)
        # augur reads the file the init container wrote, through the same volume.
        args = self.container["args"]
        config_path = args[args.index("--config") + 1]
        main_mounts = {m["mountPath"]: m["name"] for m in self.container["volumeMounts"]}
        mount = next(m for m in main_mounts if config_path.startswith(m + "/"))
        self.assertIn(mount, mounts, "augur's config is not on a volume the init container writes")
        return proc, local(config_path)

    def rendered(self, tmp, token=TOKEN):
        proc, path = self.render({"POD_NAME": POD, "AUGUR_ADMIN_TOKEN": token}, tmp)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(path) as f:
            return path, f.read()

    def test_rendered_config_passes_check_config_with_pod_name_and_token(self):
        with tempfile.TemporaryDirectory() as tmp:
            path, text = self.rendered(tmp)
            check = subprocess.run([AUGUR_BIN, "check-config", path], capture_output=True,
                                   text=True, timeout=30)
            self.assertEqual(check.returncode, 0, check.stderr)
            cfg = yaml.safe_load(text)
            # The Secret's bytes exactly (quotes doubled, nothing else touched, no expansion of
            # what the token itself contains), and the downward API's pod name.
            self.assertEqual(cfg["admin"]["token"], TOKEN)
            self.assertEqual(cfg["store"]["replica"], POD)
            self.assertEqual(cfg["store"]["kind"], "redis")
            self.assertEqual(os.stat(path).st_mode & 0o077, 0, "the token is readable by others")
            # The template itself, unrendered, is what the ConfigMap shows: still a valid config
            # (so a mistake in it shows up here, not as a crash-looping pod).
            template = os.path.join(tmp, "template.yaml")
            with open(template, "w") as f:
                f.write(self.configmap["data"]["augur.yaml"])
            check = subprocess.run([AUGUR_BIN, "check-config", template], capture_output=True,
                                   text=True, timeout=30)
            self.assertEqual(check.returncode, 0, check.stderr)

    def test_render_refuses_a_token_with_a_line_break(self):
        # `echo TOKEN | kubectl create secret --from-file` leaves a newline in the token, which
        # the probes would send but augur's config would not hold: refuse to start instead.
        with tempfile.TemporaryDirectory() as tmp:
            proc, path = self.render({"POD_NAME": POD, "AUGUR_ADMIN_TOKEN": "abc\n"}, tmp)
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("line break", proc.stderr)
            self.assertFalse(os.path.exists(path))
            proc, path = self.render({"AUGUR_ADMIN_TOKEN": "abc"}, tmp)  # no downward API
            self.assertNotEqual(proc.returncode, 0)

    def test_ports_probes_and_services_match_the_config(self):
        with tempfile.TemporaryDirectory() as tmp:
            _, text = self.rendered(tmp)
        cfg = yaml.safe_load(text)
        listen, admin = cfg["listen"], cfg["admin"]["listen"]
        # Services and the kubelet reach the pod's IP, not its loopback.
        for endpoint in (listen, admin):
            self.assertTrue(endpoint.startswith(("0.0.0.0:", "[::]:", ":")), endpoint)
        ports = {p["name"]: p["containerPort"] for p in self.container["ports"]}
        self.assertEqual(ports, {"http": port_of(listen), "admin": port_of(admin)})

        # Probes run inside the container: loopback reaches the admin listener on any interface.
        expected = {"startupProbe": "/readyz", "readinessProbe": "/readyz",
                    "livenessProbe": "/healthz"}
        for probe, path in expected.items():
            command = self.container[probe]["exec"]["command"]
            self.assertEqual(command, ["augur-probe", path, f"127.0.0.1:{port_of(admin)}"], probe)

        # Each Service's targetPort resolves to the container port of the listener it is for.
        def target(svc_name):
            svc = find(self.docs, "Service", svc_name)
            labels = self.deployment["spec"]["template"]["metadata"]["labels"]
            self.assertTrue(all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()))
            (port,) = svc["spec"]["ports"]
            t = port["targetPort"]
            return ports[t] if isinstance(t, str) else t

        self.assertEqual(target("augur"), port_of(listen))
        self.assertEqual(target("augur-admin"), port_of(admin))

        # The optional ServiceMonitor scrapes /metrics on the admin Service's port.
        with open(os.path.join(K8S, "monitoring", "servicemonitor.yaml")) as f:
            monitor = yaml.safe_load(f)
        admin_svc = find(self.docs, "Service", "augur-admin")
        (endpoint,) = monitor["spec"]["endpoints"]
        self.assertEqual(endpoint["path"], "/metrics")
        self.assertEqual(endpoint["port"], admin_svc["spec"]["ports"][0]["name"])

    def test_grace_period_covers_prestop_delay_and_drain(self):
        cfg = yaml.safe_load(self.configmap["data"]["augur.yaml"])
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

    def probe(self, command, admin_port, token):
        """Runs a probe's exec command as the kubelet would in the container: augur-probe from
        the repository, the admin address swapped for the live augur's ephemeral port."""
        argv = [PROBE] + command[1:-1] + [f"127.0.0.1:{admin_port}"]
        env = {"PATH": os.environ["PATH"]}
        if token is not None:
            env["AUGUR_ADMIN_TOKEN"] = token
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)

    def test_probes_against_a_live_augur_with_this_config(self):
        with tempfile.TemporaryDirectory() as tmp:
            _, text = self.rendered(tmp)
        # The same config with ephemeral loopback ports and a drain long enough to watch
        # readiness fail while augur still serves.
        text = re.sub(r"(?m)^shutdown_delay: .*$", "shutdown_delay: 3s", text)
        # The cluster's Redis name does not resolve here; a refused loopback port is quicker than
        # a resolver timeout (augur serves without Redis either way).
        text = text.replace("redis://augur-redis:6379", "redis://127.0.0.1:1")
        self.assertIn("redis://127.0.0.1:1", text)
        augur = self.own(Augur(text, extra_args=["--listen", "127.0.0.1:0",
                                                 "--admin-listen", "127.0.0.1:0"]))
        readiness = self.container["readinessProbe"]["exec"]["command"]
        liveness = self.container["livenessProbe"]["exec"]["command"]
        startup = self.container["startupProbe"]["exec"]["command"]
        for command in (startup, readiness, liveness):
            got = self.probe(command, augur.admin_port, TOKEN)
            self.assertEqual(got.returncode, 0, f"{command}: {got.stderr}")
            # augur's admin endpoints need the token, so the probe must send it.
            for token in (None, "wrong"):
                got = self.probe(command, augur.admin_port, token)
                self.assertEqual(got.returncode, 1, command)
                self.assertIn("401", got.stderr)

        # SIGTERM with shutdown_delay: readiness fails (the endpoint leaves the Service) while
        # liveness still passes (the kubelet must not restart a draining pod).
        augur.signal(signal.SIGTERM)
        wait_until("the readiness probe to fail",
                   lambda: self.probe(readiness, augur.admin_port, TOKEN).returncode == 1,
                   deadline=10)
        got = self.probe(liveness, augur.admin_port, TOKEN)
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertEqual(augur.wait(timeout=30), 0)
        got = self.probe(liveness, augur.admin_port, TOKEN)
        self.assertEqual(got.returncode, 1)
        self.assertIn("cannot connect", got.stderr)


if __name__ == "__main__":
    unittest.main()
