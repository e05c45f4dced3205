"""`Ensemble`: K models stacked along a leading member axis and evaluated with one vmap."""

from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, PyTree

from ..nn import is_stateful
from ..train import trainable
from ._member import EnsembleMember
from ._predictive import Predictive


def _initial_variances(anchors: PyTree) -> PyTree:
    """Per array, the variance of its initial draws over members and entries, per member.

    The initialisation distribution is the prior of anchored ensembles (Pearce et al.
    2020); its variance differs per layer (fan-in scaling), so it is estimated per array
    from the K draws themselves rather than assumed. A constant initialisation (e.g.
    zero biases or unit LayerNorm scales) has variance zero: that array is not anchored.
    The value is repeated per member so that, like every array of an ensemble, it has
    the member axis in front and survives `select` and member-axis sharding unchanged.
    """

    def variance(a):
        v = jnp.var(jax.lax.stop_gradient(a))
        return jnp.broadcast_to(v, a.shape[:1])

    return jtu.tree_map(variance, anchors)


class Ensemble(eqx.Module):
    """K independently initialised models with a leading member axis, called as one model.

    The members are built with `eqx.filter_vmap` over construction keys, so every array
    leaf of the ensemble carries the member axis first; a call vmaps the members over
    that axis (`eqx.filter_vmap(..., in_axes=(eqx.if_array(0), None))`) and returns
    per-member outputs, and training all members is one compiled step of
    `sciml.train.fit` with an [`sciml.uq.EnsembleLoss`][] and a
    [`sciml.uq.member_optimizer`][] (see [`sciml.uq.fit_ensemble`][]). Any pytree model
    works: an MLP regressor, a CNN/FNO surrogate, a PINN trial function, a diffrax
    vector field (use [`map`][] to solve with every member).

    What makes it approximately Bayesian rather than K copies of one network:

    - independent random initialisations (deep ensembles, Lakshminarayanan et al. 2017);
    - per-member data weights (bootstrap or Bayesian bootstrap,
        [`sciml.uq.bootstrap_weights`][]);
    - randomised prior functions (Osband et al. 2018): `make_prior` builds a fixed
        random network per member, added with weight `prior_scale`;
    - anchoring (Pearce et al. 2020): with `anchored=True` the ensemble keeps each
        member's initial parameters, and the loss regularises the member toward its own
        draw, which turns K MAP fits into approximate posterior samples;
    - heteroscedastic Gaussian heads for the aleatoric noise.

    Members with BatchNorm state are not supported (each would need its own state).

    ??? cite

        [Simple and Scalable Predictive Uncertainty Estimation using Deep Ensembles](https://arxiv.org/abs/1612.01474),
        Lakshminarayanan, Pritzel & Blundell, NeurIPS 2017.

        [Randomized Prior Functions for Deep Reinforcement Learning](https://arxiv.org/abs/1806.03335),
        Osband, Aslanides & Cassirer, NeurIPS 2018.

        [Uncertainty in Neural Networks: Approximately Bayesian Ensembling](https://arxiv.org/abs/1810.05546),
        Pearce, Leibfried, Brintrup, Zaki & Neely, AISTATS 2020.
    """

    members: EnsembleMember
    anchors: PyTree | None
    anchor_variances: PyTree | None
    ids: Int[Array, " members"]

    def __init__(
        self,
        make_model: Callable[[PRNGKeyArray], PyTree],
        num_members: int,
        *,
        key: PRNGKeyArray,
        make_prior: Callable[[PRNGKeyArray], PyTree] | None = None,
        prior_scale: float = 1.0,
        anchored: bool = False,
        heteroscedastic: bool = False,
        min_variance: float = 1e-6,
    ):
        """**Arguments:**

        - `make_model`: `make_model(key) -> model`, e.g.
            `lambda k: sciml.nn.build("mlp", key=k, in_size=1, out_size=2)`.
        - `num_members`: the ensemble size K.
        - `key`: the PRNG key; member `k` is built from the `k`-th of its splits.
        - `make_prior`: `make_prior(key) -> network` building each member's fixed
            random prior (output shape of the mean), or None for no prior.
        - `prior_scale`: the weight of the prior's output.
        - `anchored`: keep each member's initial parameters and their per-array
            variances, for anchored training (Pearce et al. 2020).
        - `heteroscedastic`: the models output a mean half and a variance half (see
            [`sciml.uq.EnsembleMember`][]).
        - `min_variance`: the variance floor of heteroscedastic heads.

        **Raises:**

        `ValueError` for a non-positive `num_members` or a model holding BatchNorm state.
        """
        if isinstance(num_members, bool) or not isinstance(num_members, (int, np.integer)) or num_members < 1:
            raise ValueError(f"num_members must be a positive integer, got {num_members!r}")
        model_key, prior_key = jr.split(key)
        model_keys = jr.split(model_key, num_members)
        prior_keys = jr.split(prior_key, num_members)

        def build(mk, pk):
            model = make_model(mk)
            prior = None if make_prior is None else make_prior(pk)
            return EnsembleMember(model, prior, prior_scale, heteroscedastic=heteroscedastic, min_variance=min_variance)

        # Checked abstractly first, before vmapping a stateful constructor could fail obscurely.
        if is_stateful(eqx.filter_eval_shape(build, model_keys[0], prior_keys[0])):
            raise ValueError("ensemble members with BatchNorm state are not supported; build them without it")
        members = eqx.filter_vmap(build)(model_keys, prior_keys)
        self.members = members
        if anchored:
            self.anchors = eqx.filter(members.model, trainable(members.model))
            self.anchor_variances = _initial_variances(self.anchors)
        else:
            self.anchors = None
            self.anchor_variances = None
        self.ids = jnp.arange(num_members, dtype=jnp.int32)

    def __check_init__(self):
        k = self.ids.shape[0]
        for path, leaf in jtu.tree_leaves_with_path(eqx.filter(self, eqx.is_array)):
            if jnp.ndim(leaf) == 0 or jnp.shape(leaf)[0] != k:
                raise ValueError(
                    f"every array of an Ensemble needs the member axis ({k}) first; "
                    f"{jtu.keystr(path)} has shape {jnp.shape(leaf)}"
                )

    @property
    def num_members(self) -> int:
        """The ensemble size K."""
        return self.ids.shape[0]

    @property
    def filter_spec(self) -> PyTree:
        """The boolean filter spec for `sciml.train.fit`: only the members' models train.

        Priors, anchors, their variances and the member ids are frozen, as are the
        fixed buffers `sciml.train.trainable` excludes (Fourier features, normalisers).
        """
        spec = jtu.tree_map(lambda _: False, self)
        return eqx.tree_at(lambda e: e.members.model, spec, trainable(self.members.model))

    def _member_keys(self, key: PRNGKeyArray) -> PRNGKeyArray:
        # Keys follow the member's id, not its position, so a member sees the same
        # randomness alone (after `select`) as inside the full ensemble.
        return jax.vmap(jr.fold_in, in_axes=(None, 0))(key, self.ids)

    def distribution(
        self, *args: Any, key: PRNGKeyArray | None = None
    ) -> tuple[Float[Array, " members *out"], Float[Array, " members *out"]]:
        """Every member's Gaussian at one input: means and aleatoric variances.

        **Arguments:**

        - `*args`: one sample of the models' positional arguments, shared by all members.
        - `key`: an optional key (dropout); each member gets its own.

        **Returns:**

        `(means, variances)` with the member axis first; variances are zero without
        heteroscedastic heads.
        """
        if key is None:
            fn = lambda m, a: m.distribution(*a)
            return eqx.filter_vmap(fn, in_axes=(eqx.if_array(0), None))(self.members, args)
        fn = lambda m, k, a: m.distribution(*a, key=k)
        return eqx.filter_vmap(fn, in_axes=(eqx.if_array(0), 0, None))(self.members, self._member_keys(key), args)

    def __call__(self, *args: Any, key: PRNGKeyArray | None = None) -> Float[Array, " members *out"]:
        """Every member's (mean) output at one input, member axis first.

        **Arguments:**

        - `*args`: one sample of the models' positional arguments.
        - `key`: an optional key (dropout); each member gets its own.

        **Returns:**

        The stacked outputs, shape `(num_members, *out)`.
        """
        return self.distribution(*args, key=key)[0]

    def predict(self, xs: Float[ArrayLike, " batch *in"], *, key: PRNGKeyArray | None = None) -> Predictive:
        """The predictive mixture at a batch of inputs.

        Unlike a call, this takes a *batch* (leading sample axis) and vmaps over it.

        **Arguments:**

        - `xs`: the inputs, shape `(n, *in)`.
        - `key`: an optional key (dropout); each member and sample gets its own.

        **Returns:**

        A [`sciml.uq.Predictive`][] with means and variances of shape
        `(num_members, n, *out)`.
        """
        xs = jnp.asarray(xs)
        if key is None:
            means, variances = jax.vmap(self.distribution, out_axes=1)(xs)
        else:
            keys = jr.split(key, xs.shape[0])
            means, variances = jax.vmap(lambda x, k: self.distribution(x, key=k), out_axes=1)(xs, keys)
        return Predictive(means, variances)

    def map(self, fn: Callable[..., PyTree], *args: Any) -> PyTree:
        """Apply `fn(member, *args)` to every member with one `eqx.filter_vmap`.

        The way to run anything other than a forward pass per member: a diffrax solve
        with each member as the vector field, a PINN residual, a per-member metric.
        Batched solves must use `throw=False` (a failure would otherwise fail all
        members) and report per-member result codes, which [`select`][] can then use
        to drop the failed members.

        **Arguments:**

        - `fn`: a function of one [`sciml.uq.EnsembleMember`][] and `args`.
        - `*args`: arguments shared by all members (broadcast, not mapped).

        **Returns:**

        `fn`'s outputs, array leaves stacked along a leading member axis.
        """
        in_axes = (eqx.if_array(0),) + (None,) * len(args)
        return eqx.filter_vmap(fn, in_axes=in_axes)(self.members, *args)

    def select(self, members: Sequence[int] | Int[ArrayLike, " n"] | Bool[ArrayLike, " members"]) -> "Ensemble":
        """The sub-ensemble of some members (e.g. those whose solve succeeded).

        **Arguments:**

        - `members`: member positions, or a boolean mask of length `num_members`; a
            concrete (host) value, since it decides the new ensemble's size.

        **Returns:**

        An `Ensemble` of the chosen members, with their ids, anchors and priors, so
        each trains and evaluates exactly as it did inside the full ensemble.

        **Raises:**

        `ValueError` for an empty selection, a mask of the wrong length or an index out of
        range.
        """
        idx = np.asarray(members)
        if idx.dtype == bool:
            if idx.shape != (self.num_members,):
                raise ValueError(f"a member mask needs shape ({self.num_members},), got {idx.shape}")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        if idx.size == 0:
            raise ValueError("select needs at least one member")
        if idx.min() < -self.num_members or idx.max() >= self.num_members:
            raise ValueError(f"member index out of range for an ensemble of {self.num_members}: {idx.tolist()}")
        return jtu.tree_map(lambda a: a[idx] if eqx.is_array(a) else a, self)

    def member(self, index: int) -> EnsembleMember:
        """Member `index` on its own, without the member axis (a single callable model).

        **Arguments:**

        - `index`: the member's position.

        **Returns:**

        The [`sciml.uq.EnsembleMember`][] at that position.
        """
        if not -self.num_members <= index < self.num_members:
            raise ValueError(f"member index {index} out of range for an ensemble of {self.num_members}")
        return jtu.tree_map(lambda a: a[index] if eqx.is_array(a) else a, self.members)
