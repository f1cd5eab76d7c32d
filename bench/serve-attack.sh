#!/usr/bin/env bash
# bench/serve-attack.sh - the slow-upload lockout of issue 9 (item 4), measured: SLOW
# clients from one address (127.0.0.3) each send 3.9 MB of a valid upload and then one
# byte every TRICKLE seconds (under the 10 s idle timeout), while one normal client from
# another address (127.0.0.2) uploads a small .profile every 0.2 s. Prints how many normal
# uploads got 200, 503 or anything else during the attack, their p50, and the server's
# VmHWM and RSS after. Loopback only; every client stops after DURATION seconds.
#
# Usage: bench/serve-attack.sh [extra serve options...]     (needs python3)
#   LP_BIN (default build/leanpix), DURATION (default 30 s), SLOW (default 16),
#   TRICKLE (default 5 s), BENCH_OUT (scratch, default /tmp/leanpix-serve-attack).
# Compare builds by pointing LP_BIN at each, e.g. one built from the commit before the
# per-client limits: LP_BIN=/tmp/old/build/leanpix bench/serve-attack.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
BIN=${LP_BIN:-build/leanpix}
OUT=${BENCH_OUT:-/tmp/leanpix-serve-attack}
DURATION=${DURATION:-30}
SLOW=${SLOW:-16}
TRICKLE=${TRICKLE:-5}
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "serve-attack: build first ($BIN missing)" >&2; exit 1; }

trap 'kill ${SERVE_PID:-} 2>/dev/null || true' EXIT
start_serve "$OUT/serve.log" "$BIN" "$@" || exit 1
PID=$SERVE_PID PORT=$SERVE_PORT

python3 - "$PORT" "$PID" "$DURATION" "$SLOW" "$TRICKLE" <<'PY'
import socket, statistics, sys, threading, time
port, pid, duration, slow, trickle = (int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]),
                                      int(sys.argv[4]), float(sys.argv[5]))
B = b"bench-boundary-1"
PROFILE = (b"GstInput.JoystickDevice1 leanpix Demo Stick\n"
           b"GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.0.button 22\n"
           b"GstKeyBinding.IncomStarshipInputConcepts.ConceptFire.0.deviceid 0\n")

def part(data):
    return (b"--" + B + b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n--" + B + b"--\r\n")

def connect(src):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(15)
    s.connect(("127.0.0.1", port))
    return s

def head(path, length):
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
            f"multipart/form-data; boundary={B.decode()}\r\nContent-Length: {length}\r\n\r\n").encode()

stop = time.monotonic() + duration

def slow_client(i):
    body = part(b"GstKeyBinding.X.0.button 22\n" * (3_900_000 // 28))
    try:
        s = connect("127.0.0.3")
        s.sendall(head("/v1/cards/sws", len(body)) + body[:3_900_000])
        pos = 3_900_000
        while time.monotonic() < stop and pos < len(body):
            time.sleep(trickle)
            s.sendall(body[pos:pos + 1])
            pos += 1
        s.close()
    except OSError:
        pass

codes, lat = {}, []
def normal_client():
    body = part(PROFILE)
    while time.monotonic() < stop:
        t0 = time.monotonic()
        code = 0
        try:
            s = connect("127.0.0.2")
            s.sendall(head("/v1/cards/sws", len(body)) + body)
            resp = b""
            while True:
                got = s.recv(65536)
                if not got:
                    break
                resp += got
            s.close()
            code = int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/1.") else 0
        except (OSError, ValueError, IndexError):
            code = 0
        codes[code] = codes.get(code, 0) + 1
        if code == 200:
            lat.append(time.monotonic() - t0)
        time.sleep(0.2)

threads = [threading.Thread(target=slow_client, args=(i,)) for i in range(slow)]
for t in threads:
    t.start()
time.sleep(2)  # let the slow clients send their 3.9 MB first
normal_client()
for t in threads:
    t.join()
def status(key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key):
            return int(line.split()[1]) // 1024
ok = codes.get(200, 0)
print(f"normal uploads during the attack ({slow} slow clients, {duration:.0f} s): "
      f"200: {ok}, 503: {codes.get(503, 0)}, other: {sum(codes.values()) - ok - codes.get(503, 0)}"
      f" {dict(sorted(codes.items()))}")
if lat:
    print(f"normal upload p50 {statistics.median(lat) * 1000:.1f} ms (200s only)")
print(f"server VmHWM {status('VmHWM')} MiB, VmRSS {status('VmRSS')} MiB")
PY
