"""The package surface: ``import chainrule`` costs NumPy alone, and the extras load where used."""

import subprocess
import sys

import pytest

OPTIONAL = {"scipy", "sklearn", "sympy", "matplotlib", "rich", "tqdm", "torch", "safetensors", "threadpoolctl"}


def imported_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def test_import_chainrule_loads_no_optional_dependency():
    assert imported_after("import chainrule") & OPTIONAL == set()


@pytest.mark.parametrize("name", ["datasets", "learn", "plot", "sklearn"])
def test_subpackages_load_on_first_attribute_access(name):
    loaded = imported_after(f"import chainrule\nassert 'chainrule.{name}' not in sys.modules\n"
                            f"module = chainrule.{name}\nassert module.__name__ == 'chainrule.{name}'")
    assert "chainrule" in loaded


def test_unknown_attribute_names_itself():
    import chainrule

    with pytest.raises(AttributeError, match="no_such_thing"):
        chainrule.no_such_thing  # noqa: B018


def test_every_public_name_resolves():
    import chainrule

    for name in chainrule.__all__:
        assert getattr(chainrule, name) is not None, name
