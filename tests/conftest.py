import os
import sys

import pytest

# plan_factory and other test helpers live beside the tests
sys.path.insert(0, os.path.dirname(__file__))


def _example_history():
    """The example plans scenarios/history_*.yaml read daily bars that
    scenarios/data/make_history.py writes from the `arch` package's bundled data (a test
    dependency; nothing downloaded, nothing vendored; the CSVs are ignored by git). Write them
    once, as the README tells a user to, when a fresh checkout lacks them."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data = os.path.join(root, "scenarios", "data")
    if all(os.path.isfile(os.path.join(data, f"{n}.csv")) for n in ("sp500", "nasdaq", "wti")):
        return
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_history",
                                                  os.path.join(data, "make_history.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main()


_example_history()


@pytest.fixture(autouse=True)
def _keep_sigint_handler():
    """The CLI makes a second Ctrl-C end the process at once once it has handled the first
    (cli._common.after_interrupt); tests run it in-process, so put pytest's handler back."""
    import signal
    before = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, before)
