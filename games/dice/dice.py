#!/usr/bin/env python3
"""Dice: a launcher plugin in Python (stdlib only) for docs/PLUGINS.md.

`/p roll` or `/p roll NdM` in the room screen rolls the dice, shows the
result and sends it to the other members who run the plugin.
"""
import json
import random
import re
import sys


def out(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def roll(text):
    match = re.fullmatch(r"roll(?:\s+(\d{1,2})d(\d{1,3}))?", text.strip())
    if not match:
        return None
    count = int(match.group(1) or 1)
    sides = int(match.group(2) or 6)
    if not 1 <= count <= 20 or not 2 <= sides <= 100:
        return None
    dice = [random.randint(1, sides) for _ in range(count)]
    return {"dice": dice, "sides": sides, "total": sum(dice)}


def describe(who, result):
    dice = " ".join(str(d) for d in result["dice"])
    return f"{who} rolled {dice} (total {result['total']}, d{result['sides']})"


def main():
    me = "me"
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "hello":
            me = message.get("player") or me
            out({"type": "ready"})
        elif kind == "input":
            result = roll(str(message.get("text", "")))
            if result is None:
                out({"type": "show", "text": "usage: /p roll or /p roll NdM (N up to 20, M up to 100)"})
                continue
            out({"type": "send", "data": result})
            out({"type": "show", "text": describe(me, result)})
        elif kind == "plugin_message":
            data = message.get("data")
            if isinstance(data, dict) and isinstance(data.get("dice"), list):
                safe = {
                    "dice": [d for d in data["dice"] if isinstance(d, int)][:20],
                    "sides": data.get("sides", "?"),
                    "total": data.get("total", "?"),
                }
                out({"type": "show", "text": describe(str(message.get("from", "?")), safe)})


if __name__ == "__main__":
    main()
