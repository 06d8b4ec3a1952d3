"""KAN regressor. Only what differs from the shared machinery in ``_base``."""

from __future__ import annotations

from ._base import BaseKAN, TorchRegressorMixin

__all__ = ["KANRegressor"]


class KANRegressor(TorchRegressorMixin, BaseKAN):
    """Kolmogorov-Arnold Network regressor.

    The same network as :class:`KANClassifier`, trained with a mean squared
    error loss. Targets are standardised for training and mapped back in
    ``predict`` (in float64, without overflow or underflow: targets of 1e160 or
    1e-200 fit as their standardised values do; a constant target is measured
    in its own magnitude); several targets at once (``y`` of shape ``(n, k)``)
    are supported.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(64,)
        Width of each hidden layer, as in ``MLPClassifier``. The input width is
        the number of features and the output width the number of classes
        (one for a regressor's single target). ``()`` gives a one-layer KAN.
    grid_size : int, default=5
        Number of grid intervals of every edge's spline.
    spline_order : int, default=3
        Degree of the B-splines (3 is cubic).
    basis : {"bspline", "rbf", "chebyshev", "gram", "fourier", "rational"}, default="bspline"
        Basis of the edge functions: B-splines (the KAN paper), Gaussian radial
        basis functions (FastKAN), Chebyshev polynomials (ChebyKAN), Gram
        polynomials (KAGN), sines and cosines (FourierKAN) or KAT's rational
        functions with learned denominators (which do not support
        ``grid_update_epochs`` or ``grid_schedule``). All have
        ``grid_size + spline_order`` functions per edge, so the parameter count
        does not depend on the basis (the rational one adds its denominators).
    grid_range : tuple of float, default=(-1.0, 1.0)
        Interval covered by the initial grids.
    input_scaling : {"minmax", "standard"} or None, default="minmax"
        How inputs are mapped into ``grid_range`` before the first layer:
        ``"minmax"`` maps each feature's training range onto it, ``"standard"``
        puts each feature's mean at the centre and two standard deviations at the
        ends, ``None`` feeds the inputs unchanged. A feature constant in
        training is mapped to one point, whatever its value (a pixel blank in
        every training image changes nothing when lit), and every scaled input
        is clipped to its training range or ``grid_range``, whichever reaches
        further, widened by a tenth of the grid range's width on each side, so
        that values never seen in training stay near the grid. The scaling is
        part of the fitted module (``module_.scale``, ``module_.shift`` and the
        bounds ``module_.low``, ``module_.high``), so an exported model clips
        too; ``partial_fit`` fits it on the data of its first call.
    hidden_norm : {"batchnorm", "layernorm", "tanh"} or None, default="batchnorm"
        What maps each hidden layer's outputs onto the next layer's grid (see
        :class:`~sklearn_kan.nn.KAN`): ``"batchnorm"`` and ``"layernorm"``
        standardise them (over the batch, or over the units of each sample) and
        put two standard deviations at the grid's ends, ``"tanh"`` squashes them
        into ``grid_range``; none adds parameters. ``None`` leaves them as they
        are (the KAN paper's network). The default, ``"batchnorm"``, was the most
        accurate on MNIST; the user guide compares them. It has no effect
        without hidden layers.
    grid_update_epochs : sequence of int or None, default=None
        Epochs (1-based) after which every grid is re-placed on the data (up to
        1024 training rows) and its coefficients refit so the functions are kept.
        They count from the start of each ``fit``, a warm-started one included;
        ``partial_fit`` trains one epoch per call, and counts its calls.
    grid_eps : float, default=0.02
        Weight of a uniform grid mixed with the data quantiles by a grid update
        (1 is fully uniform, 0 fully adaptive). Inputs whose functions that mix
        would change by more than 1% (mostly blank pixels) get a more uniform
        one (see ``sklearn_kan.nn.KANLinear.update_grid``).
    grid_schedule : sequence of int or None, default=None
        Grid sizes to extend to during training, coarse to fine (the KAN
        paper's grid extension): with ``grid_size=3, grid_schedule=(5, 10)`` the
        epochs are split into three equal stages on grids of 3, 5 and 10
        intervals. Each extension keeps the functions (least squares) and
        rebuilds the optimizer.
    lamb : float, default=0.0
        Strength of the KAN paper's sparsity regularisation (L1 of the mean
        absolute activation of each edge plus its entropy). 0 disables it; it
        costs one extra pass over each batch when enabled.
    lamb_l1 : float, default=1.0
        Weight of the L1 term inside the regularisation.
    lamb_entropy : float, default=2.0
        Weight of the entropy term inside the regularisation.
    optimizer : {"adam", "adamw", "sgd", "lbfgs"} or torch optimizer class, default="adam"
        Optimizer. ``"lbfgs"`` works (skorch passes the closure); use it with
        ``batch_size=None`` (full batch) and ``lr=1`` as pykan does.
    lr : float, default=0.003
        Initial learning rate.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` decays the learning rate from ``lr`` to 0 over the
        ``max_epochs`` of each ``fit`` (cosine annealing); on MNIST this is worth
        about one point of accuracy for a small KAN. ``partial_fit`` always uses
        the constant ``lr``.
    weight_decay : float, default=0.0
        Weight decay passed to the optimizer.
    batch_size : int or None, default=128
        Minibatch size (capped at the number of samples). ``None`` trains on the
        full batch.
    max_epochs : int, default=30
        Number of passes over the training data (the maximum, with early
        stopping).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified for a
        classifier), stop when the validation loss has not improved by ``tol``
        for ``n_iter_no_change`` epochs, and keep the best parameters. Without
        it, all the data is used for training and nothing is held out.
    validation_fraction : float, default=0.1
        Fraction held out by ``early_stopping``.
    n_iter_no_change : int, default=10
        Patience of ``early_stopping``, in epochs.
    tol : float, default=1e-4
        Smallest decrease of the validation loss that counts as an improvement.
    device : {"auto", "cpu", "cuda", "mps"} or str, default="auto"
        Where to train: ``"auto"`` takes CUDA, then MPS, then the CPU.
        ``"cuda:1"`` style names work too.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the network's parameters and of training. ``"float64"``
        (double precision, as pykan uses for its symbolic-regression examples)
        is slower (2 to 5 times on digits) but its results do not depend on float32
        rounding, e.g. on the order of the rows in a batch (so ``sample_weight``
        matches repeated rows to 1e-7). Inputs, targets and the input scaling
        are kept in that precision too (features such as ``1e8 + x`` keep their
        digits; float32 models refuse values beyond the float32 range, float64
        models do not). Prediction runs in the same precision, in chunks of 256
        rows.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the shuffling and the validation split. An
        int makes fits on the CPU reproducible; the caller's global torch and
        numpy random states are left untouched.
    verbose : int, default=0
        ``1`` or more prints skorch's table of epochs (loss, time) while
        training.
    callbacks : list or tuple of skorch callbacks or (name, callback) pairs, default=None
        Extra skorch callbacks, e.g. ``EpochScoring("accuracy", on_train=True)``
        or ``("lr", LRScheduler(...))``; unnamed ones are named after their
        class. They are cloned before each fit, so they are never mutated. A
        ``skorch.callbacks.LRScheduler`` replaces the built-in ``lr_schedule``.
    warm_start : bool, default=False
        Whether ``fit`` continues training the current network for
        ``max_epochs`` more epochs instead of starting afresh. A warm-started
        ``fit`` and ``partial_fit`` use the current values of the training
        parameters (``lr``, ``batch_size``, ``weight_decay``, ``lamb``,
        ``callbacks``, ``verbose``, ``early_stopping``...); ``partial_fit``
        keeps the optimizer's state, a warm-started ``fit`` starts a new one
        (and a new ``lr_schedule`` cycle), as ``MLPClassifier`` does. The
        parameters that fix the network (``hidden_layer_sizes``, ``grid_size``,
        ``spline_order``, ``basis``, ``grid_range``, ``input_scaling``,
        ``grid_schedule``, ``dtype``, and the hybrid's ``frontend``, ``image_shape``,
        ``frontend_features``, ``conv_channels``) cannot change between them: a
        ``ValueError`` says so.

    Attributes
    ----------
    grid_size_ : int
        Grid size of the trained network's KAN layers: ``grid_size``, or the
        size reached by ``grid_schedule``. Rebuild a saved ``module_`` with it.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` had string column names.
    net_ : skorch.NeuralNet
        The trained skorch net (history, callbacks, checkpointing).
    module_ : torch.nn.Module
        The trained torch module: a :class:`~sklearn_kan.nn.ScaledKAN` (input
        scaling + KAN), rebuilt from a ``state_dict`` with ``ScaledKAN([n_features_in_,
        *hidden_layer_sizes, n_outputs], grid_size=grid_size_, spline_order=...,
        basis=..., grid_range=...)``.
    history_ : skorch.History
        Per-epoch training record (``history_[:, "train_loss"]``; with
        ``early_stopping`` also ``valid_loss`` and, for classifiers, ``valid_acc``).
    n_params_ : int
        Number of trainable parameters.
    n_threads_ : int
        Number of torch threads the last fit used (a joblib or Dask worker's
        share of the cores; see the user guide on parallel searches).

    See Also
    --------
    KANClassifier : The same network for classification.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_kan import KANRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(300, 2))
    >>> y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2
    >>> reg = KANRegressor(hidden_layer_sizes=(4,), max_epochs=150, random_state=0).fit(X, y)
    >>> bool(reg.score(X, y) > 0.9)
    True
    """

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        *,
        grid_size=5,
        spline_order=3,
        basis="bspline",
        grid_range=(-1.0, 1.0),
        input_scaling="minmax",
        hidden_norm="batchnorm",
        grid_update_epochs=None,
        grid_eps=0.02,
        grid_schedule=None,
        lamb=0.0,
        lamb_l1=1.0,
        lamb_entropy=2.0,
        optimizer="adam",
        lr=3e-3,
        lr_schedule="cosine",
        weight_decay=0.0,
        batch_size=128,
        max_epochs=30,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        device="auto",
        dtype="float32",
        random_state=None,
        verbose=0,
        callbacks=None,
        warm_start=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.grid_size = grid_size
        self.spline_order = spline_order
        self.basis = basis
        self.grid_range = grid_range
        self.input_scaling = input_scaling
        self.hidden_norm = hidden_norm
        self.grid_update_epochs = grid_update_epochs
        self.grid_eps = grid_eps
        self.grid_schedule = grid_schedule
        self.lamb = lamb
        self.lamb_l1 = lamb_l1
        self.lamb_entropy = lamb_entropy
        self.optimizer = optimizer
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.warm_start = warm_start
