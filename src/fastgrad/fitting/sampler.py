"""emcee's sampler and stretch move, trimmed for a vectorised log-probability.

The only module of fastgrad that imports emcee: :mod:`fastgrad.fitting.mcmc`
imports it at the first fit, so that ``import fastgrad`` does not import emcee
(and the scipy.stats it pulls in).  Module-level classes, so that fits pickle
to and from worker processes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import emcee
import numpy as np

if TYPE_CHECKING:
    from typing import Any


__all__ = ["Sampler", "StretchMove"]


class StretchMove(emcee.moves.StretchMove):
    """emcee's StretchMove with its steps written for few walkers.

    The same random numbers drawn in the same order and the same arithmetic
    as emcee's ``RedBlueMove.propose`` and ``StretchMove.get_proposal``, so
    the chain is identical to that of emcee's own StretchMove from the same
    random state (see the tests); what is gone is per-call overhead, a
    sizeable part of a fit of 10 walkers: emcee draws one uniform per walker
    in a Python loop (``rand(n)`` returns the same numbers in the same
    order), selects each half-ensemble by boolean masks once per split and
    builds a new State for each proposal.
    """

    def propose(self, model: Any, state: Any) -> tuple[Any, np.ndarray]:
        nwalkers, ndim = state.coords.shape
        if nwalkers < 2 * ndim and not self.live_dangerously:
            raise RuntimeError(
                "It is unadvisable to use a red-blue move with fewer walkers "
                "than twice the number of dimensions."
            )
        self.setup(state.coords)
        random, a = model.random, self.a
        accepted = np.zeros(nwalkers, dtype=bool)
        inds = np.arange(nwalkers) % self.nsplits
        if self.randomize_split:
            random.shuffle(inds)
        coords, log_prob = state.coords, state.log_prob
        # each split's walkers in ascending order, as a boolean mask selects them
        groups = [np.flatnonzero(inds == j) for j in range(self.nsplits)]
        for split in range(self.nsplits):
            walkers = groups[split]
            # the complementary ensemble in emcee's order (the other splits
            # concatenated), from the coordinates as the previous split left them
            others = np.concatenate(groups[:split] + groups[split + 1 :])
            s, c = coords[walkers], coords[others]
            zz = ((a - 1.0) * random.rand(len(s)) + 1) ** 2.0 / a
            factors = (ndim - 1.0) * np.log(zz)
            rint = random.randint(len(c), size=(len(s),))
            cr = c[rint]
            q = cr - (cr - s) * zz[:, None]
            new_log_probs, _ = model.compute_log_prob_fn(q)
            lnpdiff = factors + new_log_probs - log_prob[walkers]
            acc = lnpdiff > np.log(random.rand(len(walkers)))
            accepted[walkers] = acc
            moved = walkers[acc]
            coords[moved] = q[acc]
            log_prob[moved] = new_log_probs[acc]
        return state, accepted


class Sampler(emcee.EnsembleSampler):
    """emcee's EnsembleSampler for a vectorised log-probability without blobs.

    ``compute_log_prob`` skips emcee's per-walker probing for blobs (two
    Python loops over the walkers per call); everything else is emcee's.
    """

    def compute_log_prob(self, coords: np.ndarray) -> tuple[np.ndarray, None]:
        if not np.isfinite(coords).all():
            raise ValueError("At least one parameter value was infinite or NaN")
        log_prob = np.asarray(self.log_prob_fn(coords), dtype=np.float64)
        if np.isnan(log_prob).any():
            raise ValueError("Probability function returned NaN")
        return log_prob, None
