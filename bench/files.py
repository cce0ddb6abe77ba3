"""File transfer throughput through a real ``im serve``, next to a plain ``cp`` on the same disk.

    .venv/bin/python -m bench.files [--size-mib 1024] [--concurrent 100] [--small-kib 1024]

Prints: cp MB/s; upload and download MB/s for one big file (and their ratio to cp); then N
concurrent small uploads (files/s, MB/s, latency percentiles). Everything runs on loopback in a
temporary folder on the same disk as the blob store, which is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.harness import API, PASSWORD, ServerProcess, unique

MiB = 1 << 20


def make_file(path: Path, size: int) -> str:
    block = os.urandom(MiB)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        written, i = 0, 0
        while written < size:
            chunk = (i.to_bytes(8, "little") + block[8:])[: size - written]
            out.write(chunk)
            digest.update(chunk)
            written += len(chunk)
            i += 1
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def multipart(path: Path, boundary: str) -> tuple[Iterator[bytes], int]:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def gen() -> Iterator[bytes]:
        yield head
        with path.open("rb") as f:
            while chunk := f.read(MiB):
                yield chunk
        yield tail

    return gen(), len(head) + path.stat().st_size + len(tail)


def login(base: str) -> dict[str, str]:
    sid = unique("b")
    httpx.post(f"{base}{API}/users/", json={"standard_id": sid, "name": sid, "password": PASSWORD})
    r = httpx.post(
        f"{base}{API}/auth/login/access-token", data={"username": sid, "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def mbps(size: int, seconds: float) -> float:
    return size / MiB / seconds


def bench_big(base: str, h: dict[str, str], work: Path, size: int) -> None:
    src = work / "source.bin"
    digest = make_file(src, size)
    t = time.perf_counter()
    subprocess.run(["cp", str(src), str(work / "copy.bin")], check=True)
    subprocess.run(["sync", str(work / "copy.bin")], check=True)
    cp_s = time.perf_counter() - t
    (work / "copy.bin").unlink()
    cp = mbps(size, cp_s)
    print(f"cp {size // MiB} MiB (+sync): {cp_s:.2f} s = {cp:.0f} MB/s")

    boundary = "b" + uuid.uuid4().hex
    body, length = multipart(src, boundary)
    headers = {
        **h,
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(length),
    }
    with httpx.Client(base_url=base, timeout=600) as c:
        t = time.perf_counter()
        r = c.post(f"{API}/files/upload", content=body, headers=headers)
        up_s = time.perf_counter() - t
        assert r.status_code == 201, r.text
        assert r.json()["sha256"] == digest
        file_id = r.json()["file_id"]
        up = mbps(size, up_s)
        print(f"upload {size // MiB} MiB: {up_s:.2f} s = {up:.0f} MB/s ({up / cp:.2f}x cp)")

        t = time.perf_counter()
        with (
            c.stream("GET", f"{API}/files/download/{file_id}", headers=h) as resp,
            (work / "download.bin").open("wb") as out,
        ):
            for chunk in resp.iter_raw(MiB):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        down_s = time.perf_counter() - t
        down = mbps(size, down_s)
        print(
            f"download {size // MiB} MiB (+fsync): {down_s:.2f} s = {down:.0f} MB/s "
            f"({down / cp:.2f}x cp)"
        )
    (work / "download.bin").unlink()
    src.unlink()


async def bench_concurrent(base: str, h: dict[str, str], n: int, size: int) -> None:
    payloads = [os.urandom(size) for _ in range(n)]
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as c:
        latencies: list[float] = []

        async def one(i: int) -> None:
            t = time.perf_counter()
            r = await c.post(
                f"{API}/files/upload", files={"file": (f"f{i}.bin", payloads[i])}, headers=h
            )
            latencies.append(time.perf_counter() - t)
            assert r.status_code == 201, r.text

        await one(0)  # warm up the connection pool path
        latencies.clear()
        t = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        total = time.perf_counter() - t
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"{n} concurrent {size // 1024} KiB uploads: {total:.2f} s = {n / total:.0f} files/s, "
        f"{mbps(n * size, total):.0f} MB/s; latency p50 {p50 * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--concurrent", type=int, default=100)
    ap.add_argument("--small-kib", type=int, default=1024)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="im-bench-files-", dir=Path.cwd()))
    srv = ServerProcess(work / "data", IM_MAX_UPLOAD_BYTES=str(args.size_mib * MiB + MiB))
    try:
        srv.start()
        h = login(srv.url)
        bench_big(srv.url, h, work, args.size_mib * MiB)
        asyncio.run(bench_concurrent(srv.url, h, args.concurrent, args.small_kib * 1024))
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
