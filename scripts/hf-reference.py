#!/usr/bin/env python3
"""Builds tiny Hugging Face checkpoints and transformers' own numbers for them.

The TypeScript checkpoint loaders (GPT-2, Llama, Mistral, Qwen2) are tested against these: each fixture folder is
what `save_pretrained` writes (config.json, model.safetensors or shards + index, tokenizer files) plus
`reference.safetensors` (input ids, logits, hidden states, loss, gradients) and `reference.json` (loss, gradient
norms, tokenizer cases). Run through scripts/hf-reference.sh, which owns the venv and the up-to-date check.

Everything is deterministic: a fixed corpus (the project's own e-SNLI rows), fixed texts and a seed per fixture.
Usage: hf-reference.py OUT_DIR
"""
import copy
import gzip
import json
import os
import shutil
import sys
from pathlib import Path

import safetensors
import tokenizers
import torch
import transformers
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "data" / "esnli" / "train.jsonl.gz"
CORPUS_ROWS = 2000
VOCAB_SIZE = 2048
BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
SPECIALS = [BOS, EOS, PAD, UNK]  # ids 0, 1, 2, 3 (trainer assigns specials first, in order)

# The forward/backward batch: three rows truncated to real lengths 12, 9 and 5, right-padded to 12 with <pad>.
SEQ_LEN = 12
BATCH = [
    ("Two women are embracing while holding to go packages after lunch.", 12),
    ("A man in a blue shirt is playing the guitar on a stage.", 9),
    ("The dog runs through the grass with a ball.", 5),
]

# Tokenizer cases: unicode (accents, emoji, CJK), leading/trailing spaces, newlines, digits, a special token.
TEXTS = [
    "Two women are embracing while holding to go packages.",
    "  leading and trailing spaces  ",
    "line one\nline two\n\nline four",
    "Numbers: 0 12 345 6789 and 3.14159",
    "Café déjà vu, naïve résumé",
    "Emoji 🙂 and a rocket 🚀!",
    "中文字符 and 日本語のテキスト",
    "tabs\tand </s> a special token",
]

# Chat template for the Llama fixture (a plain role-tagged format; the point is that the file carries one).
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


# ---------------------------------------------------------------------------------------------------- tokenizers


def corpus_texts():
    """Premise, hypothesis and explanation texts of the first CORPUS_ROWS e-SNLI rows."""
    texts = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= CORPUS_ROWS:
                break
            row = json.loads(line)
            texts.extend(turn["text"] for turn in row["context"])
            texts.append(row["response"])
            texts.extend(row["explanations"])
    # A few non-ASCII lines so that common multi-byte sequences get merges too (byte-level BPE covers the rest).
    texts.extend(TEXTS * 2)
    return texts


