"""Observability through the real binary: a real Prometheus scraping augur's /metrics, promtool's
lint, the admin token, /v1/augur/stats and /v1/augur/trie, the access log line, and the compose
dashboard's queries against the metrics augur really exports."""

import json
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

from harness import Augur, IntegrationTest, Mock, chat_body, config, free_port, request, wait_until

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

TRIE = {
    "version": "1.0", "generated_at": "2026-11-23T00:00:00+00:00", "workflow_name": "test",
    "root": {"name": "root", "predictions_by_call_index": {}, "predictions_any_index": None,
             "children": {"agent": {"name": "agent", "predictions_by_call_index": {},
                                    "predictions_any_index": None, "children": {}}}}}


def admin_get(augur, path, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return request(augur.admin_port, "GET", path, headers=headers)


def exported_families(metrics_text):
    """{family name: type} from the # TYPE lines of a text exposition."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", metrics_text, re.M))


def chat(augur, headers=None, path="/v1/chat/completions"):
    h = {"x-nat-run-id": "obs-run", "x-nat-function-path": "agent/search"}
    h.update(headers or {})
    return request(augur.port, "POST", path, chat_body(), h)


def write_temp(test, suffix, text):
    fd, path = tempfile.mkstemp(suffix=suffix, prefix="augur-obs-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    test.addCleanup(os.unlink, path)
    return path


class Prometheus:
    """A real Prometheus server scraping augur's admin port every second."""

    def __init__(self, admin_port):
        binary = shutil.which("prometheus")
        if binary is None:
            raise AssertionError("prometheus not installed (scripts/install-deps.sh installs it)")
        self.dir = tempfile.mkdtemp(prefix="augur-prom-")
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global: { scrape_interval: 1s, evaluation_interval: 1s }\n"
                    "scrape_configs:\n"
                    "  - job_name: augur\n"
                    f"    static_configs: [{{ targets: ['127.0.0.1:{admin_port}'] }}]\n")
        self.port = free_port()
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w+")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={cfg}", f"--storage.tsdb.path={self.dir}/data",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until("prometheus to be ready", self.ready)

    def ready(self):
        if self.proc.poll() is not None:
            self.log.seek(0)
            raise AssertionError(f"prometheus exited: {self.log.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, promql):
        """The instant vector's values as floats (empty when no series matched)."""
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?"
               + urllib.parse.urlencode({"query": promql}))
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return [float(s["value"][1]) for s in body["data"]["result"]]

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class MetricsScrapedByPrometheus(IntegrationTest):
    def test_prometheus_counts_the_requests_sent_and_their_latency(self):
        mock = self.own(Mock())
        dead = self.dead_url()  # connect refused
        augur = self.own(Augur(config(
            [("mock", mock.url), ("dead", dead)],
            "routes:\n  - { path_prefix: /dead/, upstream: dead }\n"
            "  - { path_prefix: /, upstream: mock }\n")))
        prom = self.own(Prometheus(augur.admin_port))

        sent = 25
        for i in range(sent):
            self.assertEqual(chat(augur).status, 200)
        self.assertEqual(chat(augur, path="/dead/v1/chat/completions").status, 502)

        # Metrics are recorded when a request's handling ends, which can be just after the client
        # has its response: wait for all of them, then check how they split.
        wait_until(f"augur_requests_total to reach {sent + 1}",
                   lambda: prom.query("sum(augur_requests_total)") == [sent + 1])
        self.assertEqual(prom.query('sum(augur_requests_total{upstream="mock",code="200"})'),
                         [sent])
        self.assertEqual(prom.query('sum(augur_requests_total{upstream="dead"})'), [1])
        self.assertEqual(
            prom.query('sum(augur_upstream_errors_total{upstream="dead",kind="connect"})'), [1])
        self.assertEqual(prom.query("sum(augur_hints_total)"), [sent + 1])
        # The mock answers at once: the median LLM call is finite and well under a minute.
        [p50] = prom.query("histogram_quantile(0.5, sum by (le) "
                           '(augur_request_duration_seconds_bucket{upstream="mock"}))')
        self.assertTrue(math.isfinite(p50) and 0 < p50 < 60, p50)
        [overhead] = prom.query(
            "histogram_quantile(0.5, sum by (le) (augur_proxy_overhead_seconds_bucket))")
        self.assertTrue(math.isfinite(overhead) and 0 < overhead < 1, overhead)
        self.assertEqual(prom.query('up{job="augur"}'), [1])

    def test_promtool_accepts_the_exposition(self):
        mock = self.own(Mock())
        trie = write_temp(self, ".json", json.dumps(TRIE))
        augur = self.own(Augur(config([("mock", mock.url)],
                                      f'prediction: {{ trie_file: "{trie}" }}\n')))
        for _ in range(3):
            chat(augur)
        chat(augur, {"x-nat-run-end": "true"})
        text = admin_get(augur, "/metrics").body
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool not installed (Debian prometheus)")
        done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn(b"augur_trie_nodes 2\n", text)


