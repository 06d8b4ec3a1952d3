"""The package's layout rules (docs/architecture.rst).

``sklearn_kan.nn`` is pure torch, and the rest of the package uses only its public
names: no module outside ``nn/`` imports a private module or a private name of it.
"""

import ast
from pathlib import Path

import sklearn_kan

PACKAGE = Path(sklearn_kan.__file__).parent


def _outside_nn():
    return [p for p in sorted(PACKAGE.rglob("*.py")) if PACKAGE / "nn" not in p.parents]


def _private_nn_uses(tree: ast.AST) -> list[str]:
    """``from .nn._x import``, ``from .nn.x import _y``, ``import sklearn_kan.nn._x``,
    ``nn._x`` and ``sklearn_kan.nn._x`` in attribute chains."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            if node.level == 1 and parts[0] == "nn" or parts[:2] == ["sklearn_kan", "nn"]:
                tail = parts[1:] if node.level == 1 else parts[2:]
                names = [a.name for a in node.names]
                if any(p.startswith("_") for p in tail) or any(n.startswith("_") for n in names):
                    found.append(f"from {'.' * node.level}{node.module} import {', '.join(names)}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[:2] == ["sklearn_kan", "nn"] and any(p.startswith("_") for p in parts[2:]):
                    found.append(f"import {alias.name}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            value = node.value
            if isinstance(value, ast.Name) and value.id == "nn":
                found.append(f"nn.{node.attr}")
            elif isinstance(value, ast.Attribute) and value.attr == "nn":
                if isinstance(value.value, ast.Name) and value.value.id == "sklearn_kan":
                    found.append(f"sklearn_kan.nn.{node.attr}")
    return found


def test_no_module_outside_nn_uses_a_private_name_of_nn():
    offenders = {}
    for path in _outside_nn():
        text = path.read_text()
        tree = ast.parse(text)
        # `from torch import nn` makes `nn` torch's: nn.modules.batchnorm._BatchNorm is fine.
        torch_nn = any(
            isinstance(n, ast.ImportFrom)
            and n.module == "torch"
            and any(a.name == "nn" for a in n.names)
            for n in ast.walk(tree)
        )
        uses = _private_nn_uses(tree)
        if torch_nn:
            uses = [u for u in uses if not u.startswith("nn.")]
        if uses:
            offenders[str(path.relative_to(PACKAGE))] = uses
    assert not offenders, f"private names of sklearn_kan.nn used outside nn/: {offenders}"


def test_the_check_sees_private_imports():
    for bad in (
        "from .nn._fused import kernel_info",
        "from .nn.layers import _KANPixelLayer",
        "from sklearn_kan.nn._threading import plan_threads",
        "import sklearn_kan.nn._fused",
        "from . import nn\nnn._fused.FEATURE_KEEP",
        "import sklearn_kan\nsklearn_kan.nn._native",
    ):
        assert _private_nn_uses(ast.parse(bad)), bad
    for good in (
        "from .nn import plan_threads",
        "from .nn.layers import KANLinear",
        "from ._counting import row_macs",
    ):
        assert not _private_nn_uses(ast.parse(good)), good


def test_nn_imports_nothing_from_the_rest_of_the_package():
    for path in sorted((PACKAGE / "nn").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, f"{path.name} imports from outside nn/"
                assert not (node.module or "").startswith(("sklearn_kan", "sklearn", "skorch")), (
                    f"{path.name} imports {node.module}"
                )
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith(("sklearn_kan", "sklearn", "skorch")), (
                        f"{path.name} imports {alias.name}"
                    )
