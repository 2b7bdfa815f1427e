"""Chat tests reach their fakes on 127.0.0.1: no proxy may stand in between (``tests.support.no_proxy``)."""

from tests.support import no_proxy

__all__ = ["no_proxy"]  # a fixture, autouse for every test below this directory
