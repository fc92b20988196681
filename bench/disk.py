"""Disk calibration for the job figures: durable file replacements per second.

Every change of a job or of the configuration is made durable with
L{ganeti_rapi.fileutil.atomic_write} (write a temporary file, fsync it,
rename it over the old one, fsync the directory), run in a thread.  This
measures that very function on the suite's data file system, from one
thread and from several at once (the daemon's thread pool has 10), so a
job rate can be read against what the disk allows.

Usage: python bench/disk.py DIRECTORY [--threads N] [--duration S]
Prints one JSON object in the shape of L{loadgen}'s results.
"""

import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ganeti_rapi.fileutil import atomic_write  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from loadgen import CpuMeter, latency_summary  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory")
    parser.add_argument("-t", "--threads", type=int, default=1)
    parser.add_argument("-d", "--duration", type=float, default=3.0)
    parser.add_argument("-w", "--warmup", type=float, default=0.5)
    parser.add_argument("--size", type=int, default=2000, help="bytes per file (a job file's size)")
    args = parser.parse_args(argv)

    os.makedirs(args.directory, exist_ok=True)
    data = b"x" * args.size
    start = time.perf_counter() + args.warmup
    end = start + args.duration
    latencies = [[] for _ in range(args.threads)]

    def writer(index):
        path = os.path.join(args.directory, "file-%d" % index)
        mine = latencies[index]
        while True:
            began = time.perf_counter()
            if began >= end:
                return
            atomic_write(path, data)
            done = time.perf_counter()
            if start <= done <= end:
                mine.append(done - began)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(args.threads)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, start - time.perf_counter()))
    meter = CpuMeter()
    meter.start()
    for thread in threads:
        thread.join()
    cpu = meter.stop()

    values = [v for mine in latencies for v in mine]
    result = {
        "kind": "disk",
        "connections": args.threads,
        "duration_s": args.duration,
        "count": len(values),
        "errors": 0,
        "rate": round(len(values) / args.duration, 1),
        "bytes": args.size,
    }
    result.update(cpu)
    result.update(latency_summary(values))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
