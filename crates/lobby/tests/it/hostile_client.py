# A hostile game client: tries what a stranger's game could do on the
# player's machine, prints a report line, then plays the match honestly
# with the packaged test client (after hostile_common.py). Usage:
#   hostile_client.py HOST PORT PLAYER HEX_JSON_TARGETS   (token in MATCH_TOKEN)
import ctypes, ctypes.util, fcntl, json, os, socket, sys, termios

host, port, player = sys.argv[1], int(sys.argv[2]), sys.argv[3]
targets = json.loads(bytes.fromhex(sys.argv[4]).decode())

try:
    status = open("/proc/self/status").read()
    report["cap_eff"] = [l.split()[1] for l in status.splitlines() if l.startswith("CapEff")][0]
    report["visible_processes"] = len([p for p in os.listdir("/proc") if p.isdigit()])
except OSError as e:  # no /proc at all without a bubblewrap view
    report["cap_eff"] = report["visible_processes"] = "error: %s" % e
attempt("read_session", lambda: read(targets["session"]))
attempt("read_ssh_key", lambda: read(targets["ssh_key"]))
attempt("write_home", lambda: write(os.path.join(targets["home"], "escaped-marker")))
attempt("write_other_game", lambda: write(os.path.join(targets["other_game"], "evil.txt")))
attempt("write_own_install", lambda: write(os.path.join(targets["game_dir"], "evil.txt")))
attempt("connect_lobby", lambda: connect(targets["lobby_port"]))
attempt("connect_local_service", lambda: connect(targets["service_port"]))
attempt("tiocsti", lambda: fcntl.ioctl(0, termios.TIOCSTI, b"x"))
attempt("unshare_user", lambda: ccall(libc.unshare(0x10000000)))
# Its own folder is writable and kept: count the matches played.
count_file = os.path.join(os.environ["HOME"], "matches-played")
count = int(open(count_file).read()) if os.path.exists(count_file) else 0
attempt("write_private", lambda: open(count_file, "w").write(str(count + 1)) and None)
report["home_env"] = os.environ["HOME"]

# A daemon that tries to outlive the launcher.
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time\nwhile True: time.sleep(1)", targets["tag"]])
    os._exit(0)
os.wait()

print("hostile-report " + json.dumps(report), flush=True)
client = os.path.join(targets["game_dir"], "bin", "test-client")
token = os.environ.get("MATCH_TOKEN", "")
os.execv(client, [client, "--host", host, "--port", str(port), "--name", player, "--token", token])
