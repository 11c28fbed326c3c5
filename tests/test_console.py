"""Console output from several threads: build workers report progress while the
scheduling thread reports finished steps; every line stays whole."""

from __future__ import annotations

import io
import json
import threading
import time

from toolkit.console import JsonConsole


class YieldingStream(io.StringIO):
    """A stream that lets other threads run inside every write, as a pipe may."""

    def write(self, text: str) -> int:
        written = super().write(text)
        time.sleep(0)
        return written


def test_json_lines_from_several_threads_stay_whole():
    stream = YieldingStream()
    console = JsonConsole(stream)

    def report(worker: int) -> None:
        for i in range(200):
            console.step_progress(f"step_{worker}", f"phase {i}", 0.1)

    threads = [threading.Thread(target=report, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 800
    events = [json.loads(line) for line in lines]  # a line broken by another thread's does not parse
    assert {e["step"] for e in events} == {f"step_{w}" for w in range(4)}
