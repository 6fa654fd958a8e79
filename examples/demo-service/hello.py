#!/usr/bin/python3
"""hello: the lab's demo service. GET / records a visit in its database, publishes
a visit event to its exchange and answers where it ran and what it saw:
    {"host": ..., "db": {"visits": N}, "published": true}
GET /healthz answers 200 while its database answers.

Environment: PORT, BIND (default 0.0.0.0), DATABASE_URL (a libpq URL; TLS with
sslmode=verify-full&sslrootcert=CA), AMQP_URL (amqps:// for TLS), AMQP_CA (CA file),
EVENTS_EXCHANGE (default hello.events). The platform declares the exchange; this
service only publishes to it, so its broker user needs write permission and no more.
"""
import datetime
import json
import socket
import threading

import pika
import psycopg2

from common import JsonHandler, amqp_parameters, optional, serve, setting

SCHEMA = """CREATE TABLE IF NOT EXISTS visits (
    id bigserial PRIMARY KEY,
    host text NOT NULL,
    at timestamptz NOT NULL DEFAULT now())"""


class Hello:
    def __init__(self):
        self.host = socket.gethostname()
        self.database_url = setting("DATABASE_URL")
        self.amqp = amqp_parameters(setting("AMQP_URL"), optional("AMQP_CA"))
        self.exchange = setting("EVENTS_EXCHANGE", "hello.events")
        self.lock = threading.Lock()
        self.channel = None
        self.schema_ready = False
        # Health checks come every few seconds: they reuse one connection, since a new one
        # costs a TLS handshake and a SCRAM exchange on both ends each time.
        self.health_lock = threading.Lock()
        self.health_conn = None

    def database(self):
        return psycopg2.connect(self.database_url, connect_timeout=5, application_name="hello")

    def record_visit(self):
        with self.database() as conn, conn.cursor() as cur:
            if not self.schema_ready:
                cur.execute(SCHEMA)
                self.schema_ready = True
            cur.execute("INSERT INTO visits (host) VALUES (%s)", (self.host,))
            cur.execute("SELECT count(*) FROM visits")
            return cur.fetchone()[0]

    def publish(self, event):
        """True once the broker confirmed the event and routed it to a queue."""
        with self.lock:
            for attempt in (1, 2):  # one retry on a fresh connection
                try:
                    if self.channel is None or self.channel.is_closed:
                        self.channel = pika.BlockingConnection(self.amqp).channel()
                        self.channel.confirm_delivery()
                    self.channel.basic_publish(
                        self.exchange, "hello.visit", json.dumps(event).encode(),
                        pika.BasicProperties(content_type="application/json", delivery_mode=2),
                        mandatory=True)
                    return True
                except (pika.exceptions.UnroutableError, pika.exceptions.NackError):
                    return False
                except pika.exceptions.AMQPError:
                    self.channel = None
                    if attempt == 2:
                        return False
        return False

    def index(self):
        visits = self.record_visit()
        event = {"type": "visit", "host": self.host, "visits": visits,
                 "at": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        return 200, {"host": self.host, "db": {"visits": visits}, "published": self.publish(event)}

    def healthz(self):
        with self.health_lock:
            try:
                if self.health_conn is None or self.health_conn.closed:
                    self.health_conn = self.database()
                    self.health_conn.autocommit = True
                with self.health_conn.cursor() as cur:
                    cur.execute("SELECT 1")
            except psycopg2.Error:
                if self.health_conn is not None:
                    self.health_conn.close()
                self.health_conn = None  # the next check connects afresh
                raise
        return 200, {"status": "ok"}

    def livez(self):
        # The process serves: no dependency is asked, so it stays cheap to call often.
        return 200, {"status": "alive", "host": self.host}


class Handler(JsonHandler):
    routes = {"/": "index", "/healthz": "healthz", "/livez": "livez"}


if __name__ == "__main__":
    serve(Hello(), Handler)
