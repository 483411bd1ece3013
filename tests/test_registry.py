"""Registries: registration, duplicate names, and the unknown-name message."""

import pytest

from polyframe.errors import UserFacingError
from polyframe.registry import (DuplicateComponentError, Registry,
                                UnknownComponentError, closest_across)


def make_registry():
    registry = Registry("cells", "test cells")

    @registry.register("lstm")
    class LSTM:
        """A test cell."""

    registry.add("gru", object)
    return registry, LSTM


def test_registered_component_is_returned_unchanged():
    registry, lstm = make_registry()
    assert registry.get("lstm") is lstm
    assert "gru" in registry and "rnn" not in registry
    assert [name for name, _ in registry.items()] == ["gru", "lstm"]
    assert registry.origin("lstm").endswith("make_registry.<locals>.LSTM")


def test_duplicate_name_is_rejected_and_names_both_sides():
    registry, _ = make_registry()
    with pytest.raises(DuplicateComponentError, match="'lstm' is already "
                       "registered by .*LSTM"):
        registry.add("lstm", dict)
    assert registry.get("lstm") is not dict


def test_name_must_be_selectable_from_gin():
    registry, _ = make_registry()
    with pytest.raises(ValueError, match="identifier"):
        registry.add("my-cell", object)


def test_unknown_name_lists_names_closest_match_and_plugin_hint():
    registry, _ = make_registry()
    with pytest.raises(UnknownComponentError) as caught:
        registry.get("lstmm")
    message = str(caught.value)
    assert isinstance(caught.value, UserFacingError)
    assert "unknown cells component 'lstmm'" in message
    assert "Did you mean 'lstm'?" in message
    assert "Available cells: gru, lstm" in message
    assert "plugin package" in message and "polyframe.plugins" in message


def test_unknown_name_without_close_match_has_no_suggestion():
    registry, _ = make_registry()
    with pytest.raises(UnknownComponentError) as caught:
        registry.get("transformer")
    assert "Did you mean" not in str(caught.value)


def test_listeners_see_past_and_future_registrations():
    registry, _ = make_registry()
    seen = []
    registry.add_listener(lambda reg, name, component: seen.append(name))
    registry.add("rnn", object)
    assert seen == ["lstm", "gru", "rnn"]


def test_closest_across_registries_names_the_registry():
    cells, _ = make_registry()
    heads = Registry("heads", "test heads")
    heads.add("autoregressive", object)
    assert closest_across([cells, heads], "autoregresive") == \
        "heads.autoregressive"
    assert closest_across([cells, heads], "zzzz") is None
