from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from jobico.schemas import compile_offline, json_pointer, problems, where
from tui.validation import check_item


def test_pointers_escape_as_rfc_6901_says() -> None:
    assert json_pointer(["a/b", "m~n", 0]) == "/a~1b/m~0n/0"
    assert json_pointer([]) == "" and where([]) == "(the item)"


def test_problems_stop_at_the_limit_and_say_where() -> None:
    schema = {"type": "object", "required": [f"f{i}" for i in range(20)],
              "properties": {"a": {"type": "array", "items": {"type": "integer"}}}}
    found = problems(compile_offline(schema), {"a": ["x", "y"]}, 3)
    assert len(found) == 3
    assert any(p.startswith("/a/0: ") for p in problems(compile_offline(schema), {"a": ["x"]}, 100))


@pytest.fixture
def counting_server() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b'{"type": "integer"}'
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/s.json", hits
    server.shutdown()


def test_a_remote_ref_is_never_fetched_by_the_dashboard_either(
    counting_server: tuple[str, list[str]],
) -> None:
    url, hits = counting_server
    _, said = check_item("1", {"$ref": url})
    assert hits == [] and said and "schema" in said[0]
    with pytest.raises(ValueError):
        compile_offline({"$ref": url})
    assert hits == []
