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
    """emcee's StretchMove with its acceptance step vectorised.

    emcee draws one uniform per walker in a Python loop; ``rand(n)`` returns
    the same numbers in the same order, so the chain is identical to that of
    emcee's own StretchMove from the same random state (see the tests).
    """

    def propose(self, model: Any, state: Any) -> tuple[Any, np.ndarray]:
        nwalkers, ndim = state.coords.shape
        if nwalkers < 2 * ndim and not self.live_dangerously:
            raise RuntimeError(
                "It is unadvisable to use a red-blue move with fewer walkers "
                "than twice the number of dimensions."
            )
        self.setup(state.coords)
        accepted = np.zeros(nwalkers, dtype=bool)
        all_inds = np.arange(nwalkers)
        inds = all_inds % self.nsplits
        if self.randomize_split:
            model.random.shuffle(inds)
        for split in range(self.nsplits):
            subset = inds == split
            sets = [state.coords[inds == j] for j in range(self.nsplits)]
            q, factors = self.get_proposal(
                sets[split], sets[:split] + sets[split + 1 :], model.random
            )
            new_log_probs, new_blobs = model.compute_log_prob_fn(q)
            walkers = all_inds[subset]
            lnpdiff = factors + new_log_probs - state.log_prob[walkers]
            accepted[walkers] = lnpdiff > np.log(model.random.rand(len(walkers)))
            new_state = emcee.State(q, log_prob=new_log_probs, blobs=new_blobs)
            state = self.update(state, new_state, accepted, subset)
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
