"""Artifact URLs cannot be turned against the site: the URL policy (every redirect hop included), the size
limit and deadline, nothing partial or mismatched left in the cache, cache names that stay in the cache,
one summary for every failed fetch, and a heartbeat that goes on through a long download."""

import base64
import contextlib
import hashlib
import http.server
import logging
import os
import threading
import time

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connections

from microdc.provisioning import artifacts, jobs, url_policy
from microdc.provisioning.models import Job

BODY = b"model bytes served by a test registry on loopback"
SHA = hashlib.sha256(BODY).hexdigest()


class Registry(http.server.ThreadingHTTPServer):
    """A model registry on loopback: a path -> handler function table, and a count of requests."""

    daemon_threads = True

    def __init__(self, host="127.0.0.1", tls=None):
        super().__init__((host, 0), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.routes = {}
        self.hits = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, path, scheme="http", host=None):
        return f"{scheme}://{host or self.server_address[0]}:{self.server_port}{path}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        self.server.hits.append(self.path)
        route = self.server.routes.get(self.path.split("?")[0])
        if route is None:
            self.send_error(404)
            return
        with contextlib.suppress(OSError):  # the client gave up: what the limits are for
            route(self)

    def log_message(self, *args):
        pass


def serve(handler, body=BODY, length=None):
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body) if length is None else length))
    handler.end_headers()
    handler.wfile.write(body)


def redirect(to):
    def route(handler):
        handler.send_response(302)
        handler.send_header("Location", to)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    return route


def trickle(seconds, every=0.1):
    def route(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(10**9))
        handler.end_headers()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            handler.wfile.write(b"x" * 16)
            handler.wfile.flush()
            time.sleep(every)
    return route


@pytest.fixture
def registry(settings):
    settings.MICRODC_ARTIFACT_URL_ALLOW = ["127.0.0.1"]
    server = Registry()
    server.routes["/model.joblib"] = serve
    yield server
    server.shutdown()
    server.server_close()


def cache_files():
    return sorted(p.relative_to(artifacts.cache_dir()).as_posix()
                  for p in artifacts.cache_dir().rglob("*") if p.is_file())


# --- the URL policy --------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "http://127.0.0.1/model", "http://127.8.0.1/model", "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/model", "http://[fe80::1]/model", "http://[::ffff:127.0.0.1]/model", "http://0.0.0.0/model",
    "http://0.1.2.3/model", "http://224.0.0.1/model", "http://localhost/model",
])
def test_the_default_policy_refuses_loopback_link_local_and_unspecified(settings, url):
    settings.MICRODC_ARTIFACT_URL_ALLOW = []
    with pytest.raises(url_policy.UrlRefused, match="MICRODC_ARTIFACT_URL_ALLOW"):
        url_policy.check(httpx.URL(url))


def test_the_default_policy_refuses_the_appliances_own_addresses(settings):
    own = [a for a in url_policy.own_addresses() if not a.is_loopback and not a.is_link_local]
    if not own:
        pytest.skip("this machine has no address besides loopback and link-local")
    settings.MICRODC_ARTIFACT_URL_ALLOW = []
    host = f"[{own[0]}]" if own[0].version == 6 else str(own[0])
    with pytest.raises(url_policy.UrlRefused, match="the appliance's own addresses"):
        url_policy.check(httpx.URL(f"http://{host}/model"))


def test_the_allow_list_takes_networks_and_host_names(settings):
    settings.MICRODC_ARTIFACT_URL_ALLOW = ["127.0.0.0/30", "LocalHost"]
    assert [str(a) for a in url_policy.check(httpx.URL("http://127.0.0.2:81/m")).addresses] == ["127.0.0.2"]
    assert all(a.is_loopback for a in url_policy.check(httpx.URL("http://localhost/m")).addresses)
    with pytest.raises(url_policy.UrlRefused):
        url_policy.check(httpx.URL("http://127.0.0.9/m"))
    with pytest.raises(url_policy.UrlRefused, match="http and https only"):
        url_policy.check(httpx.URL("ftp://127.0.0.1/m"))


def test_a_refused_url_is_never_contacted(registry, settings):
    settings.MICRODC_ARTIFACT_URL_ALLOW = []
    with pytest.raises(artifacts.ArtifactError, match="refused by the site's URL policy"):
        artifacts.verify(registry.url("/model.joblib"), SHA)
    assert registry.hits == []
    assert cache_files() == []


