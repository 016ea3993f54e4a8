"""The Kibana import client against a real loopback HTTP server that records each upload."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from ingest import kibana
from ingest.cli import app
from ingest.dev.evaluation.server import LoopbackServer, Request, Route
from ingest.errors import ConfigError

API_KEY = "c2VjcmV0LWtleS1pZDpzZWNyZXQta2V5LXZhbHVl"
PASSWORD = "s3cret-Pa55"
OK_REPORT = {"success": True, "successCount": 2,
             "successResults": [{"type": "index-pattern", "id": "news-articles"},
                                {"type": "search", "id": "news-duplicates"}]}


@dataclass
class FakeKibana:
    """What the server answers (status, raw body) and every request it received."""

    status: int = 200
    body: bytes = json.dumps(OK_REPORT).encode()
    requests: list[Request] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def server() -> Iterator[FakeKibana]:
    state = FakeKibana()

    def handle(request: Request) -> Route:
        state.requests.append(request)
        return Route(state.status, {"Content-Type": "application/json"}, state.body)

    with LoopbackServer(default=handle) as httpd:
        state.url = httpd.base_url
        yield state


def multipart_file(req: Request) -> tuple[str, str | None, bytes]:
    """(form field name, file name, content) of the single uploaded part."""
    message = BytesParser(policy=email_policy).parsebytes(
        b"Content-Type: " + req.headers["content-type"].encode() + b"\r\n\r\n" + req.body)
    parts = list(message.iter_parts())
    assert len(parts) == 1
    part = parts[0]
    return part.get_param("name", header="content-disposition"), part.get_filename(), part.get_content()


OBJECTS = [
    {"id": "news-articles", "type": "index-pattern", "attributes": {"title": "news-articles"},
     "references": []},
    {"id": "news-duplicates", "type": "search", "attributes": {"title": "Duplicates"},
     "references": [{"id": "news-articles", "type": "index-pattern",
                     "name": "kibanaSavedObjectMeta.searchSourceJSON.index"}]},
]


def test_upload_is_multipart_file_with_xsrf_and_api_key(server: FakeKibana) -> None:
    auth = kibana.KibanaAuth(api_key=SecretStr(API_KEY))
    result = kibana.import_objects(server.url, OBJECTS, auth)
    assert result.success_count == 2
    assert result.objects == ("index-pattern/news-articles", "search/news-duplicates")
    (req,) = server.requests
    assert req.path == "/api/saved_objects/_import?overwrite=true"
    assert req.method == "POST" and req.headers["kbn-xsrf"] == "true"
    assert req.headers["authorization"] == f"ApiKey {API_KEY}"
    assert req.headers["content-type"].startswith("multipart/form-data; boundary=")
    name, filename, content = multipart_file(req)
    assert name == "file"
    assert filename is not None and filename.endswith(".ndjson")
    lines = content.decode("utf-8").splitlines() if isinstance(content, bytes) else content.splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["news-articles", "news-duplicates"]


def test_basic_auth_and_space(server: FakeKibana) -> None:
    auth = kibana.KibanaAuth(username="analyst", password=SecretStr(PASSWORD))
    kibana.import_objects(server.url + "/", OBJECTS, auth, space="desk")
    (req,) = server.requests
    assert req.path == "/s/desk/api/saved_objects/_import?overwrite=true"
    expected = base64.b64encode(f"analyst:{PASSWORD}".encode()).decode()
    assert req.headers["authorization"] == f"Basic {expected}"


def test_partial_import_names_each_failed_object(server: FakeKibana) -> None:
    server.body = json.dumps({"success": False, "successCount": 1, "errors": [
        {"id": "news-duplicates", "type": "search", "title": "Duplicates",
         "error": {"type": "missing_references",
                   "references": [{"type": "index-pattern", "id": "news-articles"}]}}]}).encode()
    with pytest.raises(kibana.KibanaImportError) as info:
        kibana.import_objects(server.url, OBJECTS, kibana.KibanaAuth())
    assert "search/news-duplicates: missing_references (index-pattern/news-articles)" in str(info.value)
    assert info.value.reason == "kibana_import"


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_named_but_never_shown(server: FakeKibana, status: int,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    server.status, server.body = status, b'{"statusCode":401,"error":"Unauthorized"}'
    caplog.set_level("DEBUG")
    with pytest.raises(kibana.KibanaImportError) as info:
        kibana.import_objects(server.url, OBJECTS, kibana.KibanaAuth(api_key=SecretStr(API_KEY)))
    assert info.value.reason == "kibana_auth"
    assert f"HTTP {status}" in str(info.value)
    assert API_KEY not in str(info.value) and API_KEY not in caplog.text


def test_server_error_is_transient(server: FakeKibana) -> None:
    server.status, server.body = 503, b'{"message":"Kibana server is not ready yet"}'
    with pytest.raises(kibana.KibanaUnavailable) as info:
        kibana.import_objects(server.url, OBJECTS, kibana.KibanaAuth())
    assert info.value.reason == "kibana_http_503"


def test_bad_request_carries_kibanas_message(server: FakeKibana) -> None:
    server.status, server.body = 400, b'{"statusCode":400,"message":"Unsupported file type"}'
    with pytest.raises(kibana.KibanaImportError) as info:
        kibana.import_objects(server.url, OBJECTS, kibana.KibanaAuth())
    assert info.value.reason == "kibana_http_400"
    assert "Unsupported file type" in str(info.value)


def test_non_json_answer(server: FakeKibana) -> None:
    server.body = b"<html>proxy login</html>"
    with pytest.raises(kibana.KibanaImportError) as info:
        kibana.import_objects(server.url, OBJECTS, kibana.KibanaAuth())
    assert info.value.reason == "kibana_bad_response"


def test_unreachable_kibana_names_url_without_credentials(server: FakeKibana) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens on this port once closed
    with pytest.raises(kibana.KibanaUnavailable) as info:
        kibana.import_objects(f"http://admin:{PASSWORD}@127.0.0.1:{port}", OBJECTS, kibana.KibanaAuth())
    assert f"127.0.0.1:{port}" in str(info.value)
    assert PASSWORD not in str(info.value)


def test_auth_needs_one_method_and_a_password() -> None:
    with pytest.raises(ConfigError):
        kibana.KibanaAuth(api_key=SecretStr(API_KEY), username="analyst", password=SecretStr(PASSWORD))
    with pytest.raises(ConfigError):
        kibana.KibanaAuth(username="analyst")


def test_load_objects_names_file_and_line_of_bad_input(tmp_path: Path) -> None:
    (tmp_path / "a.ndjson").write_text(json.dumps(OBJECTS[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"a\.ndjson:2: not JSON"):
        kibana.load_objects(tmp_path)
    (tmp_path / "a.ndjson").write_text('{"id": "x", "attributes": {}}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"a\.ndjson:1: .*missing type"):
        kibana.load_objects(tmp_path)
    with pytest.raises(ConfigError, match=r"no \*\.ndjson"):
        kibana.load_objects(tmp_path / "empty")


def test_retarget_rewrites_only_shipped_data_view_titles() -> None:
    objects = [*OBJECTS, {"id": "other", "type": "index-pattern", "attributes": {"title": "logs-*"}}]
    moved = kibana.retarget(objects, "prod")
    assert [o["attributes"]["title"] for o in moved] == ["prod-articles", "Duplicates", "logs-*"]
    assert OBJECTS[0]["attributes"]["title"] == "news-articles"  # input left untouched
    assert kibana.retarget(objects, "news") == objects


def test_cli_imports_the_shipped_objects_for_the_configured_prefix(server: FakeKibana,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_INDEX_PREFIX", "desk")
    monkeypatch.setenv("INGEST_KIBANA_API_KEY", API_KEY)
    result = CliRunner().invoke(app, ["kibana", "import", "--url", server.url])
    assert result.exit_code == 0, result.output
    assert "imported 2 saved objects" in result.output and API_KEY not in result.output
    (req,) = server.requests
    _, _, content = multipart_file(req)
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    shipped = kibana.load_objects(kibana.OBJECTS_DIR)
    sent = [json.loads(line) for line in text.splitlines()]
    assert [o["id"] for o in sent] == [o["id"] for o in shipped]
    titles = {o["attributes"]["title"] for o in sent if o["type"] == "index-pattern"}
    assert titles == {"desk-articles", "desk-alerts", "desk-sources"}


def test_cli_refuses_two_auth_methods_and_reports_failures(server: FakeKibana) -> None:
    runner = CliRunner()
    both = runner.invoke(app, ["kibana", "import", "--url", server.url, "--api-key", "k", "--user", "u"])
    assert both.exit_code == 2 and server.requests == []
    server.status, server.body = 401, b"{}"
    args = ["kibana", "import", "--url", server.url, "--user", "u", "--password", PASSWORD]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 4 and "kibana_auth" in refused.output and PASSWORD not in refused.output
