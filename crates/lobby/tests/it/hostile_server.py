# A hostile game server: tries every escape a published package could try
# and reports what happened to each, over its game port, to the test that
# connects after the lobby's readiness probe (after hostile_common.py). Usage:
#   hostile_server.py PORT HEX_JSON_TARGETS
# The test judges by effect (files on the host, processes, listeners); the
# report only says what the attempts saw, for the failure messages.
import ctypes, ctypes.util, errno, json, mmap, os, signal, socket, sys, time

port = int(sys.argv[1])
targets = json.loads(bytes.fromhex(sys.argv[2]).decode())

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen()
listener.accept()[0].close()  # the lobby's readiness probe

status = open("/proc/self/status").read()
report["cap_eff"] = [l.split()[1] for l in status.splitlines() if l.startswith("CapEff")][0]
report["uid"] = os.getuid()
attempt("remount_root_rw", lambda: ccall(libc.mount(None, b"/", None, 32 | 1 << 5, None)))
attempt("mount_tmpfs", lambda: ccall(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)))
attempt("umount_tmp", lambda: ccall(libc.umount2(b"/tmp", 2)))
attempt("unshare_user", lambda: ccall(libc.unshare(0x10000000)))
attempt("unshare_mount", lambda: ccall(libc.unshare(0x00020000)))
attempt("ptrace_init", lambda: ccall(libc.ptrace(16, 1, None, None)))
attempt("write_host_file", lambda: write(targets["host_marker"]))
attempt("write_other_version", lambda: write(os.path.join(targets["other_version"], "evil.txt")))
for name in ["lobby_db", "lobby_log", "session", "shadow", "other_home"]:
    attempt("read_" + name, lambda p=targets[name]: read(p))
attempt("list_home", lambda: os.listdir("/home"))
attempt("list_root", lambda: os.listdir("/root"))
attempt("list_data_dir", lambda: os.listdir(targets["data_dir"]))


attempt("connect_lobby", lambda: connect(targets["lobby_port"]))
attempt("connect_local_service", lambda: connect(targets["service_port"]))


def bind_other():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return "bound %d" % s.getsockname()[1]


attempt("bind_other_port", bind_other)


def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"escaped", ("127.0.0.1", targets["service_port"]))


attempt("udp_send", udp)


def abstract():
    s = socket.socket(socket.AF_UNIX)
    s.connect("\0" + targets["abstract"])


attempt("abstract_unix", abstract)


def forks():
    children = []
    try:
        for _ in range(300):
            pid = os.fork()
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            children.append(pid)
    except OSError as e:
        return "forked %d then %s" % (len(children), e)
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return "forked %d" % len(children)


attempt("fork_300", forks)


def touch_memory():
    # In a child, so that an out-of-memory kill takes only the child.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        chunks = []
        try:
            for i in range(48):  # 3 GiB in 64 MiB steps
                chunks.append(bytearray(64 << 20))
                os.write(w, b"x")
        except MemoryError:
            os._exit(3)
        os._exit(0)
    os.close(w)
    touched = 0
    while os.read(r, 1):
        touched += 64
    _, status = os.waitpid(pid, 0)
    return "touched %d MiB, status %d" % (touched, status)


attempt("touch_3gib", touch_memory)
attempt("map_10gib", lambda: "mapped %d" % len(mmap.mmap(-1, 10 << 30)))


def daemon():
    # Double fork and a new session: the classic way to outlive a parent.
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time\nwhile True: time.sleep(1)", targets["tag"]])
        os._exit(0)
    os.wait()


attempt("daemon", daemon)
with open(os.environ["GAMESTORE_RESULT_FILE"], "w") as f:
    json.dump({"summary": "tried everything"}, f)

conn, _ = listener.accept()
conn.sendall(json.dumps(report).encode() + b"\n")
conn.recv(16)  # the test says when to end
