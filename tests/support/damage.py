"""Payloads with a few fields (at any depth) deleted or replaced by any JSON value: what a parser of
Slack's payloads must read without raising."""

from __future__ import annotations

import copy

from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
_DELETE = object()


def paths(value, prefix: tuple = ()):
    """Every path into a JSON value (keys and list indexes), the value itself first."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def damaged(original: dict, data, keep: tuple[tuple, ...] = ()) -> dict:
    """`original` with one to three of its fields deleted or replaced, drawn with hypothesis' `data`.

    Paths in `keep` and the paths leading to them are left alone (what routes the payload to its
    listener, e.g. `("type",)`, so the damage reaches the listener and not only the router).
    """
    body = copy.deepcopy(original)
    kept = {k[:n] for k in keep for n in range(1, len(k) + 1)}
    candidates = [p for p in paths(body) if p and p not in kept]
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        path = data.draw(st.sampled_from(candidates), label="path")
        replacement = data.draw(st.one_of(st.just(_DELETE), json_values), label="replacement")
        parent = body
        try:
            for step in path[:-1]:
                parent = parent[step]
            if replacement is _DELETE:
                if isinstance(parent, dict):
                    del parent[path[-1]]
            else:
                parent[path[-1]] = replacement
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed or replaced this path
    return body
