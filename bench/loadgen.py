"""The load generator of the benchmarks: HTTP/1.1 keep-alive clients on asyncio.

Only the standard library (C{asyncio}, C{ssl}), so it runs in any Python
3.11 without the project's dependencies, and it runs as its own process so
it never shares a core's time with the server it measures.  Each
connection is opened (TLS handshake included) before the warm-up, then
sends one request at a time, the next as soon as the previous answer is
complete: no pipelining, as real RAPI clients do.

Two kinds of load:

 - C{http}: the same request again and again on C{--connections}
   connections; reports requests per second and per-request latency.
 - C{jobs}: C{--connections} clients each submit a tag job
   (C{PUT <path>?tag=bN}, Basic auth) and follow it to its end, either by
   long-polling C{/2/jobs/ID/wait} or by polling C{GET /2/jobs/ID}; reports
   finished jobs per second and the submit-to-success latency.
 - C{waiters}: C{--connections} long polls held at once, then one change
   answers them all; reports the server's memory per waiting request and
   how long after the change each waiter had its answer.  Against the
   daemon (C{--waiters-target rapi}) the waiters long-poll
   C{/2/jobs/ID/wait} of a job that sleeps (C{OP_TEST_DELAY}, submitted
   over the control socket) and the change is its end; against the bare
   long-poll of L{baseline} (C{bare}) they C{GET} any path and a
   C{GET /release} answers them all.

Only what completes inside the measuring window counts: the window opens
after C{--warmup} seconds and lasts C{--duration} seconds (or until
C{--requests} measured requests or jobs).  With C{--server-pid} the CPU
time the server and this client spent inside the window is reported too,
which says which side was the bottleneck.  The result is one JSON object
on standard output.

Targets are restricted to loopback addresses: this tool only ever loads
servers the suite started itself on this machine.
"""

import argparse
import asyncio
import base64
import ipaddress
import json
import os
import resource
import ssl
import sys
import time
import urllib.parse

FINAL_STATUSES = frozenset(["success", "error", "canceled"])

#: Response states of L{HTTPConnection}.
_HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _TRAILER, _UNTIL_CLOSE = range(6)


class Response:
    __slots__ = ("status", "body", "close")

    def __init__(self, status, body, close):
        self.status = status
        self.body = body
        self.close = close


class HTTPConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 client connection, one request at a time.

    The response parser knows what our servers send: C{Content-Length}
    bodies, chunked bodies (twisted.web's answer to a resource that
    finishes later), and bodies ended by the server closing.
    """

    def __init__(self):
        self.transport = None
        self.buf = bytearray()
        self.waiter = None
        self.lost = None
        self._state = _HEAD

    # -- asyncio.Protocol

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        self.lost = exc or ConnectionError("connection closed by the server")
        if self._state == _UNTIL_CLOSE:
            self._complete(bytes(self.buf))
            return
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(str(self.lost)))

    def data_received(self, data):
        self.buf += data
        self._parse()

    # -- requests

    def request(self, raw):
        """Send the complete request C{raw}; a future of its L{Response}."""
        if self.lost is not None:
            raise ConnectionError(str(self.lost))
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return self.waiter

    def tls_info(self):
        obj = self.transport.get_extra_info("ssl_object")
        if obj is None:
            return None
        return {"version": obj.version(), "cipher": obj.cipher()[0]}

    def close(self):
        if self.transport is not None:
            self.transport.close()

    # -- parsing

    def _parse(self):
        buf = self.buf
        while True:
            state = self._state
            if state == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                lines = bytes(buf[:end]).split(b"\r\n")
                del buf[: end + 4]
                self._status = int(lines[0].split(b" ", 2)[1])
                length, chunked, self._close = None, False, False
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"transfer-encoding":
                        chunked = b"chunked" in value.lower()
                    elif name == b"connection":
                        self._close = b"close" in value.lower()
                if self._status in (204, 304):
                    length = 0
                if chunked:
                    self._body = bytearray()
                    self._state = _CHUNK_SIZE
                elif length is not None:
                    self._remaining = length
                    self._state = _BODY
                else:
                    self._state = _UNTIL_CLOSE
                    return
            elif state == _BODY:
                if len(buf) < self._remaining:
                    return
                body = bytes(buf[: self._remaining])
                del buf[: self._remaining]
                self._complete(body)
            elif state == _CHUNK_SIZE:
                end = buf.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(buf[:end]).split(b";")[0], 16)
                del buf[: end + 2]
                if size:
                    self._remaining = size
                    self._state = _CHUNK_DATA
                else:
                    self._state = _TRAILER
            elif state == _CHUNK_DATA:
                if len(buf) < self._remaining + 2:
                    return
                self._body += buf[: self._remaining]
                del buf[: self._remaining + 2]
                self._state = _CHUNK_SIZE
            elif state == _TRAILER:
                end = buf.find(b"\r\n")
                if end < 0:
                    return
                del buf[: end + 2]
                if end == 0:
                    self._complete(bytes(self._body))
            else:  # _UNTIL_CLOSE: connection_lost completes it
                return

    def _complete(self, body):
        self._state = _HEAD
        response = Response(self._status, body, self._close)
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)
        if self._close:
            self.transport.close()


def build_request(method, path, host, auth=None, body=None):
    """The bytes of one HTTP/1.1 request (keep-alive, JSON body if any)."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % host]
    if auth is not None:
        token = base64.b64encode(auth.encode("utf-8")).decode("ascii")
        lines.append("Authorization: Basic %s" % token)
    data = b""
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        lines.append("Content-Type: application/json")
    if body is not None or method in ("PUT", "POST"):
        lines.append("Content-Length: %d" % len(data))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + data


