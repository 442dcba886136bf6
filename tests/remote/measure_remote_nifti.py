"""Manual measurement (not a test, not collected): bytes and time of one slice of a remote
512-slice NIfTI over the loopback HTTP Range server that counts bytes, against downloading the
whole object. Run from the repository root: ``python tests/remote/measure_remote_nifti.py``.
(The benchmark suite's remote case belongs to benchmarks/, whose case groups are a fixed list.)
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time


def main() -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    os.environ["LAZYVOL_CACHE_DIR"] = tempfile.mkdtemp()
    import fsspec
    import remote_servers as rs

    import lazyvol as lv
    from lazyvol.nifti import clear_gzip_handles
    from lazyvol.testing import write_phantom_nifti

    port = rs.free_port()
    state = rs.HttpServer(url=f"http://127.0.0.1:{port}")
    server = rs.LoopbackHTTPServer(("127.0.0.1", port), rs._handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    folder = tempfile.mkdtemp()
    for name in ["m.nii", "m.nii.gz"]:
        path = write_phantom_nifti(os.path.join(folder, name), (128, 128, 512), dtype="int16")
        with open(path, "rb") as f:
            data = f.read()
        url = state.put(name, data)
        t = time.perf_counter()
        fsspec.filesystem("http").cat_file(url)
        whole = time.perf_counter() - t
        if name.endswith(".gz"):
            state.reset_counts()
            t = time.perf_counter()
            lv.open(url).compute()
            took = time.perf_counter() - t
            print(
                f"{name}: first pass (builds the index) {state.bytes_served} B of {len(data)} B "
                f"({state.bytes_served / len(data):.3f}x), {took:.2f} s"
            )
            clear_gzip_handles()
        vol = lv.open(url)
        state.reset_counts()
        t = time.perf_counter()
        vol[:, :, 300:301].compute()
        took = time.perf_counter() - t
        print(
            f"{name}: one slice {state.bytes_served} B = "
            f"{100 * state.bytes_served / len(data):.2f}% of {len(data)} B, "
            f"{len(state.requests)} requests, {took * 1e3:.0f} ms; whole download "
            f"{whole * 1e3:.0f} ms"
        )
    server.shutdown()


if __name__ == "__main__":
    main()
