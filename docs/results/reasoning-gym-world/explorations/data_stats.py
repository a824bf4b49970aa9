import pickle
from tasks import TASKS
import sys
for n in sys.argv[1:]:
    d = pickle.load(open(f"data/{n}.pkl", "rb")); s = d["stats"]
    print(n, "gen s/1000=%.3f corpus=%d max_prompt=%d max_ans=%d" % (s["sec_per_1000"], s["n"], s["max_prompt"], s["max_ans"]))
    for li, k in enumerate(TASKS[n][1]):
        ex = [x for x in d["probe"] if x[2] == li][:2]
        print("  L%d %s  e.g. %s" % (li, k, "; ".join("%r -> %r" % (p, a) for p, a, *_ in ex)))
