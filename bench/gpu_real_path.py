"""The real path on a GPU: a Qwen3-1.7B-sized model built from its config, through TAP's own stages.

Nothing is downloaded: the model is Qwen3-1.7B's architecture with random weights (bf16) and a
151,936-token vocabulary (the tiny world's characters plus filler tokens, with a ChatML chat
template), saved as a model folder; the data is a GSM8K-schema file written here. Random weights
almost never emit the end token, so every completion runs to its budget: the token rates are for
full-length completions and the seconds per label run are an upper bound for this budget.

Stages timed, each through TAP's API with configs/qwen3-1.7b-math.toml and overrides:
  plan (the dry run) -> dataset -> rollouts -> features (R+F) -> one label run (full fine-tuning,
  bf16, gradient checkpointing) -> one label run with LoRA (r = 32)

    python bench/gpu_real_path.py --out DIR            # on a GPU machine
    python bench/gpu_real_path.py --out DIR --tiny     # the same stages with a tiny model (CPU rehearsal)

Writes DIR/gpu_real_path.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

QWEN3_17B = dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128, max_position_embeddings=40960, tie_word_embeddings=True,
                 rope_theta=1_000_000.0, vocab_size=151_936)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1, head_dim=32, max_position_embeddings=2048, tie_word_embeddings=True, vocab_size=8192)
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def build_tokenizer(vocab_size: int):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from tap.world.tiny_policy import CHARS, EOS, PAD, UNK

    special = [PAD, EOS, UNK, "<|im_start|>", "<|im_end|>"]
    tokens = special + CHARS
    tokens += [f"<x{i}>" for i in range(vocab_size - len(tokens))]
    core = Tokenizer(models.WordLevel(vocab={t: i for i, t in enumerate(tokens)}, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"<\|im_(?:start|end)\|>|[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token=UNK,
                                        padding_side="left", additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    tokenizer.chat_template = CHATML
    return tokenizer


def build_model_folder(target: Path, dims: dict, device: str) -> int:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = build_tokenizer(dims["vocab_size"])
    config = Qwen3Config(
        **dims, bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen3ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    parameters = sum(p.numel() for p in model.parameters())
    del model
    return parameters


def write_gsm8k(path: Path, n: int) -> None:
    import random

    rng = random.Random(0)
    rows = []
    for _ in range(n):
        a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 9)
        rows.append(
            {
                "question": f"Tom has {a} apples and buys {c} bags of {b} apples each. How many apples does he have "
                            "now?",
                "answer": f"He buys {c}*{b}=<<{c}*{b}={c * b}>>{c * b} "
                          f"apples.\n{a}+{c * b}=<<{a}+{c * b}={a + c * b}>>{a + c * b}\n#### {a + c * b}",
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--tiny", action="store_true", help="a tiny model instead of Qwen3-1.7B's dimensions (CPU rehearsal)"
    )
    parser.add_argument("--tokens", type=int, default=256, help="completion budget (data.max_new_tokens)")
    parser.add_argument("--steps", type=int, default=4, help="GRPO steps per label run")
    parser.add_argument(
        "--rollout-cohorts", type=int, default=4, help="cohorts of 16 rolled out (x 16 prompts x G = 8)"
    )
    args = parser.parse_args()

    import torch

    from tap import api
    from tap.config import load_config
    from tap.labels.ledger import Ledger
    from tap.plan import make_plan
    from tap.store import RunPaths

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    record: dict = {"device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__}
    timings: dict = {}

    def timed(name, fn):
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = fn()
        if cuda:
            torch.cuda.synchronize()
        timings[name] = {"seconds": time.perf_counter() - start,
                         "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None}
        print(f"{name}: {timings[name]['seconds']:.1f} s", flush=True)
        return result

    model_dir = out / "model"
    record["parameters"] = timed(
        "build model", lambda: build_model_folder(model_dir, TINY if args.tiny else QWEN3_17B, device)
    )
    write_gsm8k(out / "gsm8k.jsonl", 16 * 8 + 64)
    overrides = [f'policy.model="{model_dir}"', f'data.source="{out / "gsm8k.jsonl"}"', "data.preset=gsm8k",
                 "data.probe_size=64", f"data.max_new_tokens={args.tokens}", "policy.system_prompt=\"\"",
                 f"label.steps={args.steps}", "label.seeds=1", "label.verifier=math"]
    if not cuda:
        overrides += [
            "policy.dtype=float32",
            "label.bf16=false",
            "label.gradient_checkpointing=false",
            "rollout.batch_size=64",
        ]
    config = load_config("configs/qwen3-1.7b-math.toml", overrides)
    plan = timed("plan (dry run)", lambda: make_plan(config))
    record["plan"] = dict(plan.rows())
    run = out / "run"
    timed("dataset", lambda: api.dataset(config, run))
    paths = RunPaths(run)
    table = timed(
        "rollouts", lambda: api.rollout(paths.cohorts, paths.rollouts, config=config, max_cohorts=args.rollout_cohorts)
    )
    generated = int(table.n_tokens.sum())
    record["rollouts"] = {"completions": len(table), "generated_tokens": generated,
                          "tokens_per_second": generated / timings["rollouts"]["seconds"],
                          "finish_reasons": table.finish_reason.value_counts().to_dict()}
    timed("features R+F", lambda: api.features(paths.rollouts, paths.features, families={"R", "F"}, config=config))

    def label(name: str, cfg) -> dict:
        folder = out / name
        folder.mkdir(exist_ok=True)
        timed(name, lambda: api.label(folder, config=cfg, cohorts=paths.cohorts, max_cohorts=1, workers=1))
        rows = Ledger(RunPaths(folder).labels).table()
        row = rows.iloc[0].to_dict()
        keep = (
            "status",
            "error",
            "wall_seconds",
            "generated_tokens",
            "trained_tokens",
            "scored_tokens",
            "flops",
            "lift_nll",
        )
        return {k: (float(v) if isinstance(v, (int, float)) else v) for k, v in row.items() if k in keep}

    # the items.parquet probe of the run folder is the held-out probe: copy it beside each label run
    import shutil

    for name in ("label_full", "label_lora"):
        (out / name).mkdir(exist_ok=True)
        shutil.copyfile(paths.items, out / name / "items.parquet")
    record["label_full"] = label("label_full", config)
    lora = load_config(
        "configs/qwen3-1.7b-math.toml",
        overrides + ["label.lora_r=32", "label.lora_alpha=64", "label.learning_rate=1e-5"],
    )
    record["label_lora"] = label("label_lora", lora)
    for key in ("label_full", "label_lora"):
        row = record[key]
        if row.get("status") == "ok":
            row["train_tflops_effective"] = row["flops"] / row["wall_seconds"] / 1e12
    record["timings"] = timings
    (out / "gpu_real_path.json").write_text(json.dumps(record, indent=2, default=str))
    print(json.dumps(record, indent=2, default=str))


if __name__ == "__main__":
    main()
