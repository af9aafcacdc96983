#!/usr/bin/env python3
"""Measures what hostile connections cost a real gamestore-lobby binary.

Usage: scripts/reliability/connections.py LOBBY_BINARY [--anonymous N] [--stalled N]

Starts the given lobby on loopback with a temporary data folder and runs:

  anonymous  N connections that never say HELLO, each sending a frame
             header for a 1 MiB message and then as much of its body as
             the lobby takes (up to 1 MiB); then the same with frames of
             just under 64 KiB. Reports the lobby's RSS before and after.
  stalled    N players that pipeline requests without reading a reply, then
             lobby chat pushed to them; and N players that start a 24 MiB
             download and stop reading. Reports, two idle timeouts later,
             how many of their connections the lobby still holds and how
             many "too slow" lines it logged.

Prints one JSON object with the figures. Everything runs on 127.0.0.1 and
every process it starts is stopped when it ends.
"""

import argparse
import hashlib
import io
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

PASSWORD = "correct horse"


def frame(kind, body):
    return struct.pack(">IB", len(body) + 1, kind) + body


def message(obj):
    return frame(1, json.dumps(obj).encode())


class Lobby:
    def __init__(self, binary, args):
        self.tmp = tempfile.TemporaryDirectory()
        cmd = [binary, "--listen", "127.0.0.1:0", "--data-dir", os.path.join(self.tmp.name, "data"),
               "--public-host", "127.0.0.1", "--game-bind", "127.0.0.1",
               "--password-hash-kib", "1024", "--password-hash-passes", "1"] + args
        env = dict(os.environ, GAMESTORE_LOG="info")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env, text=True)
        self.lines = []
        ready = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.lines.append(line)
                m = re.search(r"listening on (\S+)", line)
                if m:
                    host, port = m.group(1).rsplit(":", 1)
                    self.addr = (host, int(port))
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(30):
            self.stop()
            raise SystemExit("the lobby did not start:\n" + "".join(self.lines))

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def count(self, needle):
        return sum(1 for line in self.lines if needle in line)

    def stop(self):
        self.proc.kill()
        self.proc.wait(10)
        self.tmp.cleanup()


class Conn:
    def __init__(self, addr, timeout=30):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.buf = b""
        self.next_id = 1

    def read_message(self):
        while True:
            if len(self.buf) >= 4:
                (length,) = struct.unpack(">I", self.buf[:4])
                if len(self.buf) >= 4 + length:
                    body, self.buf = self.buf[4:4 + length], self.buf[4 + length:]
                    if body[0] == 1:
                        return json.loads(body[1:])
                    continue  # binary frames are not wanted here
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def call(self, kind, data=None):
        rid = self.next_id
        self.next_id += 1
        self.sock.sendall(message({"id": rid, "type": kind, "data": data or {}}))
        while True:
            m = self.read_message()
            if m is None:
                raise ConnectionError(f"closed while waiting for {kind}")
            if m.get("id") in (rid, 0):
                if m["type"] == "ERROR":
                    raise RuntimeError(f"{kind}: {m['data']}")
                return m["data"]

    @staticmethod
    def hello(addr):
        c = Conn(addr)
        c.call("HELLO", {"protocol": 1, "client": "reliability"})
        return c


def player(addr, name):
    c = Conn.hello(addr)
    c.call("REGISTER", {"user": name, "password": PASSWORD})
    c.call("LOGIN", {"user": name, "password": PASSWORD})
    return c


