import pytest

from suite.registry import Registry, UnknownNameError


def test_register_create_list_and_close_matches():
    reg = Registry("widget")

    @reg.register("alpha")
    def alpha(size=1):
        """An alpha widget."""
        return ("alpha", size)

    @reg.register("beta")
    def beta():
        return "beta"

    assert reg.list() == ["alpha", "beta"]
    assert reg.create("alpha", size=3) == ("alpha", 3)
    assert reg.describe("alpha") == "An alpha widget."
    with pytest.raises(UnknownNameError, match="did you mean 'alpha'"):
        reg.get("alpah")
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("beta")(beta)
