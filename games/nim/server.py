#!/usr/bin/env python3
"""Last Stone: a game of Nim for 2 to 4 players over TCP.

Players take turns taking 1 to 3 stones from one pile; whoever takes the
last stone wins. The server waits for every player, runs the game, prints
the outcome as one line

    RESULT {"winner": "<name>", "scores": {...}, "summary": "..."}

on standard output and exits 0 (1 when a player never showed up or
everyone left, 2 on bad arguments).

    server.py --bind ADDR --listen-port PORT --num-players N
              [--names a,b,c] [--stones N] [--room-id N]
              [--join-timeout SECS] [--move-timeout SECS]

Line protocol (UTF-8, one message per line):

    client: JOIN <player_id> <seat>       seat is 0-based; ids are numbers
    server: WELCOME <seat> <num_players>
    server: PILE <stones> <seat to move>  to everyone, before each move
    server: YOUR_MOVE <stones> <max>      to the player to move
    client: TAKE <n>                      1..max
    server: TOOK <seat> <n> <stones left> to everyone
    server: OVER <winner seat> <winner name>
    server: ERR <message>                 a refused line; the client may retry

Connections that close or say nothing valid before JOIN (port probes) are
ignored. A player who sends nothing valid within --move-timeout takes one
stone; a player who disconnects is skipped.
"""

import argparse
import json
import socket
import sys
import time

MAX_LINE = 256
MAX_TAKE = 3


class Player:
    def __init__(self, sock, seat, player_id, name):
        self.sock = sock
        self.seat = seat
        self.player_id = player_id
        self.name = name
        self.reader = sock.makefile("r", encoding="utf-8", newline="\n")
        self.gone = False

    def send(self, line):
        if self.gone:
            return
        try:
            self.sock.sendall((line + "\n").encode("utf-8"))
        except OSError:
            self.gone = True

    def read_line(self, timeout):
        self.sock.settimeout(timeout)
        try:
            line = self.reader.readline(MAX_LINE)
        except (OSError, UnicodeDecodeError, ValueError):
            return None
        if not line:
            self.gone = True
            return None
        return line.strip()


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Last Stone (Nim) game server")
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--num-players", type=int, required=True)
    parser.add_argument("--names", default="", help="comma-separated names, in seat order")
    parser.add_argument("--stones", type=int, default=21)
    parser.add_argument("--room-id", default="")
    parser.add_argument("--join-timeout", type=float, default=60.0)
    parser.add_argument("--move-timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    if not 2 <= args.num_players <= 4:
        parser.error("--num-players must be 2 to 4")
    if not 1 <= args.stones <= 1000:
        parser.error("--stones must be 1 to 1000")
    return args


def wait_for_players(listener, args, names):
    """Accepts connections until every seat is taken; None on timeout."""
    players = {}
    deadline = time.monotonic() + args.join_timeout
    while len(players) < args.num_players:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        listener.settimeout(left)
        try:
            sock, _ = listener.accept()
        except socket.timeout:
            return None
        probe = Player(sock, -1, 0, "")
        words = (probe.read_line(5.0) or "").split()
        if len(words) != 3 or words[0] != "JOIN" or not words[1].isdigit() or not words[2].isdigit():
            sock.close()  # a probe or garbage: not a player
            continue
        player_id, seat = int(words[1]), int(words[2])
        if seat >= args.num_players or seat in players:
            probe.send("ERR seat %d is not free" % seat)
            sock.close()
            continue
        name = names[seat] if seat < len(names) and names[seat] else "player%d" % player_id
        player = Player(sock, seat, player_id, name)
        player.reader = probe.reader
        players[seat] = player
        player.send("WELCOME %d %d" % (seat, args.num_players))
        print("seat %d: %s (id %d) joined" % (seat, name, player_id), flush=True)
    return [players[seat] for seat in sorted(players)]


def ask_move(player, stones, timeout):
    limit = min(MAX_TAKE, stones)
    player.send("YOUR_MOVE %d %d" % (stones, limit))
    for _ in range(3):
        line = player.read_line(timeout)
        if line is None:
            break
        words = line.split()
        if len(words) == 2 and words[0] == "TAKE" and words[1].isdigit() and 1 <= int(words[1]) <= limit:
            return int(words[1])
        player.send("ERR take 1 to %d stones" % limit)
    return 1


def play(players, stones, move_timeout):
    turn = 0
    took = {p.name: 0 for p in players}
    while True:
        active = [p for p in players if not p.gone]
        if not active:
            return None, took
        mover = players[turn % len(players)]
        turn += 1
        if mover.gone:
            continue
        for p in players:
            p.send("PILE %d %d" % (stones, mover.seat))
        n = ask_move(mover, stones, move_timeout)
        stones -= n
        took[mover.name] += n
        print("%s took %d, %d left" % (mover.name, n, stones), flush=True)
        for p in players:
            p.send("TOOK %d %d %d" % (mover.seat, n, stones))
        if stones == 0:
            return mover, took


def main(argv):
    args = parse_args(argv)
    names = [n.strip() for n in args.names.split(",")] if args.names else []
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.bind, args.listen_port))
    listener.listen(16)
    print("Last Stone: room %s, waiting for %d players on %s:%d"
          % (args.room_id or "-", args.num_players, args.bind, args.listen_port), flush=True)
    started = time.monotonic()
    players = wait_for_players(listener, args, names)
    if players is None:
        print("not every player joined within %.0fs" % args.join_timeout, flush=True)
        return 1
    winner, took = play(players, args.stones, args.move_timeout)
    if winner is None:
        print("everyone left", flush=True)
        return 1
    for p in players:
        p.send("OVER %d %s" % (winner.seat, winner.name))
        p.sock.close()
    result = {
        "winner": winner.name,
        "scores": {p.name: (1 if p is winner else 0) for p in players},
        "stones_taken": took,
        "duration_secs": round(time.monotonic() - started, 3),
        "summary": "%s took the last stone" % winner.name,
    }
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
