"""The suite's expensive session fixtures are built once because their modules are
``xdist_group``-marked and CI runs ``--dist loadgroup``. If the grouping silently stops
(pytest 9.2 renamed the node id that pytest-xdist rewrites: pytest-dev/pytest-xdist#1386),
each worker builds them again and CI slows by minutes without a failure: this test fails."""
import pytest

pytestmark = pytest.mark.xdist_group("test_xdist_groups")


def test_a_grouped_module_carries_its_group_under_loadgroup(request):
    if not getattr(request.config.option, "loadgroup", False):  # set in xdist workers
        pytest.skip("only under pytest -n N --dist loadgroup (the README's test command)")
    assert request.node.nodeid.endswith("@test_xdist_groups"), (
        f"{request.node.nodeid} has no @group suffix: pytest-xdist's loadgroup does not "
        "group with this pytest; pin a pytest it supports in pyproject.toml's test extra")