def test_every_redirect_hop_is_checked(registry):
    elsewhere = Registry(host="127.0.0.2")  # loopback too, but not on the allow list
    elsewhere.routes["/model.joblib"] = serve
    try:
        registry.routes["/hop"] = redirect(elsewhere.url("/model.joblib"))
        registry.routes["/metadata"] = redirect("http://169.254.169.254/latest/meta-data/")
        registry.routes["/file"] = redirect("file:///etc/passwd")
        for path in ("/hop", "/metadata", "/file"):
            with pytest.raises(artifacts.ArtifactError, match="refused by the site's URL policy"):
                artifacts.verify(registry.url(path), SHA)
        assert elsewhere.hits == []
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()
    # A redirect the policy allows is followed, a bounded number of times.
    registry.routes["/moved"] = redirect("/model.joblib")
    assert artifacts.verify(registry.url("/moved"), SHA).read_bytes() == BODY
    registry.routes["/loop"] = redirect("/loop")
    with pytest.raises(artifacts.ArtifactError, match="could not be fetched"):
        artifacts.verify(registry.url("/loop"), hashlib.sha256(b"other").hexdigest())
    assert registry.hits.count("/loop") == artifacts.MAX_REDIRECTS + 1


# --- limits, and nothing half written --------------------------------------------------------------------

def test_too_big_is_refused_from_content_length_and_while_streaming(registry, settings):
    settings.MICRODC_ARTIFACT_MAX_BYTES = 1000
    big = b"y" * 5000
    registry.routes["/announced"] = lambda h: serve(h, big)

    def unannounced(handler):  # no Content-Length: the body ends when the connection closes
        handler.send_response(200)
        handler.end_headers()
        for _ in range(5):
            handler.wfile.write(big)
    registry.routes["/unannounced"] = unannounced
    for path in ("/announced", "/unannounced"):
        with pytest.raises(artifacts.ArtifactError, match="could not be fetched"):
            artifacts.verify(registry.url(path), hashlib.sha256(big).hexdigest())
    assert cache_files() == []


def test_a_download_has_a_deadline_for_the_whole(registry, settings):
    settings.MICRODC_ARTIFACT_DOWNLOAD_SECONDS = 1
    registry.routes["/slow"] = trickle(seconds=6)
    started = time.monotonic()
    with pytest.raises(artifacts.ArtifactError, match="could not be fetched"):
        artifacts.verify(registry.url("/slow"), SHA)
    assert time.monotonic() - started < 4
    assert cache_files() == []


def test_a_mismatched_download_leaves_nothing_and_a_good_one_is_cached_by_digest(registry):
    with pytest.raises(artifacts.ArtifactError, match="does not match its SHA-256"):
        artifacts.verify(registry.url("/model.joblib"), hashlib.sha256(b"what the revision promised").hexdigest())
    assert cache_files() == []
    path = artifacts.verify(registry.url("/model.joblib"), SHA)
    assert cache_files() == [f"{SHA}/model.joblib"] and path.read_bytes() == BODY
    # A cached file that no longer matches (disk damage, tampering) is fetched again.
    path.write_bytes(b"damaged")
    assert artifacts.verify(registry.url("/model.joblib"), SHA).read_bytes() == BODY
    assert registry.hits.count("/model.joblib") == 3


@pytest.mark.parametrize("path", ["/%2e%2e", "/a/%2E%2E", "/..%2f..%2fescaped", "/a/..%2F", "/", "/.hidden",
                                  "/a%2fb"])
def test_a_url_file_name_cannot_leave_the_cache(registry, path):
    registry.routes[path] = serve
    local = artifacts.verify(registry.url(path), SHA)
    assert local.parent == artifacts.cache_dir() / SHA and local.name == "artifact"
    assert cache_files() == [f"{SHA}/artifact"]


def test_a_forged_signature_downloads_nothing(registry):
    trusted, forger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    public = base64.b64encode(trusted.public_key().public_bytes_raw()).decode()
    forged = base64.b64encode(forger.sign(bytes.fromhex(SHA))).decode()
    with pytest.raises(artifacts.ArtifactError, match="signature"):
        artifacts.verify(registry.url("/model.joblib"), SHA, forged, public)
    assert registry.hits == [] and cache_files() == []
    good = base64.b64encode(trusted.sign(bytes.fromhex(SHA))).decode()
    assert artifacts.verify(registry.url("/model.joblib"), SHA, good, public).read_bytes() == BODY


