#!/usr/bin/env python3
"""Last Stone client: joins a Last Stone server and plays in the terminal.

    client.py --server HOST:PORT --player-id N --seat N [--auto]

On your turn it asks how many stones to take (1 to 3). With --auto, or
when standard input is not a terminal, it plays by itself (the winning
strategy: leave the others a multiple of four). Exits 0 when the game is
over, 1 when the server cannot be reached or goes away mid-game.
Environment: NIM_ROOM (shown in the banner), NIM_PLAYERS (comma-separated
names, for the display).
"""

import argparse
import os
import socket
import sys


def best_move(stones, limit):
    take = stones % (limit + 1)
    return take if take else 1


def main(argv):
    parser = argparse.ArgumentParser(description="Last Stone (Nim) client")
    parser.add_argument("--server", required=True, help="HOST:PORT")
    parser.add_argument("--player-id", type=int, required=True)
    parser.add_argument("--seat", type=int, required=True)
    parser.add_argument("--auto", action="store_true", help="play by yourself")
    args = parser.parse_args(argv)
    host, _, port = args.server.rpartition(":")
    names = [n for n in os.environ.get("NIM_PLAYERS", "").split(",") if n]
    auto = args.auto or not sys.stdin.isatty()

    def name_of(seat):
        return names[seat] if 0 <= seat < len(names) else "seat %d" % seat

    try:
        sock = socket.create_connection((host, int(port)), timeout=30)
    except (OSError, ValueError) as e:
        print("cannot reach the game server at %s: %s" % (args.server, e))
        return 1
    sock.settimeout(None)
    reader = sock.makefile("r", encoding="utf-8", newline="\n")
    sock.sendall(("JOIN %d %d\n" % (args.player_id, args.seat)).encode())
    print("Last Stone, room %s. You are %s." % (os.environ.get("NIM_ROOM", "?"), name_of(args.seat)))
    while True:
        line = reader.readline(256)
        if not line:
            print("the game server went away")
            return 1
        words = line.split()
        if not words:
            continue
        kind = words[0]
        if kind == "WELCOME":
            print("seated; waiting for %s players" % words[2])
        elif kind == "PILE":
            print("%s stones left; %s to move" % (words[1], name_of(int(words[2]))))
        elif kind == "YOUR_MOVE":
            stones, limit = int(words[1]), int(words[2])
            if auto:
                take = best_move(stones, limit)
                print("you take %d" % take)
            else:
                take = 0
                while not 1 <= take <= limit:
                    try:
                        text = input("take how many (1-%d)? " % limit)
                    except EOFError:
                        text = str(best_move(stones, limit))
                    take = int(text) if text.strip().isdigit() else 0
            sock.sendall(("TAKE %d\n" % take).encode())
        elif kind == "TOOK":
            print("%s took %s" % (name_of(int(words[1])), words[2]))
        elif kind == "ERR":
            print("server: %s" % " ".join(words[1:]))
        elif kind == "OVER":
            winner = int(words[1])
            print("you won!" if winner == args.seat else "%s won" % " ".join(words[2:]))
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
