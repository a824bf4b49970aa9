"""The gradient family [G], GradAlign / LESS style: the baseline TAP must beat on cost.

With θ all parameters (or only the LM-head matrix), A the GRPO advantage (scaled as the label runs
scale it), w_t = A_t / the loss's normalizer (dapo: the cohort's N completion tokens;
tap.advantages.Objective), log-probs at the label temperature and ratio = 1 (the first step):
    g_c = ∇θ Σ_t w_t log π(y_t)                       ascent direction of the GRPO objective
    g_p = −∇θ mean_items mean_tokens NLL(gold)          descent direction of the probe NLL
    g_pass = ∇θ mean_items exp(Σ_s log π(gold_s))       ascent direction of the probe's expected accuracy
                                                        (canonical-answer items: the gold string's probability)
    grad_dot = ⟨g_c, g_p⟩   (first-order probe-NLL reduction per unit step along g_c)
    grad_cos = grad_dot / (|g_c| |g_p|)
    grad_adam = Σ (g_c / (|g_c| + ε)) ⊙ g_p   (AdamW's first update is ≈ lr·sign(g_c): the first-order
                                              probe change of one Adam step, per unit lr)
grad_pass_* are the same three scores with g_pass in place of g_p: the first-order change of the probe's
expected accuracy (what lift_pass measures) rather than of its gold NLL; the NLL direction weights every item
alike, the expected-accuracy one weights item i by its gold's probability exp(Σ log π), so items the policy
is about to get right count most. Positive = predicted lift. Projection: `k` > 0 replaces dot and cos by those
of seeded CountSketch projections (each coordinate hashed to one of k buckets with a random sign, applied parameter
tensor by parameter tensor, so the full projection matrix never exists); grad_adam always uses the
full vectors. `head_*` restricts θ to the output matrix; with tied embeddings that matrix is also the
input embedding, and its gradient here includes both paths (column `head_tied` says so).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tap.advantages import Objective

ADAM_EPS = 1e-8

GRADIENT_FEATURES = {
    "grad_dot": "⟨g_c, g_p⟩ over all parameters: first-order probe-NLL reduction of the cohort's GRPO step (backward "
                "pass).",
    "grad_cos": "cosine of g_c and g_p over all parameters (exact for small models, else a k-dim CountSketch).",
    "grad_adam": "Σ (g_c / (|g_c| + ε)) ⊙ g_p: first-order probe change of one Adam step (full vectors).",
    "grad_pass_dot": "⟨g_c, g_pass⟩ over all parameters: first-order change of the probe's expected accuracy "
                     "(gold-string probability) of the cohort's GRPO step (backward pass).",
    "grad_pass_cos": "cosine of g_c and g_pass over all parameters (exact for small models, else a k-dim CountSketch).",
    "grad_pass_adam": "Σ (g_c / (|g_c| + ε)) ⊙ g_pass: first-order expected-accuracy change of one Adam step.",
    "head_grad_dot": "grad_dot restricted to the LM-head matrix (tied embeddings: both paths).",
    "head_grad_cos": "grad_cos restricted to the LM-head matrix.",
    "head_grad_adam": "grad_adam restricted to the LM-head matrix.",
}


def _grads(model, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    values = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    return {n: (g if g is not None else torch.zeros_like(p)).detach() for (n, p), g in zip(params.items(), values)}


def cohort_gradient(
    policy, rows: Sequence[dict], num_generations: int, objective: Objective | None = None
) -> dict[str, torch.Tensor]:
    """g_c per parameter tensor for one cohort's rollouts (prompt, token_ids, reward; G per prompt),
    weighted as the label runs' GRPO loss (`objective`: advantage scaling, loss type, temperature)."""
    objective = objective or Objective()
    prompts = policy.encode_prompts([r["prompt"] for r in rows])
    conts = [list(r["token_ids"]) for r in rows]
    weights = objective.token_weights([r["reward"] for r in rows], num_generations, [len(c) for c in conts])
    logps = policy.continuation_logps(prompts, conts, temperature=objective.temperature)
    objective_value = sum(
        (lp * torch.as_tensor(w, dtype=lp.dtype, device=lp.device)).sum() for lp, w in zip(logps, weights)
    )
    return _grads(policy.model, objective_value)


