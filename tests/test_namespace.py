"""The public namespace: an explicit ``__all__``, documented, organised one way."""

import re
import types
from pathlib import Path

import pytest

import gendsl as gd
from gendsl import losses as L

DOCS = Path(__file__).resolve().parents[1] / "docs" / "language.md"


def test_all_lists_exactly_the_public_names():
    public = {n for n, v in vars(gd).items()
              if not n.startswith("_") and not (isinstance(v, types.ModuleType)
                                                and n not in gd.__all__)}
    assert public == set(gd.__all__)
    assert len(gd.__all__) == len(set(gd.__all__))


def test_every_public_name_is_in_the_language_reference():
    text = DOCS.read_text()
    missing = [n for n in gd.__all__ if not re.search(rf"`gd\.{re.escape(n)}\b", text)]
    assert not missing, f"docs/language.md does not mention {missing}"
    losses = [n for n in L.__all__ if not re.search(rf"`L\.{re.escape(n)}\b", text)]
    assert not losses, f"docs/language.md does not mention {losses}"


def test_internals_are_not_exported():
    for name in ("Game", "LoweringContext", "PlayerStatic", "StateLayout"):
        assert name not in gd.__all__ and not hasattr(gd, name)


@pytest.mark.parametrize("name, home", [("elbo", "gd.losses.elbo"),
                                        ("adversarial", "gd.losses.adversarial"),
                                        ("l1", "gd.losses.l1"),
                                        ("ntk_gp_loss", "gd.losses.ntk_gp_loss"),
                                        ("Game", "gendsl.compiler.game.Game")])
def test_a_moved_name_says_where_it_went(name, home):
    with pytest.raises(AttributeError, match=re.escape(home)):
        getattr(gd, name)


def test_every_objective_primitive_sits_in_losses_and_builds_terms():
    x = gd.data("x")
    assert isinstance(L.nonsaturating_d(x, x), gd.Term)
    assert isinstance(L.elbo, gd.Primitive)
    for name in L.__all__:
        assert callable(getattr(L, name)) and getattr(L, name).__doc__, name
