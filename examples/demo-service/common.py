"""Pieces both demo services share: settings from the environment, a JSON HTTP
server, and an AMQP connection that verifies the broker's certificate."""
import json
import os
import ssl
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pika


def setting(name, default=None):
    value = os.environ.get(name, default)
    if value is None or value == "":
        sys.exit(f"{name} is not set")
    return value


def optional(name):
    return os.environ.get(name) or None


def amqp_parameters(url, cafile=None):
    """Connection parameters for URL. An amqps URL verifies the broker's certificate
    and host name against CAFILE (the system store when CAFILE is empty)."""
    params = pika.URLParameters(url)
    if urllib.parse.urlsplit(url).scheme == "amqps":
        context = ssl.create_default_context(cafile=cafile or None)
        params.ssl_options = pika.SSLOptions(context, server_hostname=params.host)
    params.heartbeat = 30
    params.blocked_connection_timeout = 10
    params.socket_timeout = 5
    params.connection_attempts = 1
    return params


class JsonHandler(BaseHTTPRequestHandler):
    """Routes GET paths to methods named in `routes`; each returns (status, body)."""
    routes = {}
    # Probe routes: asked every few seconds by Consul, logged only when they fail.
    quiet_routes = {"/healthz", "/livez"}
    server_version = "nordfleet-demo"
    sys_version = ""
    # Keep-alive: the gateway reuses its connections to a replica instead of paying a
    # TCP handshake and a new server thread for every request.
    protocol_version = "HTTP/1.1"
    # An idle connection's thread ends after this; longer than the gateway's upstream
    # keepalive_timeout (60 s), so the gateway closes first and never reuses a connection
    # this side is closing.
    timeout = 75

    # The gateway passes the full path on, its route prefix (GATEWAY_PATH) included.
    prefix = (optional("GATEWAY_PATH") or "/").rstrip("/")

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if self.prefix and (path == self.prefix or path.startswith(self.prefix + "/")):
            path = path[len(self.prefix):] or "/"
        route = self.routes.get(path)
        self.quiet = path in self.quiet_routes
        if route is None:
            status, body = 404, {"error": "not found"}
        else:
            try:
                status, body = getattr(self.server.app, route)()
            except Exception as exc:  # a failed dependency is an answer, not a crash
                status, body = 503, {"error": type(exc).__name__, "detail": str(exc)}
        data = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_request(self, code="-", size="-"):
        if getattr(self, "quiet", False) and str(code).startswith("2"):
            return
        super().log_request(code, size)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


class Server(ThreadingHTTPServer):
    # socketserver's listen backlog is 5: a burst of connections from the gateway would
    # overflow it and time out connecting. The kernel caps it at net.core.somaxconn.
    request_queue_size = 1024


def serve(app, handler):
    """Serves APP on BIND:PORT until the process is stopped."""
    server = Server((setting("BIND", "0.0.0.0"), int(setting("PORT"))), handler)
    server.daemon_threads = True
    server.app = app
    print(f"listening on {server.server_address[0]}:{server.server_address[1]}", flush=True)
    server.serve_forever()
