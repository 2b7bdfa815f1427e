from __future__ import annotations

import pytest

from integrations.mcp.expand import MissingVariable, expand


def test_references_are_replaced_by_the_variables_values() -> None:
    environ = {"TOKEN": "abcdefgh12345", "REGION": "eu"}
    done = expand({"AUTH": "Bearer ${TOKEN}", "WHERE": "${REGION}-1", "PLAIN": "$TOKEN {TOKEN}"}, "env", environ)
    assert done.values == {"AUTH": "Bearer abcdefgh12345", "WHERE": "eu-1", "PLAIN": "$TOKEN {TOKEN}"}
    # A referenced value long enough to be a secret is one; a short one ("eu") would garble words.
    assert done.secrets == ["abcdefgh12345"]


def test_a_missing_variable_is_named_with_where_it_was_referenced() -> None:
    with pytest.raises(MissingVariable) as caught:
        expand({"Authorization": "Bearer ${TRACKER_TOKEN}"}, "headers", {})
    assert str(caught.value) == "environment variable TRACKER_TOKEN is not set (referenced in headers.Authorization)"
    assert caught.value.variable == "TRACKER_TOKEN"
