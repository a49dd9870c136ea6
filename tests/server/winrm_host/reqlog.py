"""--log-requests: one JSON object per line per HTTP request, so tests can
count round trips and check which requests carried credentials."""

import json
import threading


class RequestLog:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def write(self, **fields):
        if not self.path:
            return
        line = json.dumps(fields, sort_keys=True) + "\n"
        with self.lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
