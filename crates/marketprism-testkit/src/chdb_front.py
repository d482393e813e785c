"""ClickHouse's HTTP interface served over the in-process ClickHouse engine of chdb.

Test infrastructure of MarketPrism: no package registry ships a current ClickHouse *server*,
but PyPI's `chdb-core` ships the current engine as a library. This front lets storage,
migrations and the end-to-end checks talk to that engine exactly as they talk to a server,
over HTTP. Production always uses a real clickhouse-server.

What it serves, as clickhouse-server does:
  * `GET /` and `GET /ping` answer `Ok.`;
  * the query in the `query` parameter or, without one, in the body; with one, a POST body
    is the data of an `INSERT ... FORMAT <name>` (chunked and gzip/deflate bodies included);
  * `database`, `default_format`, `param_<name>` query parameters, and every other parameter
    as a setting of that request only;
  * errors as `Code: N. DB::Exception: ...` with ClickHouse's HTTP status for the error and
    the `X-ClickHouse-Exception-Code` header.

The engine is one stateful session, so requests run one at a time. Bodies are read whole
before the engine is taken, so a slow client does not hold up the others. Insert data goes
to the engine through a file (`INSERT ... FROM INFILE`): chdb's streaming insert reports
success for a block that a table constraint refused, and stores nothing.

Run it from its data directory (chdb reads `./config.xml` from the working directory):

    python3 chdb_front.py --port 8123 --path ./data
"""

import argparse
import gzip
import json
import os
import re
import signal
import sys
import tempfile
import threading
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from chdb.state import sqlitelike

# Parameters of the HTTP interface itself; any other parameter is a setting.
INTERFACE_PARAMETERS = {
    "query",
    "database",
    "default_format",
    "user",
    "password",
    "query_id",
    "session_id",
    "session_timeout",
    "session_check",
    "role",
    "compress",
    "decompress",
    "buffer_size",
    "wait_end_of_query",
    "quota_key",
}

# ClickHouse's status for an error, by error name (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp).
STATUS_BY_ERROR = {
    **dict.fromkeys(["REQUIRED_PASSWORD"], 401),
    **dict.fromkeys(
        [
            "UNKNOWN_USER",
            "WRONG_PASSWORD",
            "AUTHENTICATION_FAILED",
            "SET_NON_GRANTED_ROLE",
            "ACCESS_DENIED",
        ],
        403,
    ),
    **dict.fromkeys(
        [
            "BAD_ARGUMENTS",
            "CANNOT_COMPILE_REGEXP",
            "CANNOT_PARSE_TEXT",
            "CANNOT_PARSE_ESCAPE_SEQUENCE",
            "CANNOT_PARSE_QUOTED_STRING",
            "CANNOT_PARSE_DATE",
            "CANNOT_PARSE_DATETIME",
            "CANNOT_PARSE_NUMBER",
            "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
            "CANNOT_PARSE_IPV4",
            "CANNOT_PARSE_IPV6",
            "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
            "CANNOT_PARSE_UUID",
            "DUPLICATE_COLUMN",
            "ILLEGAL_COLUMN",
            "UNKNOWN_ELEMENT_IN_AST",
            "UNKNOWN_TYPE_OF_AST_NODE",
            "THERE_IS_NO_COLUMN",
            "TOO_DEEP_AST",
            "TOO_BIG_AST",
            "UNEXPECTED_AST_STRUCTURE",
            "SYNTAX_ERROR",
            "INCORRECT_DATA",
            "TYPE_MISMATCH",
            "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
        ],
        400,
    ),
    **dict.fromkeys(
        [
            "UNKNOWN_TABLE",
            "UNKNOWN_FUNCTION",
            "UNKNOWN_IDENTIFIER",
            "UNKNOWN_TYPE",
            "UNKNOWN_STORAGE",
            "UNKNOWN_DATABASE",
            "UNKNOWN_SETTING",
            "UNKNOWN_DIRECTION_OF_SORTING",
            "UNKNOWN_AGGREGATE_FUNCTION",
            "UNKNOWN_FORMAT",
            "UNKNOWN_DATABASE_ENGINE",
            "UNKNOWN_TYPE_OF_QUERY",
            "UNKNOWN_ROLE",
        ],
        404,
    ),
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "SOCKET_TIMEOUT": 503,
    "CANNOT_OPEN_FILE": 503,
    "CANNOT_SCHEDULE_TASK": 503,
    "HTTP_LENGTH_REQUIRED": 411,
    "TIMEOUT_EXCEEDED": 408,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}

# ClickHouse's code for an unexpected failure of the front itself (STD_EXCEPTION).
STD_EXCEPTION = 1001

EXCEPTION = re.compile(r"Code: (\d+)\. .*", re.DOTALL)
ERROR_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)")
# `INSERT ... FORMAT <name>`, optionally followed by inline data on the next lines.
INSERT_WITH_FORMAT = re.compile(
    r"^\s*(?P<head>INSERT\b.*?)\bFORMAT\s+(?P<format>\w+)[ \t]*(?:\r?\n(?P<inline>.*))?$",
    re.DOTALL | re.IGNORECASE,
)
SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ClickHouseError(Exception):
    """An error in ClickHouse's form: its code, its text and the HTTP status it maps to."""

    def __init__(self, code, text):
        super().__init__(text)
        self.code = code
        self.text = text

    @classmethod
    def from_engine(cls, error):
        message = str(error)
        found = EXCEPTION.search(message)
        if found is None:
            return cls(STD_EXCEPTION, f"Code: {STD_EXCEPTION}. DB::Exception: {message}")
        return cls(int(found.group(1)), found.group(0).strip())

    def status(self):
        name = ERROR_NAME.search(self.text)
        return STATUS_BY_ERROR.get(name.group(1), 500) if name else 500


