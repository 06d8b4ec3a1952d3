#!/usr/bin/env bash
# Re-runs every comparison of docs/results.rst with the current code and writes each
# run's printed table (table.txt), report.md and comparison.png under
# docs/_static/results/<run>/. Usage (from the repository root; MNIST and
# Fashion-MNIST in DATA_HOME, default ../shared/data):
#
#     nice -n 15 bash benchmarks/results_page.sh [RUN ...]
#
# Compute is kept small on purpose (a 2-core machine shared with other work): a
# stratified subset of the training set, 3 folds x 2 repeats, few epochs, one thread
# per fit. Each run's report.md says exactly what was used.
set -euo pipefail
DATA_HOME=${DATA_HOME:-../shared/data}
OUT=docs/_static/results
SEVEN=(--downsample 7 --hidden 10 --n-samples 10000 --cv 3 --repeats 2 --max-epochs 10)
FULL=(--n-samples 6000 --cv 3 --repeats 2 --max-epochs 8)
run() {
    local name=$1
    shift
    mkdir -p "$OUT/$name"
    echo "== $name: sklearn-kan compare $*" >&2
    # The data folder goes in through the environment, so that the command each
    # report records holds no path of this machine.
    SKLEARN_KAN_DATA="$DATA_HOME" python -m sklearn_kan compare "$@" --no-download \
        --out "$OUT/$name" > "$OUT/$name/table.txt"
}
RUNS=("$@")
if [ ${#RUNS[@]} -eq 0 ]; then
    RUNS=(digits mnist7 mnist7_flops mnist7_full fashion7 mnist28 fashion28)
fi
for name in "${RUNS[@]}"; do
    case $name in
    digits) mkdir -p "$OUT/digits"
        python -m sklearn_kan compare --out "$OUT/digits" > "$OUT/digits/table.txt" ;;
    mnist7) run mnist7 --dataset mnist "${SEVEN[@]}" --match params \
        --models kan,kan-plain,mlp,mlp-flops,sk-mlp,cnn,hybrid-linear,hybrid-conv ;;
    mnist7_flops) run mnist7_flops --dataset mnist "${SEVEN[@]}" --match flops \
        --models kan,mlp ;;
    # The 7 x 7 comparison on all 60,000 images (5 folds, 20 epochs): the full budget.
    mnist7_full) run mnist7_full --dataset mnist --downsample 7 --hidden 10 --match flops \
        --models kan,kan-plain,mlp,mlp-params ;;
    fashion7) run fashion7 --dataset fashion-mnist "${SEVEN[@]}" --match params \
        --models kan,kan-plain,mlp,mlp-flops,sk-mlp,cnn,hybrid-linear,hybrid-conv ;;
    mnist28) run mnist28 --dataset mnist "${FULL[@]}" --hidden 32 --match params \
        --models kan,kan-plain,mlp,mlp-flops,cnn,hybrid-linear,hybrid-conv ;;
    fashion28) run fashion28 --dataset fashion-mnist "${FULL[@]}" --hidden 32 --match params \
        --models kan,kan-plain,mlp,mlp-flops,cnn,hybrid-linear,hybrid-conv ;;
    *) echo "unknown run $name" >&2; exit 2 ;;
    esac
done
