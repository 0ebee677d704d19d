"""https:// upstreams: verified against a CA file, refused when the certificate is not trusted."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import Augur, IntegrationTest, Mock, build_request, chat_body, config, connect, \
    read_response, request


def make_self_signed(directory):
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


class TlsUpstream(IntegrationTest):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="augur-tls-")
        cls.cert, cls.key = make_self_signed(cls.dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def tls_mock(self):
        mock = self.own(Mock("--tls-cert", self.cert, "--tls-key", self.key))
        return f"https://localhost:{mock.port}"

    def test_request_and_stream_through_a_verified_tls_upstream(self):
        url = self.tls_mock()
        up = f'{{ name: tls, url: "{url}", tls: {{ ca_file: "{self.cert}" }} }}'
        augur = self.own(Augur(config([up])))
        for _ in range(3):  # pooled TLS connections are reused too
            resp = request(augur.port, "POST", "/v1/chat/completions", chat_body())
            self.assertEqual(resp.status, 200, resp.body)
            self.assertEqual(resp.json()["object"], "chat.completion")
        self.assertEqual(resp.header("x-mock-connection-id"), "1")
        with connect(augur.port) as s:
            s.sendall(build_request("POST", "/v1/chat/completions",
                                    json.dumps(chat_body(stream=True)).encode(),
                                    {"Content-Type": "application/json", "x-mock-tokens": "5"}))
            resp, _ = read_response(s)
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.body.rstrip().endswith(b"data: [DONE]"))

    def test_untrusted_certificate_is_refused(self):
        url = self.tls_mock()
        augur = self.own(Augur(config([("tls", url)])))  # system store: self-signed not trusted
        resp = request(augur.port, "POST", "/v1/chat/completions", chat_body())
        self.assertEqual(resp.status, 502)
        self.assertIn("certificate", resp.json()["error"]["message"])

    def test_wrong_server_name_is_refused(self):
        url = self.tls_mock()
        up = (f'{{ name: tls, url: "{url}", '
              f'tls: {{ ca_file: "{self.cert}", server_name: other.example }} }}')
        augur = self.own(Augur(config([up])))
        self.assertEqual(request(augur.port, "POST", "/v1/chat/completions", chat_body()).status,
                         502)


if __name__ == "__main__":
    unittest.main()