class AdminToken(IntegrationTest):
    def test_metrics_and_stats_need_the_token_when_one_is_set(self):
        mock = self.own(Mock())
        augur = self.own(Augur(config([("mock", mock.url)],
                                      admin="{ listen: 127.0.0.1:0, token: s3cret }")))
        for path in ("/metrics", "/v1/augur/stats", "/v1/augur/trie", "/v1/augur/agents"):
            for token in (None, "wrong"):
                resp = admin_get(augur, path, token)
                self.assertOpenAIError(resp, 401)
                self.assertEqual(resp.header("www-authenticate"), "Bearer")
        # The probe endpoints say only "alive" and "ready": no token needed.
        for path in ("/healthz", "/readyz"):
            for token in (None, "wrong"):
                self.assertEqual(admin_get(augur, path, token).status, 200, (path, token))
        resp = admin_get(augur, "/metrics", "s3cret")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        self.assertIn(b"# TYPE augur_requests_total counter", resp.body)
        resp = admin_get(augur, "/v1/augur/stats", "s3cret")
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.json()["config"]["admin_token"])


class StatsAndTrie(IntegrationTest):
    def test_stats_report_uptime_config_upstream_health_and_learning(self):
        mock = self.own(Mock())
        augur = self.own(Augur(config([("mock", mock.url)])))
        for _ in range(4):
            self.assertEqual(chat(augur).status, 200)
        # Outstanding counts and learning's queue settle just after the client has its response.
        stats = wait_until("the last request to settle", lambda: (
            lambda s: s if s["upstreams"][0]["outstanding"] == 0
            and s["learning"]["observations"] == 4 else None)(
                admin_get(augur, "/v1/augur/stats").json()))
        self.assertGreaterEqual(stats["uptime_s"], 0)
        self.assertTrue(stats["ready"])
        self.assertEqual(stats["config"]["upstreams"], 1)
        self.assertEqual(stats["config"]["threads"], 1)
        [up] = stats["upstreams"]
        self.assertEqual((up["name"], up["url"]), ("mock", mock.url))
        self.assertEqual((up["requests"], up["failures"], up["outstanding"]), (4, 0, 0))
        self.assertFalse(up["down"])
        self.assertEqual(stats["proxy"]["requests"], 4)
        self.assertEqual(stats["trie"], {"source": "none", "version": 0, "nodes": 0, "bytes": 0})
        learning = stats["learning"]
        self.assertEqual(learning["observations"], 4)
        self.assertIsNone(learning["redis_up"])  # memory store
        # SONA's counters, the seed's to_json keys: every call asked it for a suggestion.
        sona = stats["sona"]
        self.assertEqual(sona["queries_processed"], 4)
        for key in ("pattern_hits", "pattern_hit_rate", "trajectories_seen",
                    "trajectories_dropped", "background_cycles", "patterns_stored", "ewc_tasks"):
            self.assertIn(key, sona)

    def test_trie_endpoint_serves_the_current_trie_or_404(self):
        mock = self.own(Mock())
        augur = self.own(Augur(config([("mock", mock.url)])))
        self.assertOpenAIError(admin_get(augur, "/v1/augur/trie"), 404)

        trie = write_temp(self, ".json", json.dumps(TRIE))
        augur = self.own(Augur(config([("mock", mock.url)],
                                      f'prediction: {{ trie_file: "{trie}" }}\n')))
        resp = admin_get(augur, "/v1/augur/trie")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("content-type"), "application/json")
        served = resp.json()
        self.assertEqual(served["workflow_name"], "test")
        self.assertEqual(list(served["root"]["children"]), ["agent"])
        stats = admin_get(augur, "/v1/augur/stats").json()
        self.assertEqual((stats["trie"]["source"], stats["trie"]["nodes"]), ("file", 2))


