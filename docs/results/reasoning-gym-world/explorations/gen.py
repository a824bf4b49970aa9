"""Generate probe (16/level) and corpus (N/level) per task; cache to data/<task>.pkl."""
import sys, time, pickle, os, warnings
warnings.filterwarnings("ignore")
import reasoning_gym
from tasks import TASKS
N = int(os.environ.get("N", 4000))
PROBE_PER_LEVEL = 16
# library items use random.Random(seed + idx): seeds 1000/1001/1002 give shifted copies of one stream, so
# with OLD_SEEDS=1 (the scheme used for the reported runs) a few probe prompts repeat across levels.
OLD = os.environ.get("OLD_SEEDS", "0") == "1"
def probe_seed(li): return 1000 + li if OLD else 1_000_000 * (li + 1)
def corpus_seed(li): return 5000 + 97 * li if OLD else 50_000_000 + 1_000_000 * li
os.makedirs("data", exist_ok=True)

def ok(p, a):
    return p is not None and p.isascii() and a.isascii() and len(a) <= 10 and "\n" not in p

def build(name):
    sh, levels = TASKS[name]
    probe, corpus, stats = [], [], {}
    t0 = time.time(); ngen = 0; dropped = 0
    for li, knobs in enumerate(levels):
        ds = reasoning_gym.create_dataset(name, size=200, seed=probe_seed(li), **knobs)
        seen = set(); items = []
        for i in range(200):
            e = ds[i]; ngen += 1
            p, a = sh(e["question"]), str(e["answer"])
            if not ok(p, a) or e["question"] in seen: continue
            seen.add(e["question"]); items.append((p, a, li, e))
            if len(items) == PROBE_PER_LEVEL: break
        probe += items
        pq = {e["question"] for *_, e in items}
        ds2 = reasoning_gym.create_dataset(name, size=N, seed=corpus_seed(li), **knobs)
        for i in range(N):
            e = ds2[i]; ngen += 1
            p, a = sh(e["question"]), str(e["answer"])
            if e["question"] in pq or not ok(p, a): dropped += 1; continue
            corpus.append((p, a, li))
    dt = time.time() - t0
    stats = dict(sec_per_1000=1000 * dt / ngen, dropped=dropped, n=len(corpus),
                 max_prompt=max(len(x[0]) for x in probe + corpus), max_ans=max(len(x[1]) for x in probe + corpus))
    pickle.dump(dict(probe=probe, corpus=corpus, stats=stats), open(f"data/{name}.pkl", "wb"))
    return stats

if __name__ == "__main__":
    for name in (sys.argv[1:] or TASKS):
        st = build(name)
        print(name, st, flush=True)
        d = pickle.load(open(f"data/{name}.pkl", "rb"))
        for li in range(3):
            ex = [x for x in d["probe"] if x[2] == li][0]
            print("   L%d %r -> %r" % (li, ex[0], ex[1]))
