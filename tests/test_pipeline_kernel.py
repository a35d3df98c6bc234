"""One kernel runs all steps of a study; before each step it is made to look fresh: empty namespace,
cells numbered from 1, warnings shown again, the working directory and sys.path of start-up."""

import pytest
from jupyter_core.utils import run_sync

from mbcrt.run import pipeline

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kernel():
    with pipeline.StudyKernel() as k:
        client = k.manager.client()
        client.start_channels()
        run_sync(client.wait_for_ready)(timeout=60)
        yield k, client
        client.stop_channels()


def run(client, code: str, **kw) -> tuple[dict, list[dict]]:
    outputs = []
    reply = run_sync(client.execute_interactive)(code, output_hook=outputs.append, timeout=60, **kw)
    return reply["content"], [m for m in outputs if m["msg_type"] in ("stream", "error", "execute_result")]


def prepare(client) -> None:
    content, shown = run(client, pipeline._PREPARE_STEP, silent=True, store_history=False)
    assert content["status"] == "ok" and shown == []


def test_each_step_starts_fresh(kernel):
    _, client = kernel
    prepare(client)  # the first step: records the kernel's start-up state
    step = ("print('left over:', 'leftover' in globals(), 'os' in globals())\n"
            "import os, sys, warnings\n"
            "warnings.warn('shown in every step')\n"
            "print(os.getcwd() == '/', '/nowhere' in sys.path)\n"
            "os.chdir('/'); sys.path.append('/nowhere'); leftover = 1")
    for _ in range(2):
        content, shown = run(client, step)
        assert content["execution_count"] == 1
        text = "".join(m["content"].get("text", "") for m in shown)
        assert "left over: False False" in text and "False False" in text, text
        assert "shown in every step" in text
        content, _ = run(client, "leftover")
        assert content["execution_count"] == 2
        prepare(client)
    _, shown = run(client, "import os, sys; print(os.getcwd() == '/', '/nowhere' in sys.path)")
    assert "False False" in shown[0]["content"]["text"]


def test_the_kernel_is_shut_down_on_leaving_also_on_error():
    import psutil

    with pytest.raises(RuntimeError, match="a step failed"):
        with pipeline.StudyKernel() as k:
            process = psutil.Process(k.manager.provisioner.pid)
            assert process.is_running()
            raise RuntimeError("a step failed")
    assert k.manager is None
    process.wait(timeout=30)  # raises TimeoutExpired if the kernel is still running
