"""Mixture SFT of the TAP tiny model on reasoning-gym tasks; greedy probe eval every EVAL steps.
usage: python train.py --tasks a,b,c --weights 1,1,2 --steps 1500 [--stop-in-band] [--out run.json]
"""
import argparse, json, pickle, random, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, torch
import reasoning_gym
from tap.config import load_config
from tap.world.tiny_policy import build_tokenizer, build_model, _batch, _lr_factor
from tap.policy.hf import HFPolicy
from tasks import TASKS

ap = argparse.ArgumentParser()
ap.add_argument("--tasks", required=True)
ap.add_argument("--weights", default=None)
ap.add_argument("--steps", type=int, default=1500)
ap.add_argument("--eval-every", type=int, default=50)
ap.add_argument("--batch", type=int, default=128)
ap.add_argument("--lr", type=float, default=3e-3)
ap.add_argument("--warmup", type=int, default=50)
ap.add_argument("--final", type=float, default=0.1)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--band", default="0.2,0.8")
ap.add_argument("--min-mean", type=float, default=0.3)
ap.add_argument("--stop-in-band", action="store_true")
ap.add_argument("--max-new", type=int, default=12)
ap.add_argument("--out", default=None)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()
torch.set_num_threads(a.threads)
names = a.tasks.split(",")
w = np.array([float(x) for x in a.weights.split(",")] if a.weights else [1.0] * len(names)); w /= w.sum()
lo, hi = map(float, a.band.split(","))

data = {n: pickle.load(open(f"data/{n}.pkl", "rb")) for n in names}
probe = [(n, p, ans, li, e) for n in names for (p, ans, li, e) in data[n]["probe"]]
scorers = {(n, li): reasoning_gym.create_dataset(n, size=1, seed=0, **TASKS[n][1][li]) for n in names for li in range(len(TASKS[n][1]))}
corpus = {n: [(p, ans) for p, ans, li in data[n]["corpus"]] for n in names}
probe_q = {n: {p for (m, p, *_ ) in probe if m == n} for n in names}
for n in names:  # double-check: no probe prompt in training (shortened form also excluded)
    corpus[n] = [x for x in corpus[n] if x[0] not in probe_q[n]]

config = load_config(None, ["model.max_position_embeddings=128"])
tok = build_tokenizer(); model = build_model(config, tok)
torch.manual_seed(a.seed + 1); rng = random.Random(a.seed)
optim = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01, betas=(0.9, 0.98))
sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: _lr_factor(s, a.warmup, a.steps, a.final))
policy = HFPolicy(model, tok, batch_size=512)

def evaluate():
    texts = policy.greedy([x[1] for x in probe], max_new_tokens=a.max_new)
    res = {}
    for (n, p, ans, li, e), t in zip(probe, texts):
        res.setdefault(n, {}).setdefault(li, []).append(float(scorers[(n, li)].score_answer(t.strip(), e)))
    return {n: {"acc": float(np.mean([s for l in d.values() for s in l])), "lv": [float(np.mean(d[k])) for k in sorted(d)]} for n, d in res.items()}

hist = []; t0 = time.time(); ttrain = 0.0; first_in_band = None
for step in range(1, a.steps + 1):
    ts = time.time()
    model.train()
    counts = np.random.default_rng(a.seed * 100003 + step).multinomial(a.batch, w)
    pairs = [rng.choice(corpus[n]) for n, c in zip(names, counts) for _ in range(c)]
    ids, mask, labels = _batch(tok, pairs)
    loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    optim.zero_grad(set_to_none=True); loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optim.step(); sched.step(); ttrain += time.time() - ts
    if step % a.eval_every == 0 or step == a.steps:
        r = evaluate()
        accs = [r[n]["acc"] for n in names]
        inb = all(lo <= x <= hi for x in accs) and np.mean(accs) >= a.min_mean
        rec = {"step": step, "loss": loss.item(), "wall": time.time() - t0, "train_s": ttrain, "mean": float(np.mean(accs)), "in_band": bool(inb), **r}
        hist.append(rec)
        if inb and first_in_band is None: first_in_band = step
        print(f"{step:5d} loss {loss.item():.3f} wall {rec['wall']:6.1f}s mean {rec['mean']:.2f} {'IN' if inb else '  '} | " +
              " ".join(f"{n[:8]}={r[n]['acc']:.2f}({'/'.join(f'{v:.2f}' for v in r[n]['lv'])})" for n in names), flush=True)
        if inb and a.stop_in_band: break
print("first_in_band", first_in_band, "sec/step(train)", ttrain / step, "total wall", time.time() - t0)
if a.out:
    json.dump(dict(args=vars(a), weights=w.tolist(), history=hist, first_in_band=first_in_band, sec_per_step=ttrain / step), open(a.out, "w"), indent=1)