def probe_gradient(policy, prompts: Sequence[str], golds: Sequence[str]) -> dict[str, torch.Tensor]:
    """g_p = −∇ of the probe's mean (over items) per-token gold NLL."""
    conts = policy.encode_answers(golds)
    mean_logp = sum(lp.mean() for lp in policy.continuation_logps(policy.encode_prompts(prompts), conts))
    return _grads(policy.model, mean_logp / len(conts))


def probe_pass_gradient(policy, prompts: Sequence[str], golds: Sequence[str]) -> dict[str, torch.Tensor]:
    """g_pass = ∇ of the probe's mean over items of exp(Σ log π(gold + end token)): its expected accuracy
    (exact for canonical-answer items; for an item whose verifier accepts other strings, the gold string's share)."""
    conts = policy.encode_answers(golds)
    logps = policy.continuation_logps(policy.encode_prompts(prompts), conts)
    return _grads(policy.model, sum(lp.sum().exp() for lp in logps) / len(conts))


class CountSketch:
    """A seeded CountSketch of concatenated gradients into k buckets: each coordinate of parameter
    tensor `name` goes to one bucket with a random sign. The tables are drawn once per tensor (on
    the CPU, so every device gets the same sketch) and reused for every gradient sketched."""

    def __init__(self, k: int, seed: int):
        self.k, self.seed = k, seed
        self._tables: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}

    def _table(self, index: int, name: str, numel: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        key = (index, name)
        if key not in self._tables:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
            buckets = torch.randint(0, self.k, (numel,), generator=gen)
            signs = torch.randint(0, 2, (numel,), generator=gen).float() * 2 - 1
            self._tables[key] = (buckets.to(device), signs.to(device))
        return self._tables[key]

    def __call__(self, grads: dict[str, torch.Tensor]) -> torch.Tensor:
        out = None
        for index, name in enumerate(sorted(grads)):
            flat = grads[name].reshape(-1).float()
            out = torch.zeros(self.k, device=flat.device) if out is None else out
            buckets, signs = self._table(index, name, flat.numel(), flat.device)
            out.index_add_(0, buckets, flat * signs)
        return out.cpu() if out is not None else torch.zeros(self.k)


def count_sketch(grads: dict[str, torch.Tensor], k: int, seed: int) -> torch.Tensor:
    """Seeded CountSketch of the concatenated gradient: k buckets, a random sign per coordinate."""
    return CountSketch(k, seed)(grads)


def scores(
    g_c: dict[str, torch.Tensor],
    g_p: dict[str, torch.Tensor],
    names: Sequence[str],
    *,
    k: int = 0,
    seed: int = 0,
    prefix: str = "grad",
    sketch: CountSketch | None = None,
    sketched_probe: torch.Tensor | None = None,
) -> dict:
    """dot, cos (exact, or on k-dim CountSketches) and the Adam-aware score over `names`. A caller
    scoring many cohorts passes one `sketch` and the probe's sketch once (`sketched_probe`)."""
    sub_c, sub_p = {n: g_c[n] for n in names}, {n: g_p[n] for n in names}
    if k > 0:
        sketch = sketch or CountSketch(k, seed)
        vc = sketch(sub_c)
        vp = sketched_probe if sketched_probe is not None else sketch(sub_p)
        dot, norms = float(vc @ vp), float(vc.norm() * vp.norm())
    else:
        dot = float(sum((sub_c[n] * sub_p[n]).sum() for n in names))
        norms = (
            float(sum((sub_c[n] ** 2).sum() for n in names)) ** 0.5
            * float(sum((sub_p[n] ** 2).sum() for n in names)) ** 0.5
        )
    adam = float(sum((sub_c[n] / (sub_c[n].abs() + ADAM_EPS) * sub_p[n]).sum() for n in names))
    return {f"{prefix}_dot": dot, f"{prefix}_cos": dot / norms if norms else 0.0, f"{prefix}_adam": adam}


def head_parameter_names(model) -> tuple[list[str], bool]:
    """The LM-head matrix's parameter name(s), and whether it is tied to the input embedding."""
    head = model.get_output_embeddings().weight
    names = [n for n, p in model.named_parameters() if p is head]
    tied = model.get_input_embeddings().weight is head
    return names, tied