def train_bpe():
    """A GPT-2 style byte-level BPE: every byte is in the alphabet, so no text ever needs <unk>."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_texts(), trainer=trainer)
    assert [tok.token_to_id(t) for t in SPECIALS] == [0, 1, 2, 3]
    return tok


def wrap(tok, with_bos):
    """The transformers tokenizer. GPT-2 style adds nothing for add_special_tokens; Llama style prepends <s>."""
    tok = Tokenizer.from_str(tok.to_str())  # a copy, so the two styles do not share a post-processor
    if with_bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tok.token_to_id(BOS))]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK, model_max_length=128
    )


# ---------------------------------------------------------------------------------------------------- weights


def randomize(model, seed):
    """Overwrites every parameter so that nothing sits at a trivial init (zero biases, unit norms, ...).

    Matrices and biases ~ N(0, 0.1); norm weights = 1 + N(0, 0.1), norm biases ~ N(0, 0.1). Tied parameters are one
    tensor, which named_parameters lists once, so they stay tied.
    """
    gen = torch.Generator().manual_seed(seed)
    norm_weights = set()
    for mod_name, mod in model.named_modules():
        if isinstance(mod, torch.nn.LayerNorm) or type(mod).__name__.endswith("RMSNorm"):
            norm_weights.add(f"{mod_name}.weight")
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32) * 0.1
            p.copy_(noise + 1.0 if name in norm_weights else noise)
    model.eval()
    return model


def check_tied(model, tied):
    head, emb = model.get_output_embeddings().weight, model.get_input_embeddings().weight
    assert (head is emb) == tied, f"expected tied={tied}, got lm_head is embed: {head is emb}"


# ---------------------------------------------------------------------------------------------------- fixtures


def gpt2_model(vocab):
    config = GPT2Config(
        vocab_size=vocab,
        n_layer=2,
        n_embd=32,
        n_head=4,
        n_positions=128,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=2,
    )
    model = randomize(GPT2LMHeadModel(config), seed=1)
    check_tied(model, True)
    return model


def llama_config(vocab, **overrides):
    args = dict(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
        rms_norm_eps=1e-6,
        max_position_embeddings=128,
        # transformers 5 takes RoPE settings as rope_parameters (rope_theta/rope_scaling are the 4.x spelling).
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=False,
        attention_dropout=0.0,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=2,
    )
    args.update(overrides)
    return args


def llama_gqa_model(vocab):
    model = randomize(LlamaForCausalLM(LlamaConfig(**llama_config(vocab))), seed=2)
    check_tied(model, False)
    return model


def llama_linear_rope_model(vocab):
    config = LlamaConfig(
        **llama_config(
            vocab,
            num_key_value_heads=4,
            rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0},
            tie_word_embeddings=True,
            attention_bias=True,  # q/k/v/o biases
            mlp_bias=True,  # gate/up/down biases
        )
    )
    model = randomize(LlamaForCausalLM(config), seed=3)
    check_tied(model, True)
    return model


def qwen2_model(vocab):
    # Qwen2 always has q/k/v biases (no o_proj bias) and a sliding-window option that is off by default.
    config = Qwen2Config(
        **llama_config(
            vocab,
            intermediate_size=48,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
            tie_word_embeddings=True,
        )
    )
    model = randomize(Qwen2ForCausalLM(config), seed=4)
    check_tied(model, True)
    return model


def mistral_model(vocab):
    config = MistralConfig(**llama_config(vocab, num_key_value_heads=1, sliding_window=None))
    model = randomize(MistralForCausalLM(config), seed=5)
    check_tied(model, False)
    return model


# ---------------------------------------------------------------------------------------------------- references


def batch(tokenizer):
    """input_ids / attention_mask [3, 12] int32 from BATCH: each row truncated to its real length, right-padded."""
    ids = torch.full((len(BATCH), SEQ_LEN), tokenizer.pad_token_id, dtype=torch.int32)
    mask = torch.zeros((len(BATCH), SEQ_LEN), dtype=torch.int32)
    for row, (text, length) in enumerate(BATCH):
        enc = tokenizer(text, add_special_tokens=True)["input_ids"]
        assert len(enc) >= length, f"text {row} has only {len(enc)} tokens"
        ids[row, :length] = torch.tensor(enc[:length], dtype=torch.int32)
        mask[row, :length] = 1
    return ids, mask


NEXT_TOKEN_TEXT = "A man is walking his dog."


def reference(model, tokenizer, name):
    """The tensors and JSON that describe what transformers computes for this model."""
    ids, mask = batch(tokenizer)
    ids_l, mask_l = ids.long(), mask.long()
    labels = ids_l.masked_fill(mask_l == 0, -100)  # transformers shifts labels itself

    with torch.no_grad():
        out = model(ids_l, attention_mask=mask_l, output_hidden_states=True)
    tensors = {"input_ids": ids, "attention_mask": mask, "logits": out.logits.float().contiguous()}
    for i, h in enumerate(out.hidden_states):  # 0 = embeddings ... n_layers = after the final norm
        tensors[f"hidden.{i}"] = h.float().contiguous()

    # A fresh forward with grad enabled for the loss and gradients.
    model.zero_grad(set_to_none=True)
    loss = model(ids_l, attention_mask=mask_l, labels=labels).loss
    loss.backward()
    tensors["loss"] = loss.detach().reshape(1).float()
    grad_norms = {}
    for pname, p in model.named_parameters():  # tied heads appear once, under the embedding's name
        tensors[f"grad.{pname}"] = p.grad.float().contiguous()
        grad_norms[pname] = p.grad.float().norm().item()

    # What `xft logits --text NEXT_TOKEN_TEXT --json` must print: the ids and the top 20 next-token log-probabilities.
    next_ids = tokenizer(NEXT_TOKEN_TEXT, add_special_tokens=True)["input_ids"]
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([next_ids])).logits[0, -1].float(), -1)
    top = torch.topk(logprobs, 20)

    info = {
        "name": name,
        "model_type": model.config.model_type,
        "architectures": [type(model).__name__],
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "safetensors": safetensors.__version__,
        },
        "attn_implementation": model.config._attn_implementation,
        "seq_lens": [length for _, length in BATCH],
        "batch_texts": [text for text, _ in BATCH],
        "loss": loss.item(),
        "grad_norms": grad_norms,
        "texts": [
            {
                "text": t,
                "ids": tokenizer(t, add_special_tokens=True)["input_ids"],
                "ids_plain": tokenizer(t, add_special_tokens=False)["input_ids"],
            }
            for t in TEXTS
        ],
        "next_token": {"text": NEXT_TOKEN_TEXT, "ids": next_ids, "top": [[i, v] for i, v in zip(top.indices.tolist(), top.values.tolist())]},
        "bos_id": tokenizer.bos_token_id,
        "eos_id": tokenizer.eos_token_id,
        "pad_id": tokenizer.pad_token_id,
        "notes": (
            "Pad positions (attention_mask 0) are right padding: their logits/hidden states are included and "
            "were computed with position_ids = 0..11 for every row (transformers' default), and a pad query "
            "attends only to the real tokens (every pad key is masked, its own position included). hidden.N "
            "(N = n_layers) is after the final norm. loss uses labels = input_ids with pads at -100, shifted "
            "inside transformers."
        ),
    }
    return tensors, info


def write_fixture(out, name, model, tokenizer, save_kwargs=None, tokenizer_kwargs=None, reload_dtype=None):
    """save_pretrained the model and tokenizer, then write the reference of what was saved.

    With reload_dtype the checkpoint is saved in a lower precision and the reference comes from loading it back
    as float32, so it describes the rounded weights the loader will actually read.
    """
    d = out / name
    if d.exists():
        shutil.rmtree(d)
    model.save_pretrained(d, **(save_kwargs or {}))
    tokenizer.save_pretrained(d, **(tokenizer_kwargs or {}))
    if reload_dtype is not None:
        tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
        model = type(model).from_pretrained(d, dtype=reload_dtype, attn_implementation="eager").eval()
        check_tied(model, tied)
        assert all(p.dtype == reload_dtype for p in model.parameters())
    tensors, info = reference(model, tokenizer, name)
    save_file(tensors, str(d / "reference.safetensors"))
    (d / "reference.json").write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"  {name}: loss {info['loss']:.6f}, files {sorted(p.name for p in d.iterdir())}")


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "hf-fixtures")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # also keeps reductions in one order, so reruns give identical bytes
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()  # the "Writing model shards" / "Loading weights" bars

    bpe = train_bpe()
    gpt2_tok, llama_tok = wrap(bpe, with_bos=False), wrap(bpe, with_bos=True)
    vocab = len(llama_tok)
    llama_chat_tok = copy.deepcopy(llama_tok)
    llama_chat_tok.chat_template = CHAT_TEMPLATE

    def eager(model):
        # The plain softmax(QK^T)V path: the reference for the math, not for a fused kernel.
        model.set_attn_implementation("eager")
        return model

    gpt2 = eager(gpt2_model(vocab))
    llama = eager(llama_gqa_model(vocab))

    write_fixture(out, "gpt2", gpt2, gpt2_tok)
    # save_jinja_files=False keeps the template inside tokenizer_config.json (the pre-5.x layout); the bf16
    # fixture below saves the same tokenizer the transformers 5 way, as a separate chat_template.jinja.
    write_fixture(out, "llama-gqa", llama, llama_chat_tok, tokenizer_kwargs={"save_jinja_files": False})
    write_fixture(out, "qwen2", eager(qwen2_model(vocab)), llama_tok)
    write_fixture(out, "mistral", eager(mistral_model(vocab)), llama_tok)
    write_fixture(out, "llama-linear-rope", eager(llama_linear_rope_model(vocab)), llama_tok)
    write_fixture(
        out,
        "llama-bf16-sharded",
        copy.deepcopy(llama).to(torch.bfloat16),
        llama_chat_tok,
        save_kwargs={"max_shard_size": "20KB"},
        reload_dtype=torch.float32,
    )
    write_fixture(out, "gpt2-fp16", copy.deepcopy(gpt2).to(torch.float16), gpt2_tok, reload_dtype=torch.float32)


if __name__ == "__main__":
    main()
