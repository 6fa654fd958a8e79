#!/usr/bin/python3
"""audit: the lab's demo consumer. It reads the events hello publishes from the
queue the platform bound to hello's exchange, and keeps the last few.
GET /events answers them (newest last); GET /healthz answers 200 while it consumes.

Environment: PORT, BIND (default 0.0.0.0), EVENTS_AMQP_URL (amqps://audit:...@broker/hello:
hello's vhost, where this service may read its own queue and nothing else), AMQP_CA,
EVENTS_QUEUE (default audit.hello), EVENTS_KEEP (default 50).
"""
import collections
import json
import sys
import threading
import time

import pika

from common import JsonHandler, amqp_parameters, optional, serve, setting


class Audit:
    def __init__(self):
        self.amqp = amqp_parameters(setting("EVENTS_AMQP_URL"), optional("AMQP_CA"))
        self.queue = setting("EVENTS_QUEUE", "audit.hello")
        self.events = collections.deque(maxlen=int(setting("EVENTS_KEEP", "50")))
        self.lock = threading.Lock()
        self.consuming = threading.Event()

    def on_message(self, channel, method, _properties, body):
        try:
            event = json.loads(body)
        except ValueError:
            event = {"unreadable": body.decode("utf-8", "replace")}
        with self.lock:
            self.events.append(event)
        channel.basic_ack(method.delivery_tag)

    def consume_forever(self):
        delay = 1
        while True:
            try:
                channel = pika.BlockingConnection(self.amqp).channel()
                channel.basic_qos(prefetch_count=20)
                channel.basic_consume(self.queue, self.on_message)
                self.consuming.set()
                delay = 1
                channel.start_consuming()
            except pika.exceptions.AMQPError as exc:
                print(f"consumer: {type(exc).__name__}: {exc}; retrying in {delay}s", file=sys.stderr, flush=True)
            except OSError as exc:
                print(f"consumer: {exc}; retrying in {delay}s", file=sys.stderr, flush=True)
            self.consuming.clear()
            time.sleep(delay)
            delay = min(delay * 2, 30)

    def list_events(self):
        with self.lock:
            return 200, list(self.events)

    def healthz(self):
        if self.consuming.is_set():
            return 200, {"status": "ok", "queue": self.queue}
        return 503, {"status": "not consuming", "queue": self.queue}


class Handler(JsonHandler):
    routes = {"/events": "list_events", "/healthz": "healthz"}


if __name__ == "__main__":
    app = Audit()
    threading.Thread(target=app.consume_forever, daemon=True).start()
    serve(app, Handler)
