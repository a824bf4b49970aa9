"""Which probe items did GRPO on clean 8-item cohorts move, by whether their gold was among the cohort's
wrong or correct first-step samples? (issue 15, run once on the w3 world's fresh-control ledger)

    python docs/results/world/explorations/collisions.py W3_TAP_HOME W3_RUN_DIR OUT.json
"""
import glob
import json
import sys

import numpy as np
import pandas as pd
import sqlite3
from transformers import AutoTokenizer

home, run, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
items = pd.read_parquet(glob.glob(home + "/worlds/*/items.parquet")[0])
probe = items[items.split == "probe"].reset_index(drop=True)
tok = AutoTokenizer.from_pretrained(glob.glob(home + "/policies/*")[0])
db = sqlite3.connect(run + "/labels.sqlite")
labels = pd.read_sql("select cohort_id, seed, config_hash from labels", db)
h = labels[labels.cohort_id.str.contains("cohort8")].config_hash.value_counts().index[0]  # the 3-seed default-settings runs
rec = pd.read_sql(f"select * from probe_records where config_hash='{h}' or step=0", db)
rec["p"] = np.exp(rec.gold_logprob_sum)
base = rec[rec.step == 0].drop_duplicates("item").set_index("item").p
first = pd.read_sql(f"select * from first_steps where config_hash='{h}'", db)
first["text"] = [tok.decode(json.loads(t) if isinstance(t, str) else t, skip_special_tokens=True).strip() for t in first.token_ids]
rows = []
for (cid, seed), g in first.groupby(["cohort_id", "seed"]):
    if "cohort8" not in cid:
        continue
    subject = cid.split("-")[0]
    wrong, right = set(g[g.reward == 0].text), set(g[g.reward == 1].text)
    final = rec[(rec.cohort_id == cid) & (rec.seed == seed) & (rec.step == 12)]
    for r in final.itertuples():
        if probe.subject[r.item] == subject:
            gold = str(probe.gold[r.item])
            rows.append({"subject": subject, "gold_among_wrong_samples": gold in wrong, "gold_among_correct_samples": gold in right,
                         "delta_expected_accuracy": r.p - base[r.item]})
table = pd.DataFrame(rows).groupby(["subject", "gold_among_wrong_samples", "gold_among_correct_samples"]).delta_expected_accuracy
summary = table.agg(["mean", "count"]).reset_index()
json.dump({"label_config_hash": h, "item_runs": summary.to_dict(orient="records")}, open(out_path, "w"), indent=2)
print(summary.round(4).to_string())
