"""CPU one light task's store use costs in a process forked from a preloaded worker (issue #13).

As a Celery worker: the parent imports ``include.worker_preload`` (what ``imports =`` does in the
worker's main process), then forks one child per "task". Each child does what a light task does
with the store on ``s3://``: builds an :class:`~include.storage.ArtifactStore`, reads a small JSON
and writes one. The S3 endpoint is moto's server in its own process on 127.0.0.1 (its CPU is not
counted). Reported per child: its CPU (user + system, ``resource.getrusage(RUSAGE_CHILDREN)``
deltas in the parent), the store part alone (``os.times`` around it in the child), the median.

    python benchmarks/store_fork.py [--children 12] [--port 19201] [--without s3|tls|assets]

STORE_FORK_PYSPY=<folder> samples each child with py-spy (figures then include its overhead).

Does not start Airflow or Celery; stops the moto server it started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from include.core.keys import artifact_key  # noqa: E402

PROBE = artifact_key("bench", "v", "ingest", "probe.json")  # what each child reads


def _wait_port(port: int, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"moto server did not listen on {port}")


def _child(root: str, n: int, write) -> None:
    spy = os.environ.get("STORE_FORK_PYSPY")  # a folder: sample this child with py-spy (profiling only)
    if spy:
        subprocess.Popen(["py-spy", "record", "-r", "997", "--threads", "--format", "raw", "-p", str(os.getpid()),
                          "-o", f"{spy}/child-{n}.txt"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)
    t0 = os.times()
    from include.storage import ArtifactStore

    store = ArtifactStore(root)
    got = store.get_json(PROBE)
    store.put_json({"child": n, "got": got["n"]}, artifact_key("bench", "v", "bench", f"out-{n}.json"))
    t1 = os.times()
    os.write(write, json.dumps({"store_cpu": (t1.user - t0.user) + (t1.system - t0.system)}).encode())


@contextlib.contextmanager
def _without(parts: list[str]):
    """The preload without some of what it prepares (to see what each part is worth):
    ``s3`` (include.storage.prepare_s3 altogether), ``tls`` (its TLS contexts), ``assets`` (the
    providers' asset URI handlers)."""
    if not parts:
        yield
        return
    import include.storage as storage
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    prepare, assets = storage.prepare_s3, ProvidersManagerTaskRuntime.initialize_providers_asset_uri_resources

    def prepare_s3_only_loader():
        prepare()
        storage.S3Prepared.ssl_contexts.clear()

    if "s3" in parts:
        storage.prepare_s3 = lambda: None
    elif "tls" in parts:
        storage.prepare_s3 = prepare_s3_only_loader
    if "assets" in parts:
        ProvidersManagerTaskRuntime.initialize_providers_asset_uri_resources = lambda self: None
    try:
        yield
    finally:
        storage.prepare_s3 = prepare
        ProvidersManagerTaskRuntime.initialize_providers_asset_uri_resources = assets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--children", type=int, default=12)
    ap.add_argument("--port", type=int, default=19201)
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    ap.add_argument("--without", action="append", default=[], choices=("s3", "tls", "assets"),
                    help="leave this part out of the preload (repeatable)")
    args = ap.parse_args()

    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(args.port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(args.port)
        endpoint = f"http://127.0.0.1:{args.port}"
        os.environ["AIRFLOW_CONN_BENCH_S3"] = json.dumps({
            "conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1",
                      "config_kwargs": {"signature_version": "s3v4"}},
        })
        root = "s3://bench_s3@videos/fork"
        # the bucket and the input, from a separate process: the parent stays as a worker is
        seed = (f"import boto3, json; c = boto3.client('s3', endpoint_url={endpoint!r}, "
                "aws_access_key_id='testing', aws_secret_access_key='testing', region_name='us-east-1');"
                "c.create_bucket(Bucket='videos');"
                f"c.put_object(Bucket='videos', Key='fork/{PROBE}',"
                " Body=json.dumps({'n': 1}).encode())")
        subprocess.run([sys.executable, "-c", seed], check=True)

        # what a Celery worker's pool process has loaded when Airflow's supervisor forks a task:
        # the executor's modules, the supervisor and task runner, then our preload (``imports``)
        import airflow.providers.celery.executors.celery_executor_utils  # noqa: F401
        import airflow.sdk.execution_time.supervisor  # noqa: F401
        import airflow.sdk.execution_time.task_runner  # noqa: F401

        t0 = time.process_time()
        with _without(args.without):
            import include.worker_preload  # noqa: F401  (as the worker's main process does)
        preload_cpu = time.process_time() - t0

        totals, stores = [], []
        for n in range(args.children):
            read, write = os.pipe()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            pid = os.fork()
            if pid == 0:
                os.close(read)
                code = 0
                try:
                    _child(root, n, write)
                except BaseException as exc:  # noqa: BLE001
                    os.write(2, f"child {n}: {type(exc).__name__}: {exc}\n".encode())
                    code = 1
                os._exit(code)
            os.close(write)
            with os.fdopen(read) as fh:
                data = fh.read()
            _, status = os.waitpid(pid, 0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if status != 0:
                raise SystemExit(f"child {n} failed")
            totals.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
            stores.append(json.loads(data)["store_cpu"])
        result = {
            "without": args.without,
            "preload_cpu_s": round(preload_cpu, 2),
            "child_cpu_s": [round(x, 3) for x in totals],
            "store_cpu_s": [round(x, 3) for x in stores],
            "child_cpu_median_s": round(statistics.median(totals), 3),
            "store_cpu_median_s": round(statistics.median(stores), 3),
        }
        print(json.dumps(result))
        if args.out:
            args.out.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
