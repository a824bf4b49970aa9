import json, sys
r = json.load(open(sys.argv[1])); h = r["history"]; names = r["args"]["tasks"].split(",")
print("weights", dict(zip(names, [round(x, 3) for x in r["weights"]])), "sec/step(train)", round(r["sec_per_step"], 3), "first_in_band", r["first_in_band"])
print("step  mean  " + " ".join(f"{n[:9]:>9}" for n in names))
for x in h:
    if x["step"] % 100 == 0 or x["step"] == r["first_in_band"] or x["in_band"]:
        print(f"{x['step']:4d}  {x['mean']:.2f} {'IN' if x['in_band'] else '  '} " + " ".join(f"{x[n]['acc']:9.2f}" for n in names))
fb = [x for x in h if x["in_band"]]
if fb:
    x = fb[0]; print("per-level at step", x["step"])
    for n in names: print(f"  {n:16s} {x[n]['acc']:.2f}  levels {['%.2f' % v for v in x[n]['lv']]}")