def _certificate_for(name, directory):
    """A CA (its PEM written to directory/ca.pem) and a server context whose certificate names only `name`."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def build(subject, issuer, public, signer, ca):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        # Python 3.13 verifies strictly (RFC 5280): key identifiers, and key usage on the CA.
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
                critical=True)
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test registry CA")])
    ca = build(ca_name, ca_name, ca_key.public_key(), ca_key, True)
    leaf = build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), ca_name, key.public_key(), ca_key,
                 False)
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "leaf.pem")
    return context


def test_https_connects_to_the_checked_address_and_checks_the_certificate_against_the_name(
        settings, tmp_path, monkeypatch):
    server = Registry(tls=_certificate_for("localhost", tmp_path))
    server.routes["/model.joblib"] = serve
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # the site's own CA
    try:
        settings.MICRODC_ARTIFACT_URL_ALLOW = ["localhost", "127.0.0.1"]
        url = server.url("/model.joblib", scheme="https", host="localhost")
        assert artifacts.verify(url, SHA).read_bytes() == BODY
        # The same server by its address: the certificate does not name it, so nothing is fetched.
        artifacts.cache_dir().joinpath(SHA, "model.joblib").unlink()
        with pytest.raises(artifacts.ArtifactError, match="could not be fetched"):
            artifacts.verify(server.url("/model.joblib", scheme="https"), SHA)
        assert cache_files() == []
    finally:
        server.shutdown()
        server.server_close()


# --- what a job shows, and its heartbeat -----------------------------------------------------------------

def deploy(client_for, node, url, name="model"):
    body = {"name": name, "runtime": "mlserver", "revision": {
        "artifact": url, "artifact_sha256": SHA, "nodes": [node.hostname], "port": 18080}}
    response = client_for("operator").post("/api/v1/deployments/", body, format="json")
    assert response.status_code == 202, response.content
    return response.json()["job"]["id"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://[::1]:8080/m",
                                 "http://127.0.0.1/m", "http://0.0.0.0/m"])
def test_the_api_refuses_an_address_the_policy_refuses_naming_the_field(client_for, node, settings, url):
    settings.MICRODC_ARTIFACT_URL_ALLOW = []
    body = {"name": "model", "runtime": "mlserver", "revision": {
        "artifact": url, "artifact_sha256": SHA, "nodes": [node.hostname], "port": 18080}}
    response = client_for("operator").post("/api/v1/deployments/", body, format="json")
    assert response.status_code == 400 and "MICRODC_ARTIFACT_URL_ALLOW" in str(response.json()["revision"]["artifact"])
    assert not Job.objects.exists()
    settings.MICRODC_ARTIFACT_URL_ALLOW = ["0.0.0.0/0", "::/0"]
    assert client_for("operator").post("/api/v1/deployments/", body, format="json").status_code == 202


@pytest.mark.django_db
def test_a_summary_does_not_tell_what_a_url_answered(client_for, node, registry, caplog):
    from tests.support import free_port

    registry.routes["/secret-service"] = lambda h: serve(h, b"internal answer")
    urls = [registry.url("/missing?X-Amz-Signature=s3cr3t"), registry.url("/secret-service"),
            f"http://127.0.0.1:{free_port()}/nothing-listens"]
    summaries = []
    with caplog.at_level(logging.WARNING, logger="microdc.provisioning.artifacts"):
        for number, url in enumerate(urls):
            job = jobs.execute(deploy(client_for, node, url, name=f"model-{number}"))
            assert job.status == "failed" and not job.events.exists()
            summaries.append(job.summary)
    assert len(set(summaries)) == 1, summaries
    assert "could not be fetched" in summaries[0]
    # The details are in the log, for the site's admin, without the signed query string.
    assert "HTTP 404" in caplog.text and "SHA-256 mismatch" in caplog.text
    assert "s3cr3t" not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_long_download_keeps_the_job_alive(client_for, node, registry, settings):
    settings.MICRODC_JOB_STALE_SECONDS = 2
    seen = {}

    def slow(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(10**6))
        handler.end_headers()
        for step in range(40):  # about 4 s, twice the stale limit
            handler.wfile.write(b"x" * 16)
            handler.wfile.flush()
            time.sleep(0.1)
            if step == 30:
                # The worker is waiting for bytes now; look at the job as the periodic recovery would.
                time.sleep(0.3)
                try:
                    seen["recovered"] = jobs.recover_interrupted()
                    seen["status"] = Job.objects.get(status__in=["running", "interrupted"]).status
                finally:
                    connections.close_all()
    registry.routes["/big-model.joblib"] = slow
    job = jobs.execute(deploy(client_for, node, registry.url("/big-model.joblib")))
    assert seen == {"recovered": 0, "status": "running"}
    assert job.status == "failed" and "could not be fetched" in job.summary


def test_a_canceled_download_stops_and_leaves_nothing(registry):
    registry.routes["/slow"] = trickle(seconds=6)
    ticks = []

    def cancel_after_a_few():
        ticks.append(1)
        return len(ticks) >= 3
    started = time.monotonic()
    with pytest.raises(artifacts.ArtifactError, match="canceled"):
        artifacts.verify(registry.url("/slow"), SHA, tick=cancel_after_a_few)
    assert time.monotonic() - started < 3 and cache_files() == []


def test_partial_files_a_killed_worker_left_are_swept(registry, settings):
    settings.MICRODC_ARTIFACT_DOWNLOAD_SECONDS = 60
    directory = artifacts.cache_dir() / ("a" * 64)
    directory.mkdir(parents=True)
    old, fresh = directory / ".download-old", directory / ".download-fresh"
    old.write_bytes(b"half")
    fresh.write_bytes(b"another download writing now")
    long_ago = time.time() - 3600
    os.utime(old, (long_ago, long_ago))
    artifacts.verify(registry.url("/model.joblib"), SHA)
    assert not old.exists() and fresh.exists()
