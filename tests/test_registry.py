"""The generic Registry: registration, duplicates, did-you-mean, listing, params, plugins."""

from __future__ import annotations

import dataclasses

import pytest

from ssl4rec.registry import REGISTRIES, ConfigError, Registry, UnknownNameError, check_keys, load_plugins


@dataclasses.dataclass
class FooConfig:
    """Config of foo."""

    size: int = 3
    """A size."""
    rate: float = 0.1


def make_registry() -> Registry:
    reg = Registry("widget", "Widgets: callables returning a dict.")

    @reg.register("foo", config=FooConfig, tags=("a",), aliases=("foo-alias",))
    class Foo:
        """Makes foo widgets.

        More text.
        """

        def __init__(self, size: int = 3, rate: float = 0.1) -> None:
            self.size, self.rate = size, rate

    @reg.register("bar", tags=("b",), summary="Bar widgets.")
    def bar(width: int = 2):
        return {"width": width}

    return reg


def test_register_get_build():
    reg = make_registry()
    assert reg.names() == ["bar", "foo"]
    assert reg.entry("foo").summary == "Makes foo widgets."
    assert reg.get("foo-alias") is reg.get("foo")
    w = reg.build("foo", size=7)
    assert (w.size, w.rate) == (7, 0.1)
    assert reg.build("bar", width=5) == {"width": 5}
    assert reg.__doc__.startswith("Widgets")


def test_duplicate_raises():
    reg = make_registry()
    with pytest.raises(ValueError, match="duplicate widget name 'foo'"):
        reg.add("foo", object)
    with pytest.raises(ValueError, match="duplicate"):
        reg.add("other", object, aliases=("bar",))


def test_registration_keyword_typos_raise():
    reg = Registry("widget", "Widgets.", meta_keys=("colour",))
    with pytest.raises(TypeError, match="unknown keyword 'serach_space'.*Did you mean 'search_space'"):
        reg.register("baz", serach_space={})(object)
    entry = reg.add("qux", object, colour="red", meta={"size": 2})
    assert entry.meta == {"size": 2, "colour": "red"}  # a registry's declared keywords land in meta
    assert "baz" not in reg


def test_unknown_name_did_you_mean():
    reg = make_registry()
    with pytest.raises(UnknownNameError) as exc:
        reg.get("fooo")
    msg = str(exc.value)
    assert "Did you mean 'foo'" in msg and "2 widgets are registered" in msg and "ssl4rec list widgets" in msg


def test_unknown_params_name_accepted_ones():
    reg = make_registry()
    with pytest.raises(ConfigError) as exc:
        reg.build("foo", sise=4)
    assert "Did you mean 'size'" in str(exc.value) and "rate, size" in str(exc.value)
    with pytest.raises(ConfigError, match="width"):
        reg.build("bar", wdth=1)
    with pytest.raises(ConfigError, match="Did you mean 'alpha'"):
        check_keys({"alpah": 1}, ["alpha", "beta"], "thing")


def test_listing_globs_and_tags():
    reg = make_registry()
    assert [e.name for e in reg.list(include="f*")] == ["foo"]
    assert [e.name for e in reg.list(exclude="f*")] == ["bar"]
    assert [e.name for e in reg.list(tags=["b"])] == ["bar"]


def test_all_registries_have_contracts_and_entries():
    import ssl4rec  # noqa: F401  (registers built-ins)

    for kind, reg in REGISTRIES.items():
        assert reg.__doc__ and len(reg.__doc__) > 40, kind
    for kind in ("datasets", "splits", "metrics", "baselines"):
        assert len(REGISTRIES[kind]) > 0, kind
    for kind, reg in REGISTRIES.items():
        for e in reg.list():
            assert e.summary, f"{kind} {e.name} has no summary"


def test_broken_plugin_is_reported_not_fatal(monkeypatch):
    import importlib.metadata as md

    class EP:
        name, value, group = "broken", "nonexistent_module_xyz:register", "ssl4rec.plugins"

        def load(self):
            raise ImportError("No module named 'nonexistent_module_xyz'")

    monkeypatch.setattr(md, "entry_points", lambda group=None: [EP()] if group == "ssl4rec.plugins" else [])
    errors = load_plugins(force=True)
    assert "broken" in errors and "nonexistent_module_xyz" in errors["broken"]
