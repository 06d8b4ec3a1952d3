#!/usr/bin/env bash
# One-shot GPU check for a lent CUDA machine: CUDA tests, a CUDA->CPU pickle round
# trip, and the benchmark suite on the GPU. Writes everything under $OUT (or ./gpu_out).
# Needs skorch (and, for the peer columns, flashkan and inkan) as wheels in .wheels/
# (pip download skorch flashkan inkan --no-deps -d .wheels). On CUDA the B-spline
# layers run the eager kernels (the native ones are CPU code): the check covers both.
set -uo pipefail
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
python3 -m pip install --no-deps --no-index -q .wheels/*.whl || true
python3 -m pip install --no-deps --no-build-isolation -q -e . || export PYTHONPATH=$PWD
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
python3 -c "import torch, sklearn, skorch, numpy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'sklearn', sklearn.__version__, 'skorch', skorch.__version__, 'numpy', numpy.__version__)"
echo "== CUDA tests"
timeout 150 python3 -m pytest -q -m cuda -p no:cacheprovider tests 2>&1 | tail -15
echo "== pickle on CUDA, load without CUDA"
python3 - <<'PY'
import pickle, subprocess, sys
from sklearn.datasets import load_digits
from sklearn_kan import KANClassifier
X, y = load_digits(return_X_y=True)
clf = KANClassifier(device="cuda", max_epochs=5, random_state=0).fit(X, y)
print("cuda fit acc", clf.score(X, y), next(clf.module_.parameters()).device)
pickle.dump((clf, X, clf.predict_proba(X)), open("/tmp/cuda_model.pkl", "wb"))
code = ("import pickle, numpy as np, torch; clf, X, p = pickle.load(open('/tmp/cuda_model.pkl','rb'));"
        "print('cuda available in loader:', torch.cuda.is_available());"
        "q = clf.predict_proba(X); print('loaded on', next(clf.module_.parameters()).device,"
        "'max |diff|', float(np.abs(q - p).max()), 'labels equal', bool((q.argmax(1) == p.argmax(1)).all()))")
import os
r = subprocess.run([sys.executable, "-c", code], env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
                   capture_output=True, text=True)
print(r.stdout, r.stderr[-2000:])
PY
echo "== benchmark on the GPU"
if [ -f benchmarks/run.py ]; then
  # pykan is not installable without a network; MNIST comes from a carried copy.
  timeout 150 python3 benchmarks/run.py --device cuda --quick --no-pykan --sections expansion layers conv fit \
    --mnist "${MNIST_DIR:-.gpu_data/mnist}" --out "$OUT" 2>&1 | tail -60
fi
ls -la "$OUT"
