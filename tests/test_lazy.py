import subprocess
import sys

import pytest

from suite.lazy import lazy_import


def test_a_lazy_module_imports_on_first_attribute_read():
    code = (
        "import sys\n"
        "from suite.lazy import lazy_import\n"
        "colorsys = lazy_import('colorsys')\n"
        "before = 'colorsys' in sys.modules\n"
        "print(before, colorsys.rgb_to_hsv(1.0, 0.0, 0.0), 'colorsys' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "(0.0,", "1.0,", "1.0)", "True"], out.stdout + out.stderr


def test_a_lazy_module_is_the_module_once_loaded():
    import json

    lazy = lazy_import("json")
    assert lazy.dumps is json.dumps  # the first read loads it
    assert lazy.JSONDecodeError is json.JSONDecodeError  # later reads are plain attributes
    assert "loads" in vars(lazy)


def test_a_missing_attribute_is_an_attribute_error():
    lazy = lazy_import("json")
    with pytest.raises(AttributeError, match="no_such_name"):
        getattr(lazy, "no_such_name")  # noqa: B009 - the read under test
