"""Issue 17 probe: server memory while connections push an unfinished header line (`X-Grow: aaaa...`).

Usage: python bench/probe_head_flood.py --port PORT --pid SERVER_PID [--connections 4] [--seconds 8]
Each connection sends a request line, then an `X-Grow:` header whose line never ends, in 64 KiB
pieces, until the server refuses it or `--seconds` pass. Prints bytes each connection got in, what
it answered, and the server's resident memory (VmRSS) before and at its peak.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading
import time


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def push(port: int, seconds: float, out: list[tuple[int, bytes]]) -> None:
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds + 5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Grow: ")
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass
        with contextlib.suppress(OSError):
            answer = sock.recv(200)
    out.append((sent, answer.split(b"\r\n", 1)[0]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    before = rss_mib(args.pid)
    results: list[tuple[int, bytes]] = []
    threads = [threading.Thread(target=push, args=(args.port, args.seconds, results))
               for _ in range(args.connections)]
    for thread in threads:
        thread.start()
    peak = before
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss_mib(args.pid))
        time.sleep(0.05)
    for sent, status in results:
        shown = status.decode(errors="replace")
        print(f"connection: {sent / 2**20:.2f} MiB sent (into socket buffers too) before refusal or end, "
              f"answer {shown!r}")
    print(f"server RSS: {before:.0f} MiB before, {peak:.0f} MiB peak (+{peak - before:.0f} MiB)")


if __name__ == "__main__":
    main()