def package(size):
    manifest = {
        "id": "big", "name": "Big", "version": "1.0.0", "description": "A big game.",
        "kind": "cli", "min_players": 1, "max_players": 4,
        "server": {"command": ["bin/server.sh", "{port}"]},
        "client": {"command": ["bin/client.sh", "{host}", "{port}"]},
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("config.json", json.dumps(manifest))
        for script in ("bin/server.sh", "bin/client.sh"):
            info = zipfile.ZipInfo(script)
            info.external_attr = 0o100755 << 16
            z.writestr(info, "#!/bin/sh\n")
        z.writestr("data/blob.bin", os.urandom(size))
    return out.getvalue()


def publish(addr, zip_bytes):
    dev = Conn.hello(addr)
    dev.call("DEV_REGISTER", {"user": "dana", "password": PASSWORD})
    dev.call("DEV_LOGIN", {"user": "dana", "password": PASSWORD})
    upload_id = dev.next_id
    dev.call("GAME_UPLOAD", {"id": "big", "version": "1.0.0", "size": len(zip_bytes),
                             "sha256": hashlib.sha256(zip_bytes).hexdigest()})
    for i in range(0, len(zip_bytes), 256 * 1024):
        dev.sock.sendall(frame(2, struct.pack(">I", upload_id) + zip_bytes[i:i + 256 * 1024]))
    dev.call("GAME_UPLOAD_DONE", {"upload": upload_id})
    dev.sock.close()


def anonymous(binary, n):
    lobby = Lobby(binary, ["--handshake-timeout", "120"])
    try:
        time.sleep(1)  # let start-up allocations settle before the baseline
        base = lobby.rss_kib()
        result = {"connections": n, "rss_before_kib": base}
        for name, length in (("1MiB", 1024 * 1024), ("64KiB", 64 * 1024 - 1)):
            socks = []
            for _ in range(n):
                s = socket.create_connection(lobby.addr, timeout=5)
                s.setblocking(False)
                body = b" " * (length - 2)  # one byte short of the whole frame
                data = struct.pack(">IB", length, 1) + body
                try:
                    sent = s.send(data)
                    while sent < len(data):
                        sent += s.send(data[sent:])
                except (BlockingIOError, OSError):
                    pass
                socks.append(s)
            time.sleep(2)  # the lobby reads what it is sent
            result[f"rss_with_{name}_partial_frames_kib"] = lobby.rss_kib()
            for s in socks:
                s.close()
            time.sleep(1)
        return result
    finally:
        lobby.stop()


def stalled(binary, n):
    idle = 3
    lobby = Lobby(binary, ["--idle-timeout", str(idle), "--max-connections", str(2 * n + 2)])
    try:
        publish(lobby.addr, package(24 << 20))
        readers = []
        for i in range(n):
            c = player(lobby.addr, f"stall{i}")
            request = message({"id": 7, "type": "WHOAMI", "data": {}}) * 256
            c.sock.settimeout(1)
            try:
                for _ in range(100000):
                    c.sock.sendall(request)
            except (socket.timeout, OSError):
                pass
            readers.append(c)
        downloaders = []
        for i in range(n):
            c = player(lobby.addr, f"down{i}")
            c.call("GAME_DOWNLOAD", {"id": "big", "version": "1.0.0"})
            downloaders.append(c)
        chatty = player(lobby.addr, "chatty")
        for k in range(10):
            chatty.call("CHAT_SEND", {"scope": "lobby", "text": f"message {k}"})
        deadline = time.time() + 2 * idle + 2
        while time.time() < deadline:
            chatty.call("PING")
            time.sleep(0.5)
        # Slots still held by the stalled: a cap of 2n+2 minus chatty and the
        # stalled still held leaves this many for new clients.
        probes = []
        while len(probes) < 2 * n + 2:
            try:
                probes.append(Conn.hello(lobby.addr))
            except (RuntimeError, ConnectionError, OSError):
                break
        held = 2 * n + 1 - len(probes)
        return {"stalled_readers": n, "stalled_downloaders": n,
                "still_held_after_2x_idle_timeout": held,
                "too_slow_log_lines": lobby.count("too slow"),
                "rss_kib": lobby.rss_kib()}
    finally:
        lobby.stop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("--anonymous", type=int, default=300)
    p.add_argument("--stalled", type=int, default=21)
    a = p.parse_args()
    out = {"anonymous": anonymous(a.binary, a.anonymous), "stalled": stalled(a.binary, a.stalled)}
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
