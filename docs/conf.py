"""Sphinx configuration of the sklearn-kan documentation.

Build it with ``sphinx-build -W -b html docs docs/_build/html`` (``pip install -e
".[docs]"`` first). The examples in ``examples/`` are run by sphinx-gallery with
``SKLEARN_KAN_EXAMPLES_SMALL=1``, so they use scikit-learn's 8 x 8 digits and the
whole build stays within a few minutes on a CPU.
"""

import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Before anything imports torch: small data for the examples, and OpenMP threads
# that sleep instead of spinning while they wait (spinning makes torch many times
# slower on busy cores, where documentation is often built).
os.environ["SKLEARN_KAN_EXAMPLES_SMALL"] = "1"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Examples that save figures of their own write them outside the source tree.
os.environ.setdefault("SKLEARN_KAN_FIGURES", tempfile.mkdtemp(prefix="sklearn-kan-figures-"))
os.environ.setdefault("MPLBACKEND", "Agg")

import sklearn_kan  # noqa: E402

project = "sklearn-kan"
author = "sklearn-kan developers"
copyright = "sklearn-kan developers"
version = release = sklearn_kan.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
# _static/results holds the report.md of each comparison run: data, not pages.
exclude_patterns = ["_build", "gen_modules/backreferences/*.examples.new", "_static/**"]
root_doc = "index"

autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_typehints = "none"  # numpydoc sections already give the types
# Methods are documented by autodoc in each class page; numpydoc's own member
# tables would list them a second time.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
myst_heading_anchors = 3

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    # quickstart.py is the README's plain script, not a gallery page.
    "ignore_pattern": r"__init__\.py|quickstart\.py",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("sklearn_kan",),
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "plot_gallery": "True",
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "write_computation_times": False,
}

html_theme = "alabaster"
html_title = f"sklearn-kan {release}"
html_static_path = []
html_theme_options = {
    "description": "Kolmogorov-Arnold Networks as scikit-learn estimators",
    "fixed_sidebar": True,
}


# Shapes written as ``(n_samples, n_features_in_)`` in a numpydoc type would read
# as a reST reference to a target "n_features_in"; quote such names as literals.
_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?=[,)\s])")


def _quote_shapes(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        if "of shape" in line:
            lines[i] = _TRAILING_UNDERSCORE.sub(r"``\1``", line)


def _skip_routing_methods(app, what, name, obj, skip, options):
    # scikit-learn's generated metadata-routing setters (set_fit_request, ...)
    # document scikit-learn's own machinery and link to its user guide.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-process-docstring", _quote_shapes)
    app.connect("autodoc-skip-member", _skip_routing_methods)