class Engine:
    """One chdb session shared by every request, used by one request at a time."""

    def __init__(self, path):
        self.spool = os.path.join(path, "spool")
        os.makedirs(self.spool, exist_ok=True)
        self.connection = sqlitelike.Connection(path)
        self.lock = threading.Lock()
        self.database = "default"
        self.version = self.connection.query("SELECT version()", "TabSeparated").bytes().decode().strip()

    def run(self, query, data, database, default_format, settings, params):
        """Runs one request's statement and returns its output."""
        with self.lock:
            if database != self.database:
                self.connection.query(f"USE `{database}`")
                self.database = database
            applied = []
            try:
                for name, value in settings.items():
                    self.connection.query(f"SET {name} = {quote(value)}")
                    applied.append(name)
                return self.execute(query, data, default_format, params)
            finally:
                for name in applied:
                    self.connection.query(f"SET {name} = DEFAULT")

    def execute(self, query, data, default_format, params):
        insert = INSERT_WITH_FORMAT.match(query)
        if insert is not None and (data or insert.group("inline")):
            inline = insert.group("inline")
            body = (inline.encode() if inline else b"") + data
            head, settings = split_settings(insert.group("head"))
            with tempfile.NamedTemporaryFile(dir=self.spool, suffix=".bin") as spooled:
                spooled.write(body)
                spooled.flush()
                self.connection.query(
                    f"{head} FROM INFILE '{spooled.name}' {settings} FORMAT {insert.group('format')}"
                )
            return b""
        return self.connection.query(query, default_format, params=params or None).bytes()

    def close(self):
        with self.lock:
            self.connection.close()


def split_settings(head):
    """`INSERT INTO t (a, b) SETTINGS k = v` as its target and its SETTINGS clause, which
    `FROM INFILE` must precede."""
    found = re.search(r"\bSETTINGS\b", head, re.IGNORECASE)
    if found is None:
        return head.strip(), ""
    return head[: found.start()].strip(), head[found.start():].strip()


def quote(value):
    """A setting value as an SQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Handler(BaseHTTPRequestHandler):
    """The HTTP side: parses a request, hands it to the engine, answers as ClickHouse does."""

    protocol_version = "HTTP/1.1"
    server_version = "chdb-front"
    engine = None

    def do_GET(self):
        self.handle_request(body=b"")

    def do_POST(self):
        try:
            body = self.read_body()
        except (OSError, ValueError, EOFError, zlib.error) as error:
            self.answer_error(ClickHouseError(STD_EXCEPTION, f"Code: {STD_EXCEPTION}. DB::Exception: cannot read the request body: {error}"))
            return
        self.handle_request(body)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(parts)
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        encoding = self.headers.get("Content-Encoding", "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding not in ("", "identity"):
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")
        return body

    def handle_request(self, body):
        url = urlsplit(self.path)
        parameters = dict(parse_qsl(url.query, keep_blank_values=True))
        if url.path in ("/ping", "/") and "query" not in parameters and not body:
            self.answer(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
            return
        if "query" in parameters:
            query, data = parameters["query"], body
        else:
            query, data = body.decode("utf-8", errors="replace"), b""
        database = parameters.get("database") or self.headers.get("X-ClickHouse-Database") or "default"
        default_format = parameters.get("default_format") or self.headers.get("X-ClickHouse-Format") or "TabSeparated"
        params = {name[len("param_"):]: value for name, value in parameters.items() if name.startswith("param_")}
        settings = {
            name: value
            for name, value in parameters.items()
            if name not in INTERFACE_PARAMETERS and not name.startswith("param_")
        }
        query_id = parameters.get("query_id") or str(uuid.uuid4())
        try:
            for name in settings:
                if not SETTING_NAME.match(name):
                    raise ClickHouseError(115, f"Code: 115. DB::Exception: Unknown setting '{name}'. (UNKNOWN_SETTING)")
            try:
                output = self.engine.run(query, data, database, default_format, settings, params)
            except ClickHouseError:
                raise
            except Exception as error:
                raise ClickHouseError.from_engine(error) from error
        except ClickHouseError as error:
            self.answer_error(error, query_id)
            return
        summary = {"written_bytes": str(len(data)), "result_bytes": str(len(output))}
        self.answer(
            200,
            output,
            {
                "Content-Type": "application/octet-stream",
                "X-ClickHouse-Query-Id": query_id,
                "X-ClickHouse-Format": default_format,
                "X-ClickHouse-Summary": json.dumps(summary, separators=(",", ":")),
            },
        )

    def answer_error(self, error, query_id=None):
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Exception-Code": str(error.code),
        }
        if query_id:
            headers["X-ClickHouse-Query-Id"] = query_id
        text = error.text
        if "(version " not in text and self.engine is not None:
            text = f"{text} (version {self.engine.version})"
        self.answer(error.status(), (text + "\n").encode(), headers)

    def answer(self, status, payload, headers):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("X-ClickHouse-Server-Display-Name", "chdb-front")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):
        # One line per request would drown the harness's logs; errors are answered, not logged.
        pass


def main():
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--host", default="127.0.0.1")
    arguments.add_argument("--port", type=int, required=True)
    arguments.add_argument("--path", required=True, help="the engine's data directory")
    options = arguments.parse_args()

    engine = Engine(options.path)
    Handler.engine = engine
    server = ThreadingHTTPServer((options.host, options.port), Handler)
    server.daemon_threads = True

    def stop(_signal, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"chdb-front: ClickHouse {engine.version} on http://{options.host}:{options.port}", flush=True)
    server.serve_forever()
    server.server_close()
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
