# Two commands set up everything on a fresh machine with python3, make and PyPI:
#   make report   -> results/report.html (the main job)
#   make test     -> the test suite
PY ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
OUT ?= results
BENCH_TMP ?= /tmp
# pytest-xdist workers of `make test` (one per core of the 2-core box it is timed on)
TEST_WORKERS ?= 2

.PHONY: report report-quick test test-latest lint bench bench-quick docs docs-serve clean

$(UV):
	$(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q "uv==$(UV_VERSION)"

.venv/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --locked --python $(PY)
	touch $@

report: .venv/.synced
	.venv/bin/ntkfix report --out $(OUT)

report-quick: .venv/.synced
	.venv/bin/ntkfix report --out $(OUT) --quick

# The suite (tests/: tests/ntkfix the library, tests/analysis the application and notebooks,
# tests/benchmarks the harness), then the docstring examples of the library. The notebook
# test writes each notebook it executed (and checked) to docs/notebooks/ exactly as the
# nbconvert rule below would, so a `make docs` after it does not execute them again. The
# suite runs in TEST_WORKERS processes (tests/conftest.py keeps a module, and the tests of
# the quick report, on one).
test: .venv/.synced
	NTKFIX_EXECUTED_NOTEBOOKS=docs/notebooks .venv/bin/python -m pytest -n $(TEST_WORKERS) --dist loadgroup
	.venv/bin/python -m pytest -q -p no:cacheprovider --doctest-modules ntkfix

# The library's tests (tests/ntkfix; the application's, notebooks and benchmarks run once,
# in `make test`) again on the newest jax and numpy PyPI serves (neural-tangents cannot
# import there: its tests skip with that reason); the structured-NTK architecture grid of
# tests/ntkfix/test_ntk.py runs thinned there (NTKFIX_TEST_GRID=thin: 11 of 32).
.venv-latest/.synced: $(UV) pyproject.toml
	rm -rf .venv-latest
	$(UV) venv -q .venv-latest --python $(PY)
	$(UV) pip install -q --no-config --python .venv-latest/bin/python --upgrade -e . pytest jax jaxlib numpy flax mpmath
	# neural-tangents without its TensorFlow deps: it installs, but fails to import on new jax
	$(UV) pip install -q --no-config --python .venv-latest/bin/python --no-deps neural-tangents==0.6.5 frozendict
	touch $@

test-latest: .venv-latest/.synced
	.venv-latest/bin/python -c "import jax, numpy; print('newest env: jax', jax.__version__, 'numpy', numpy.__version__)"
	NTKFIX_TEST_GRID=thin .venv-latest/bin/python -m pytest -p no:cacheprovider tests/ntkfix

# ruff's lint rules (pyproject.toml); CI requires it clean.
lint: .venv/.synced
	.venv/bin/ruff check ntkfix analysis tests benchmarks

# The documentation site (warnings are errors), readable offline and from file://: the
# notebooks executed (outputs and figures kept; each re-runs only when it changed, or
# taken as `make test` executed them: tests/analysis/test_notebooks.py), MathJax
# copied from the django-static-mathjax wheel (no CDN), relative links (use_directory_urls).
NOTEBOOKS := $(wildcard notebooks/*.ipynb)
EXECUTED := $(patsubst notebooks/%,docs/notebooks/%,$(NOTEBOOKS))
MATHJAX := docs/javascripts/mathjax

docs/notebooks/%.ipynb: notebooks/%.ipynb .venv/.synced
	@mkdir -p docs/notebooks
	MPLBACKEND=module://matplotlib_inline.backend_inline .venv/bin/jupyter nbconvert --to notebook \
	  --execute --ExecutePreprocessor.timeout=600 --output-dir docs/notebooks $< --log-level=WARN

$(MATHJAX)/tex-mml-chtml.js: .venv/.synced
	rm -rf $(MATHJAX) && mkdir -p $(MATHJAX)/output/chtml $(MATHJAX)/input/tex
	src=$$(.venv/bin/python -c "import mathjax, pathlib; print(pathlib.Path(mathjax.__file__).parent / 'static/mathjax')") \
	  && cp $$src/es5/tex-mml-chtml.js $$src/LICENSE $(MATHJAX)/ \
	  && cp -r $$src/es5/output/chtml/fonts $(MATHJAX)/output/chtml/ \
	  && cp -r $$src/es5/input/tex/extensions $(MATHJAX)/input/tex/

docs: .venv/.synced $(EXECUTED) $(MATHJAX)/tex-mml-chtml.js
	NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --site-dir site

docs-serve: docs
	.venv/bin/mkdocs serve --dev-addr 127.0.0.1:8000

# ntkfix vs neural-tangents, timed in one run (docs/benchmarks.md); GPU: benchmarks/gpu.sh
bench: .venv/.synced
	.venv/bin/python -m benchmarks.run --out $(OUT)/bench
	.venv/bin/python -m benchmarks.networks --out $(OUT)/bench-networks
	.venv/bin/python -m benchmarks.infinite --out $(OUT)/bench-infinite
	.venv/bin/python -m benchmarks.solve --n 8000
	.venv/bin/python -m benchmarks.large --kernel infinite --n 60000 --depth 3 --path $(BENCH_TMP)/ntkfix_inf60k.npy

bench-quick: .venv/.synced
	.venv/bin/python -m benchmarks.run --quick --out $(OUT)/bench-quick
	.venv/bin/python -m benchmarks.networks --quick --out $(OUT)/bench-networks-quick
	.venv/bin/python -m benchmarks.infinite --quick --out $(OUT)/bench-infinite-quick
	.venv/bin/python -m benchmarks.solve --quick
	.venv/bin/python -m benchmarks.large --kernel infinite --n 4000 --depth 3 --path $(BENCH_TMP)/ntkfix_inf4k.npy

clean:
	rm -rf .venv .venv-latest $(TOOLS) results site