class Target:
    """Where the load goes: scheme, loopback host, port, and how to connect."""

    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise SystemExit("loadgen: only http:// and https:// URLs")
        host = parts.hostname or ""
        if host != "localhost":
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                raise SystemExit("loadgen: refusing non-loopback target %r" % host)
        self.host = host
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.path = parts.path or "/"
        if parts.query:
            self.path += "?" + parts.query
        self.host_header = parts.netloc
        self.ssl = None
        if parts.scheme == "https":
            # The suite's servers have throw-away self-signed certificates.
            self.ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self.ssl.check_hostname = False
            self.ssl.verify_mode = ssl.CERT_NONE

    async def connect(self):
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            HTTPConnection, self.host, self.port, ssl=self.ssl
        )
        return conn


class Window:
    """The measuring window and what was recorded inside it."""

    def __init__(self, warmup, duration, max_count):
        now = time.perf_counter()
        self.start = now + warmup
        self.end = now + duration + warmup if duration else float("inf")
        self.max_count = max_count
        self.latencies = []
        self.second_latencies = []
        self.errors = 0
        self.error_kinds = {}
        self.done = asyncio.Event()
        self.last = None
        #: Latency of the first operation to complete (warm-up included):
        #: on a server that just started, what the first client waits.
        self.first = None

    def running(self):
        return not self.done.is_set() and time.perf_counter() < self.end

    def record(self, started, finished, ok=True, kind=None, second=None):
        """Count one operation that ran from C{started} to C{finished}."""
        if self.first is None and ok:
            self.first = finished - started
        if finished < self.start or finished > self.end or self.done.is_set():
            return
        if ok:
            self.latencies.append(finished - started)
            if second is not None:
                self.second_latencies.append(second)
        else:
            self.errors += 1
            self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1
        self.last = finished
        if self.max_count and len(self.latencies) + self.errors >= self.max_count:
            self.done.set()

    def elapsed(self):
        if self.end != float("inf"):
            return self.end - self.start
        return (self.last or self.start) - self.start


def cpu_seconds(pid):
    """CPU seconds of process C{pid} so far, with its reaped children (Linux).

    The children count because they are the server's work too (a
    subprocess a request handler runs, for instance).
    """
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of proc(5)); utime, stime, cutime and
    # cstime are fields 14 to 17.
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid):
    """Resident memory of process C{pid} in MiB, or None if it is gone (Linux)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return None


def raise_fd_limit():
    """Raise the soft limit of open files to the hard one; C{(soft, hard)}."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft, hard