class AccessLog(IntegrationTest):
    FIELDS = ["time", "upstream", "method", "path", "status", "outcome", "duration_ms", "ttfb_ms",
              "overhead_ms", "run_id", "function_path", "call_index", "hints", "output_tokens"]

    def read_lines(self, path, n):
        def lines():
            with open(path) as f:
                got = [json.loads(line) for line in f if line.strip()]
            return got if len(got) >= n else None
        return wait_until(f"{n} access log line(s)", lines)

    def test_one_json_line_per_request_with_the_documented_fields(self):
        mock = self.own(Mock())
        log_dir = tempfile.mkdtemp(prefix="augur-access-")
        self.addCleanup(shutil.rmtree, log_dir, True)
        log = os.path.join(log_dir, "access.log")
        dead = self.dead_url()
        augur = self.own(Augur(config(
            [("mock", mock.url), ("dead", dead)],
            "routes:\n  - { path_prefix: /dead/, upstream: dead }\n"
            "  - { path_prefix: /, upstream: mock }\n"
            f'access_log: {{ target: "{log}" }}\n')))

        resp = chat(augur, {"x-nat-run-id": "run-7", "x-nat-function-path": "agent/search",
                            "x-nat-call-index": "3"})
        self.assertEqual(resp.status, 200)
        self.assertEqual(chat(augur, path="/dead/v1/chat/completions").status, 502)

        ok, failed = self.read_lines(log, 2)
        self.assertEqual(list(ok), self.FIELDS)
        self.assertRegex(ok["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual((ok["upstream"], ok["method"], ok["path"], ok["status"], ok["outcome"]),
                         ("mock", "POST", "/v1/chat/completions", 200, "ok"))
        self.assertGreater(ok["duration_ms"], 0)
        self.assertLessEqual(ok["ttfb_ms"], ok["duration_ms"])
        self.assertLessEqual(ok["overhead_ms"], ok["duration_ms"])
        self.assertEqual((ok["run_id"], ok["function_path"], ok["call_index"]),
                         ("run-7", ["agent", "search"], 3))
        self.assertEqual(ok["hints"]["source"], "static")  # no trie: the config's fallbacks
        self.assertEqual(ok["hints"]["osl"], 512)
        self.assertEqual(ok["output_tokens"], 16)  # the mock's usage.completion_tokens

        self.assertEqual((failed["upstream"], failed["path"], failed["status"], failed["outcome"]),
                         ("dead", "/dead/v1/chat/completions", 502, "connect"))
        self.assertIsNone(failed["ttfb_ms"])
        self.assertIsNone(failed["overhead_ms"])  # never written upstream
        self.assertIsNone(failed["output_tokens"])

    def test_lines_of_requests_just_before_shutdown_are_written(self):
        mock = self.own(Mock())
        log_dir = tempfile.mkdtemp(prefix="augur-access-")
        self.addCleanup(shutil.rmtree, log_dir, True)
        log = os.path.join(log_dir, "access.log")
        augur = self.own(Augur(config([("mock", mock.url)], f'access_log: {{ target: "{log}" }}\n')))
        for i in range(3):
            self.assertEqual(chat(augur, {"x-nat-run-id": f"last-{i}"}).status, 200)
        augur.signal(signal.SIGTERM)
        self.assertEqual(augur.wait(), 0)
        with open(log) as f:
            self.assertEqual([json.loads(line)["run_id"] for line in f],
                             ["last-0", "last-1", "last-2"])

    def test_stdout_target_writes_the_line_to_stdout(self):
        mock = self.own(Mock())
        augur = self.own(Augur(config([("mock", mock.url)], "access_log: { target: stdout }\n")))
        self.assertEqual(chat(augur, {"x-nat-run-id": "run-stdout"}).status, 200)
        line = augur.proc.stdout.readline()  # the pipe is read only up to the listening line
        self.assertEqual(json.loads(line)["run_id"], "run-stdout")


class ComposeDashboard(IntegrationTest):
    # Names the dashboard may use that a default augur does not export (README, Operations).
    CONDITIONAL = {
        "augur_redis_up": "only with store.kind redis",
    }

    def test_every_dashboard_query_names_an_exported_metric(self):
        with open(os.path.join(REPO, "deploy/grafana/dashboards/augur.json")) as f:
            dashboard = json.load(f)
        # The embedded default: learning on, the bundled mock upstream.
        augur = self.own(Augur(None, extra_args=["--listen", "127.0.0.1:0",
                                                 "--admin-listen", "127.0.0.1:0"]))
        families = exported_families(admin_get(augur, "/metrics").body.decode())
        self.assertIn("augur_requests_total", families)

        def exported(name):
            if name in families:
                return True
            for suffix in ("_bucket", "_sum", "_count"):
                base = name.removesuffix(suffix)
                if base != name and families.get(base) == "histogram":
                    return True
            return False

        exprs = []
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            self.assertTrue(panel.get("targets"), panel["title"])
            for t in panel["targets"]:
                self.assertEqual(t["datasource"]["uid"], "augur-prometheus", panel["title"])
                exprs.append((panel["title"], t["expr"]))
        self.assertGreaterEqual(len(exprs), 15)
        for title, expr in exprs:
            names = re.findall(r"\baugur_[a-z0-9_]+", expr)
            self.assertTrue(names, f"{title}: {expr}")
            for name in names:
                self.assertTrue(exported(name) or name in self.CONDITIONAL,
                                f"panel '{title}' queries {name}, which augur does not export")

        with open(os.path.join(REPO, "deploy/grafana/provisioning/datasources/prometheus.yaml")) as f:
            self.assertIn("uid: augur-prometheus", f.read())

    def test_compose_prometheus_config_passes_promtool(self):
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool not installed (Debian prometheus)")
        done = subprocess.run(
            [promtool, "check", "config", os.path.join(REPO, "deploy/prometheus/prometheus.yml")],
            capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)


if __name__ == "__main__":
    unittest.main()
