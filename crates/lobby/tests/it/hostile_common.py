# What both hostile game programs share: the report of their attempts and
# the probes they both make. The tests put it in front of each script.
import ctypes, ctypes.util, os, socket

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
report = {}


def attempt(name, action):
    try:
        result = action()
        report[name] = "ok" if result is None else result
    except BaseException as e:  # noqa: BLE001 - any failure is the answer
        report[name] = "error: %s" % (e,)


def ccall(result):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def read(path):
    with open(path, "rb") as f:
        return "read %d bytes: %s" % (len(data := f.read(4096)), data[:64])


def write(path):
    with open(path, "w") as f:
        f.write("escaped")


def connect(p):
    s = socket.create_connection(("127.0.0.1", p), timeout=2)
    s.close()