def machine_busy_seconds():
    """CPU seconds all cores of the machine spent busy so far (Linux)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    # user nice system idle iowait irq softirq steal ...: idle and iowait
    # are not work.
    ticks = [int(v) for v in fields[:8]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    t = os.times()
    return t.user + t.system


def percentile(sorted_values, q):
    """Nearest-rank percentile C{q} (0-100) of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, int(-(-q * len(sorted_values) // 100)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000.0, 3)


def latency_summary(values):
    """Percentiles and mean of latencies in seconds, as milliseconds."""
    values = sorted(values)
    ms = _ms
    return {
        "p50_ms": ms(percentile(values, 50)),
        "p90_ms": ms(percentile(values, 90)),
        "p99_ms": ms(percentile(values, 99)),
        "max_ms": ms(values[-1] if values else None),
        "mean_ms": ms(sum(values) / len(values) if values else None),
    }


# -- the two kinds of load


async def http_client(target, window, raw, tls_seen):
    """One connection sending C{raw} until the window closes."""
    conn = await target.connect()
    tls_seen.append(conn.tls_info())
    try:
        while window.running():
            started = time.perf_counter()
            try:
                response = await conn.request(raw)
            except ConnectionError:
                window.record(started, time.perf_counter(), False, "connection")
                conn.close()
                conn = await target.connect()
                continue
            finished = time.perf_counter()
            ok = response.status == 200
            window.record(started, finished, ok, "http-%d" % response.status)
            if response.close:
                conn = await target.connect()
    finally:
        conn.close()


async def job_client(target, window, index, args, counters):
    """One client submitting tag jobs and following each to its end."""
    conn = await target.connect()
    submit = build_request(
        "PUT",
        "%s?tag=b%d" % (args.path, index),
        target.host_header,
        auth=args.auth,
    )
    try:
        while window.running():
            started = time.perf_counter()
            try:
                response = await conn.request(submit)
                submitted = time.perf_counter()
                if response.status != 200:
                    window.record(started, submitted, False, "submit-http-%d" % response.status)
                    continue
                job_id = int(json.loads(response.body))
                if args.follow == "wait":
                    status = await follow_wait(conn, target, job_id, args, counters)
                else:
                    status = await follow_poll(conn, target, job_id, args, counters)
            except ConnectionError:
                window.record(started, time.perf_counter(), False, "connection")
                conn.close()
                conn = await target.connect()
                continue
            finished = time.perf_counter()
            counters["jobs"] += 1
            window.record(
                started, finished, status == "success", "job-" + status,
                second=submitted - started,
            )
    finally:
        conn.close()


async def follow_wait(conn, target, job_id, args, counters):
    """Long-poll C{/2/jobs/ID/wait} until the job has finished."""
    previous, serial = None, None
    path = "/2/jobs/%d/wait" % job_id
    while True:
        body = {
            "fields": ["status"],
            "previous_job_info": previous,
            "previous_log_serial": serial,
        }
        response = await conn.request(
            build_request("GET", path, target.host_header, auth=args.auth, body=body)
        )
        counters["follow_requests"] += 1
        if response.status != 200:
            return "http-%d" % response.status
        answer = json.loads(response.body)
        if answer is None:
            continue  # the server's wait timed out with no change
        status = answer["job_info"][0]
        if status in FINAL_STATUSES:
            return status
        previous = [status]
        if answer["log_entries"]:
            serial = max(entry[0] for entry in answer["log_entries"])


async def follow_poll(conn, target, job_id, args, counters):
    """Poll C{GET /2/jobs/ID} until the job has finished."""
    raw = build_request("GET", "/2/jobs/%d" % job_id, target.host_header)
    while True:
        response = await conn.request(raw)
        counters["follow_requests"] += 1
        if response.status != 200:
            return "http-%d" % response.status
        status = json.loads(response.body)["status"]
        if status in FINAL_STATUSES:
            return status
        if args.poll_interval:
            await asyncio.sleep(args.poll_interval)


# -- the long-poll load


async def connect_many(target, count, concurrency):
    """C{count} connections, at most C{concurrency} handshakes at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one():
        async with gate:
            for _ in range(5):
                try:
                    return await target.connect()
                except OSError:
                    await asyncio.sleep(0.2)  # a full accept queue: try again
            return await target.connect()

    return await asyncio.gather(*[one() for _ in range(count)])


async def settled(pid, quiet=0.3, step=0.1, limit=120.0):
    """Wait until process C{pid} has been (nearly) idle for C{quiet} seconds.

    Used to tell when the server has read every request sent to it.
    """
    deadline = time.perf_counter() + limit
    calm = 0.0
    before = cpu_seconds(pid)
    while calm < quiet and time.perf_counter() < deadline:
        await asyncio.sleep(step)
        now = cpu_seconds(pid)
        calm = calm + step if now - before < 0.1 * step else 0.0
        before = now


async def control_call(path, request):
    """One request over the daemon's control socket (a JSON line each way)."""
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        writer.write(json.dumps(request).encode("utf-8") + b"\n")
        await writer.drain()
        answer = json.loads(await reader.readline())
    finally:
        writer.close()
    if not answer.get("ok"):
        raise RuntimeError("control socket: %s" % answer.get("error"))
    return answer["result"]


async def get_json(conn, target, path, auth=None):
    response = await conn.request(build_request("GET", path, target.host_header, auth=auth))
    if response.status != 200:
        raise RuntimeError("GET %s: HTTP %d" % (path, response.status))
    return json.loads(response.body)


async def long_poll(conn, raw, answers, index):
    """One waiter: long-poll until the answer is not C{null}."""
    while True:
        try:
            response = await conn.request(raw)
        except ConnectionError:
            answers[index] = ("connection", time.time(), None)
            return
        if response.status != 200:
            answers[index] = ("http-%d" % response.status, time.time(), None)
            return
        body = json.loads(response.body)
        if body is None:
            continue  # the server's wait ran out with no change: ask again
        answers[index] = (None, time.time(), body)
        return


async def waiters_round(args, target, conns, control, delay):
    """Park one long poll per connection, then let one change answer them."""
    body = {"fields": ["status"], "previous_job_info": ["running"],
            "previous_log_serial": None}
    job_id = None
    if args.waiters_target == "rapi":
        job_id = await control_call(
            args.control_socket,
            {"method": "submit", "ops": [["OP_TEST_DELAY", {"duration": delay}]]},
        )
        while (await get_json(control, target, "/2/jobs/%d" % job_id))["status"] != "running":
            await asyncio.sleep(0.01)
        path = "/2/jobs/%d/wait" % job_id
    else:
        path = "/wait"
    raw = build_request("GET", path, target.host_header, auth=args.auth, body=body)
    answers = [None] * len(conns)
    polls = [
        asyncio.ensure_future(long_poll(conn, raw, answers, i)) for i, conn in enumerate(conns)
    ]
    await asyncio.sleep(0)
    await settled(args.server_pid)
    held_at = time.time()
    rss_held = rss_mb(args.server_pid)
    if args.waiters_target == "rapi":
        await asyncio.wait(polls, timeout=delay + 120)
        job = await get_json(control, target, "/2/jobs/%d" % job_id)
        changed_at = job["end_ts"][0] + job["end_ts"][1] / 1e6
    else:
        released = await get_json(control, target, "/release")
        changed_at = released["at"]
        await asyncio.wait(polls, timeout=120)
    for poll in polls:
        poll.cancel()
    return {
        "answers": answers,
        "held_at": held_at,
        "changed_at": changed_at,
        "rss_held": rss_held,
        "job_id": job_id,
    }


async def run_waiters(args):
    target = Target(args.url)
    soft, hard = raise_fd_limit()
    count = args.connections
    if soft < count + 64:
        raise SystemExit(
            "loadgen: %d waiters need more open files than the limit allows "
            "(soft %d, hard %d)" % (count, soft, hard)
        )
    pid = args.server_pid
    meter = CpuMeter(pid, args.helper_pid)
    meter.start()
    rss_idle = rss_mb(pid)
    began = time.perf_counter()
    conns = await connect_many(target, count, args.connect_concurrency)
    connect_s = time.perf_counter() - began
    control = await target.connect()
    await settled(pid)
    rss_connected = rss_mb(pid)
    # The change must come after every waiter is parked: the delay job
    # sleeps long enough for that, and again longer if it did not.
    delay = args.delay or (1.5 + count * 0.0005)
    rounds = 0
    while True:
        rounds += 1
        outcome = await waiters_round(args, target, conns, control, delay)
        valid = outcome["held_at"] < outcome["changed_at"]
        if valid or args.waiters_target != "rapi" or rounds >= 3:
            break
        delay *= 2
    cpu = meter.stop()
    for conn in conns + [control]:
        conn.close()

    answers = outcome["answers"]
    changed_at = outcome["changed_at"]
    latencies = []
    errors = {}
    for answer in answers:
        if answer is None:
            errors["unanswered"] = errors.get("unanswered", 0) + 1
            continue
        kind, at, body = answer
        if kind is not None:
            errors[kind] = errors.get(kind, 0) + 1
            continue
        if args.waiters_target == "rapi" and body["job_info"][0] != "success":
            errors["job-" + str(body["job_info"][0])] = errors.get(
                "job-" + str(body["job_info"][0]), 0) + 1
            continue
        latencies.append(max(0.0, at - changed_at))
    rss_held = outcome["rss_held"]

    def per_waiter(high, low):
        if high is None or low is None:
            return None
        return round((high - low) * 1024.0 / count, 2)

    result = {
        "kind": "waiters",
        "url": args.url,
        "target": args.waiters_target,
        "connections": count,
        "count": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "valid": outcome["held_at"] < changed_at,
        "rounds": rounds,
        "delay_s": round(delay, 2) if args.waiters_target == "rapi" else None,
        "connect_s": round(connect_s, 2),
        "server_rss_idle_mb": round(rss_idle, 1) if rss_idle is not None else None,
        "server_rss_connected_mb": round(rss_connected, 1) if rss_connected else None,
        "server_rss_mb": round(rss_held, 1) if rss_held is not None else None,
        "kib_per_waiter": per_waiter(rss_held, rss_idle),
        "kib_per_connection": per_waiter(rss_connected, rss_idle),
        "kib_per_request": per_waiter(rss_held, rss_connected),
        "fd_limit": [soft, hard],
    }
    result.update(latency_summary(latencies))
    result.update(cpu)
    return result


class CpuMeter:
    """CPU used, in cores, between L{start} and L{stop}: by the server, by
    this process, and by everything else on the machine (which should be
    about nothing; more means another load disturbed the measurement)."""

    def __init__(self, server_pid=None, helper_pids=()):
        self.server_pid = server_pid
        self.helper_pids = list(helper_pids)

    def _sample(self):
        server = cpu_seconds(self.server_pid) if self.server_pid else 0.0
        helpers = sum(cpu_seconds(pid) for pid in self.helper_pids)
        return (time.perf_counter(), server, helpers, own_cpu_seconds(),
                machine_busy_seconds())

    def start(self):
        self._start = self._sample()

    def stop(self):
        wall, server, helpers, own, machine = (
            b - a for a, b in zip(self._start, self._sample())
        )
        out = {"client_cpu": round(own / wall, 3)}
        if self.server_pid:
            out["server_cpu"] = round(server / wall, 3)
        if self.helper_pids:
            out["helper_cpu"] = round(helpers / wall, 3)
        out["other_cpu"] = round(max(0.0, machine - server - helpers - own) / wall, 3)
        return out


async def cpu_sampler(window, server_pid, helper_pids, out):
    """CPU use inside the window (see L{CpuMeter}), and the server's
    largest resident memory seen in it (sampled every 0.2 s)."""
    meter = CpuMeter(server_pid, helper_pids)
    await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
    meter.start()
    peak = rss_mb(server_pid) if server_pid else None
    while not window.done.is_set() and time.perf_counter() < window.end:
        try:
            await asyncio.wait_for(
                window.done.wait(), min(0.2, max(0.0, window.end - time.perf_counter()))
            )
        except asyncio.TimeoutError:
            pass
        if server_pid:
            now = rss_mb(server_pid)
            if now is not None and (peak is None or now > peak):
                peak = now
    out.update(meter.stop())
    if peak is not None:
        out["server_rss_mb"] = round(peak, 1)


async def run(args):
    target = Target(args.url)
    window = Window(args.warmup, args.duration, args.requests)
    cpu = {}
    counters = {"follow_requests": 0, "jobs": 0}
    tls_seen = []
    if args.kind == "http":
        raw = build_request(
            args.method, target.path, target.host_header, auth=args.auth,
            body=json.loads(args.body) if args.body is not None else None,
        )
        clients = [http_client(target, window, raw, tls_seen) for _ in range(args.connections)]
    else:
        clients = [job_client(target, window, i, args, counters) for i in range(args.connections)]
    sampler = asyncio.ensure_future(cpu_sampler(window, args.server_pid, args.helper_pid, cpu))
    await asyncio.gather(*clients)
    window.done.set()
    await sampler

    elapsed = window.elapsed()
    count = len(window.latencies)
    result = {
        "kind": args.kind,
        "url": args.url,
        "connections": args.connections,
        "warmup_s": args.warmup,
        "duration_s": round(elapsed, 3),
        "count": count,
        "errors": window.errors,
        "error_kinds": window.error_kinds,
        "rate": round(count / elapsed, 1) if elapsed > 0 else None,
    }
    result.update(latency_summary(window.latencies))
    result["first_ms"] = _ms(window.first)
    result.update(cpu)
    if tls_seen and tls_seen[0]:
        result["tls"] = tls_seen[0]
    if args.kind == "jobs":
        result["follow"] = args.follow
        result["submit"] = latency_summary(window.second_latencies)
        # Warm-up included: requests to learn that a job ended, per job.
        result["follow_requests_per_job"] = (
            round(counters["follow_requests"] / counters["jobs"], 2) if counters["jobs"] else None
        )
    return result


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="HTTP/1.1 keep-alive load generator (loopback targets only)."
    )
    parser.add_argument("kind", choices=["http", "jobs", "waiters"])
    parser.add_argument("url", help="http(s)://127.0.0.1:PORT/path (jobs: the tags path)")
    parser.add_argument("-c", "--connections", type=int, default=10)
    parser.add_argument("-d", "--duration", type=float, default=6.0,
                        help="seconds measured (0: until --requests)")
    parser.add_argument("-n", "--requests", type=int, default=0,
                        help="stop after this many measured requests or jobs")
    parser.add_argument("-w", "--warmup", type=float, default=2.0)
    parser.add_argument("-X", "--method", default="GET")
    parser.add_argument("--body", help="JSON request body (http)")
    parser.add_argument("--auth", help="user:password for HTTP Basic")
    parser.add_argument("--follow", choices=["wait", "poll"], default="wait",
                        help="jobs: long-poll /wait, or poll GET /2/jobs/ID")
    parser.add_argument("--poll-interval", type=float, default=0.0,
                        help="jobs with --follow poll: pause between polls (s)")
    parser.add_argument("--server-pid", type=int,
                        help="report this process's CPU use inside the window")
    parser.add_argument("--helper-pid", type=int, action="append", default=[],
                        help="a process of the suite serving the server (the node "
                        "farm): its CPU is reported apart, not as other load")
    parser.add_argument("--waiters-target", choices=["rapi", "bare"], default="rapi",
                        help="waiters: the daemon's /2/jobs/ID/wait, or the bare long poll")
    parser.add_argument("--control-socket",
                        help="waiters against the daemon: its control socket")
    parser.add_argument("--delay", type=float, default=0.0,
                        help="waiters against the daemon: seconds the job sleeps "
                        "(default: long enough to park every waiter)")
    parser.add_argument("--connect-concurrency", type=int, default=32,
                        help="waiters: TLS handshakes in flight at once")
    args = parser.parse_args(argv)
    if not args.duration and not args.requests:
        parser.error("give --duration or --requests")
    args.path = urllib.parse.urlsplit(args.url).path
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.kind == "waiters":
        if not args.server_pid:
            raise SystemExit("loadgen: waiters need --server-pid")
        if args.waiters_target == "rapi" and not args.control_socket:
            raise SystemExit("loadgen: waiters against the daemon need --control-socket")
        result = asyncio.run(run_waiters(args))
    else:
        result = asyncio.run(run(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
